-- title: Summary
-- description: Visitors, visits, page views, views per visit, bounce rate (% of visits with one page view) and average visit duration (seconds), for the range (period "current") and the period of the same length before it ("previous"). Visitors are distinct over the whole range, and include those of a visit begun just before it that went on into it. Bots excluded. Each visit counts once, as of its first page view and on the day it began, with all its page views; filtered to one page, that page's views count.
-- chart: number
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- filters: *
{% if visit_rollup.whole and whole_days %}
WITH per_visit AS (
{% for period, since, until in [(1, 't0', 't1'), (2, 'p0', 't0')] %}
  {{ 'UNION ALL' if not loop.first }}
  SELECT {{ period }} AS period,
         COUNT(*) AS visits,
         {{ as_int('SUM(s.pageviews)') }} AS pageviews,
         {{ as_int('SUM(CASE WHEN s.pageviews = 1 THEN 1 ELSE 0 END)') }} AS bounces,
         {{ as_int('SUM(s.duration)') }} AS duration
  FROM sessions s
  WHERE {{ session_filter('s', since=since, until=until) }}
{% endfor %}
),
per_visitor AS (
{% for period, since, until in [(1, 't0', 't1'), (2, 'p0', 't0')] %}
  {{ 'UNION ALL' if not loop.first }}
{% if whole_days %}
  {#- whole days: each visitor's first day in the range, a count of rows -#}
  SELECT {{ period }} AS period, COUNT(*) AS visitors
  FROM visitor_days d
  WHERE {{ first_day_filter('d', since=since, until=until) }}
{% else %}
  SELECT {{ period }} AS period, COUNT(DISTINCT s.visitor_key) AS visitors
  FROM sessions s
  WHERE {{ overlap_filter('s', since=since, until=until) }}
{% endif %}
{% endfor %}
),
{% else %}
WITH hits AS (
  SELECT v.visitor_id, v.session_id, v.datetime,
         CASE WHEN v.datetime >= :t0 THEN 1 ELSE 2 END AS period
  FROM visits v
  WHERE {{ hit_filter('v', since='p0') }}
),
visit_views AS (
  SELECT period, session_id, COUNT(*) AS views,
         {{ epoch('MAX(datetime)') }} - {{ epoch('MIN(datetime)') }} AS duration
  FROM hits
  GROUP BY period, session_id
),
per_visit AS (
  SELECT period,
         COUNT(*) AS visits,
         {{ as_int('SUM(views)') }} AS pageviews,
         {{ as_int('SUM(CASE WHEN views = 1 THEN 1 ELSE 0 END)') }} AS bounces,
         {{ as_int('SUM(duration)') }} AS duration
  FROM visit_views
  GROUP BY period
),
per_visitor AS (
  SELECT period, COUNT(DISTINCT {{ exact('visitor_id') }}) AS visitors
  FROM hits
  GROUP BY period
),
{% endif %}
periods AS (
  SELECT 1 AS period, 'current' AS name
  UNION ALL
  SELECT 2, 'previous'
)
SELECT p.name AS period,
       COALESCE(u.visitors, 0) AS visitors,
       COALESCE(s.visits, 0) AS visits,
       COALESCE(s.pageviews, 0) AS pageviews,
       {{ ratio('s.pageviews', 's.visits', 2) }} AS views_per_visit,
       {{ percent('s.bounces', 's.visits', 1) }} AS bounce_rate,
       {{ idiv('2 * s.duration + s.visits', '2 * NULLIF(s.visits, 0)') }} AS visit_duration
FROM periods p
LEFT JOIN per_visit s ON s.period = p.period
LEFT JOIN per_visitor u ON u.period = p.period
ORDER BY p.period
