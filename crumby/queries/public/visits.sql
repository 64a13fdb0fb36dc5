-- title: Visits per day
-- description: Users (distinct visitors) and views (page views) for each day of the range, as the original Crumby reported them. Bots excluded. Each visit counts once, as of its first page view and on the day it began, with all its page views; filtered to one page, that page's views count. Users are distinct within each day.
-- chart: line
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- filters: *
{% set r = visit_figures() %}
SELECT {{ day('c.datetime') }} AS date,
       COALESCE(n.users, 0) AS users,
       COALESCE(n.views, 0) AS views
FROM calendar c
LEFT JOIN (
  SELECT {{ day('g.day_start') }} AS day_label, g.users, g.views
  FROM (
    SELECT {{ day_key(r.time) }} AS day_start,
           {{ r.visitors }} AS users,
           {{ r.pageviews }} AS views
    FROM {{ r.source }}
    WHERE {{ r.where }}
    GROUP BY {{ day_key(r.time) }}
  ) g
) n ON n.day_label = {{ day('c.datetime') }}
WHERE c.datetime >= :t0 AND c.datetime < :t1
ORDER BY date
