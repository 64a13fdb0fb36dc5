-- title: Visitors over time
-- description: Visitors, visits and page views per day or per hour (UTC), every day (or hour) of the range listed, empty ones with zeros, also before the first load. Bots excluded. Each visit counts once, as of its first page view and on the day it began, with all its page views; filtered to one page, that page's views count. By day, visitors are distinct within the day; by hour, within the hour.
-- chart: line
-- param: granularity choice(day|hour) = day  One row per day or per hour.
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- filters: *
{% set bucket = hour if granularity == 'hour' else day %}
{% set bucket_key = hour_key if granularity == 'hour' else day_key %}
{% set r = visit_rollup if granularity == 'hour' else visit_figures() %}
SELECT p.period,
       COALESCE(n.visitors, 0) AS visitors,
       COALESCE(n.visits, 0) AS visits,
       COALESCE(n.pageviews, 0) AS pageviews
FROM (
  {{ periods(granularity) }}
) p
LEFT JOIN (
  SELECT {{ bucket('g.bucket') }} AS period, g.visitors, g.visits, g.pageviews
  FROM (
    SELECT {{ bucket_key(r.time) }} AS bucket,
           {{ r.visitors }} AS visitors,
           {{ r.visits }} AS visits,
           {{ r.pageviews }} AS pageviews
    FROM {{ r.source }}
    WHERE {{ r.where }}
    GROUP BY {{ bucket_key(r.time) }}
  ) g
) n ON n.period = p.period
ORDER BY p.period
