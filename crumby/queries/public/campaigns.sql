-- title: Campaigns
-- description: Visits by UTM campaign, source and medium; visits without UTM tags are left out. A visit counts once, by its first page view; bots excluded.
-- chart: table
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 100  How many rows to return at most.
{% if visit_rollup.whole %}
SELECT {{ label('s.utm_campaign') }} AS campaign,
       {{ label('s.utm_source') }} AS utm_source,
       {{ label('s.utm_medium') }} AS utm_medium,
       COUNT(DISTINCT s.visitor_key) AS visitors,
       COUNT(*) AS visits
FROM sessions s
WHERE {{ session_filter('s') }}
  AND (s.utm_campaign IS NOT NULL OR s.utm_source IS NOT NULL OR s.utm_medium IS NOT NULL)
GROUP BY {{ label('s.utm_campaign') }}, {{ label('s.utm_source') }}, {{ label('s.utm_medium') }}
{% else %}
WITH entries AS (
  SELECT v.utm_campaign, v.utm_medium, v.utm_source, v.visitor_id, v.session_id,
         ROW_NUMBER() OVER (PARTITION BY v.session_id ORDER BY v.datetime, v.id) AS n
  FROM visits v
  WHERE {{ hit_filter('v') }}
)
SELECT {{ label('v.utm_campaign') }} AS campaign,
       {{ label('v.utm_source') }} AS utm_source,
       {{ label('v.utm_medium') }} AS utm_medium,
       COUNT(DISTINCT v.visitor_id) AS visitors,
       COUNT(*) AS visits
FROM entries v
WHERE v.n = 1
  AND (v.utm_campaign IS NOT NULL OR v.utm_source IS NOT NULL OR v.utm_medium IS NOT NULL)
GROUP BY {{ label('v.utm_campaign') }}, {{ label('v.utm_source') }}, {{ label('v.utm_medium') }}
{% endif %}
ORDER BY visits DESC, visitors DESC, campaign, utm_source, utm_medium
LIMIT :limit
