-- title: Goals
-- description: Each goal (`crumby goal add`) with its visitors (those who reached it), conversions (page views of its pages, or events of its name) and conversion rate: its visitors as a percentage of all the visitors of the range, or of the segment when filtered. Bots excluded.
-- chart: table
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 100  How many goals to return at most.
-- goals: yes
-- filters: *
-- column: goal "Goal"
-- column: visitors "Visitors"
-- column: conversions "Conversions"
-- column: conversion_rate "Conversion rate %"
{% set everyone %}
  SELECT COUNT(DISTINCT v.visitor_key) AS visitors
  FROM visits v
  WHERE {{ hit_filter('v') }}
{% endset %}
SELECT r.goal,
       r.visitors,
       r.conversions,
       {{ percent('r.visitors', 'e.visitors', 1) }} AS conversion_rate
FROM (
{% for goal in goals %}
  {{ 'UNION ALL' if not loop.first }}
  SELECT {{ goal.name }} AS goal,
         {#- COALESCE: ClickHouse 18.16 counts no rows of a Nullable column as NULL, not 0 #}
         COALESCE(COUNT(DISTINCT g.visitor_key), 0) AS visitors,
         COUNT(*) AS conversions
{% if goal.kind == 'event' %}
  FROM events g
  WHERE {{ event_filter('g') }} AND {{ equals('g.name', goal.match) }}
{% else %}
  FROM visits g
  WHERE {{ hit_filter('g') }} AND {{ matches('g.page_path', goal.match) }}
{% endif %}
{% else %}
  SELECT '' AS goal, 0 AS visitors, 0 AS conversions FROM ({{ everyone }}) z WHERE 1 = 0
{% endfor %}
) r
CROSS JOIN ({{ everyone }}) e
ORDER BY r.visitors DESC, r.conversions DESC, r.goal
LIMIT :limit
