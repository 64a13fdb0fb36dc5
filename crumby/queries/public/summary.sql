-- title: Summary
-- description: Visitors, visits, page views, views per visit, bounce rate (% of visits with one page view) and average visit duration (seconds), for the range (period "current") and the period of the same length before it ("previous"). Visitors are distinct over the whole range, and include those of a visit begun just before it that went on into it. Bots excluded. Each visit counts once, as of its first page view and on the day it began, with all its page views; filtered to one page, that page's views count.
-- chart: number
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- filters: *
{% if visit_rollup.whole %}
{#- whole visits (no page filter): the visits begun in each part with all their page views, from
    the aggregated store (the page views named apart inside: ClickHouse would read s.pageviews in
    the bounces as the sum's alias) -#}
{% set per_visit %}
  SELECT t.part, t.visits, t.views AS pageviews, t.bounces, t.duration
  FROM (
{% for part, since, until in [(1, 't0', 't1'), (2, 'p0', 't0')] %}
  {{ 'UNION ALL' if not loop.first }}
  SELECT {{ part }} AS part,
         COUNT(*) AS visits,
         {{ as_int('SUM(s.pageviews)') }} AS views,
         {{ as_int('SUM(CASE WHEN s.pageviews = 1 THEN 1 ELSE 0 END)') }} AS bounces,
         {{ as_int('SUM(s.duration)') }} AS duration
  FROM sessions s
  WHERE {{ session_filter('s', since=since, until=until) }}
{% endfor %}
  ) t
{% endset %}
{#- and the visitors of every visit under way in each part: over whole days unfiltered, each
    visitor's first day in it (a count of rows); else the visits that overlap it -#}
{% set per_visitor %}
{% for part, since, until in [(1, 't0', 't1'), (2, 'p0', 't0')] %}
  {{ 'UNION ALL' if not loop.first }}
{% if whole_days %}
  SELECT {{ part }} AS part, COUNT(*) AS visitors
  FROM visitor_days d
  WHERE {{ first_day_filter('d', since=since, until=until) }}
{% else %}
  SELECT {{ part }} AS part, COUNT(DISTINCT s.visitor_key) AS visitors
  FROM sessions s
  WHERE {{ overlap_filter('s', since=since, until=until) }}
{% endif %}
{% endfor %}
{% endset %}
{% else %}
{% set hits %}
  SELECT v.visitor_key, v.visit_key, v.datetime,
         CASE WHEN v.datetime >= :t0 THEN 1 ELSE 2 END AS part
  FROM visits v
  WHERE {{ hit_filter('v', since='p0') }}
{% endset %}
{% set per_visit %}
  SELECT w.part,
         COUNT(*) AS visits,
         {{ as_int('SUM(w.views)') }} AS pageviews,
         {{ as_int('SUM(CASE WHEN w.views = 1 THEN 1 ELSE 0 END)') }} AS bounces,
         {{ as_int('SUM(w.duration)') }} AS duration
  FROM (
    SELECT h.part, h.visit_key, COUNT(*) AS views,
           {{ epoch('MAX(h.datetime)') }} - {{ epoch('MIN(h.datetime)') }} AS duration
    FROM ({{ hits }}) h
    GROUP BY h.part, h.visit_key
  ) w
  GROUP BY w.part
{% endset %}
{% set per_visitor %}
  SELECT h.part, COUNT(DISTINCT h.visitor_key) AS visitors
  FROM ({{ hits }}) h
  GROUP BY h.part
{% endset %}
{% endif %}
{#- one join per SELECT, nested: the form every store reads, old ClickHouse releases too -#}
SELECT x.name AS period,
       COALESCE(u.visitors, 0) AS visitors,
       COALESCE(x.visits, 0) AS visits,
       COALESCE(x.pageviews, 0) AS pageviews,
       {{ ratio('x.pageviews', 'x.visits', 2) }} AS views_per_visit,
       {{ percent('x.bounces', 'x.visits', 1) }} AS bounce_rate,
       {{ idiv('2 * x.duration + x.visits', '2 * NULLIF(x.visits, 0)') }} AS visit_duration
FROM (
  SELECT p.part, p.name, s.visits, s.pageviews, s.bounces, s.duration
  FROM (SELECT 1 AS part, 'current' AS name UNION ALL SELECT 2, 'previous') p
  LEFT JOIN ({{ per_visit }}) s ON s.part = p.part
) x
LEFT JOIN ({{ per_visitor }}) u ON u.part = x.part
ORDER BY x.part
