-- title: Campaigns
-- description: Visits by UTM campaign, source and medium; visits without UTM tags are left out. A visit counts once, by its first page view; bots excluded. Visitors are distinct over the whole range: a visitor who comes on three days counts once.
-- chart: table
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 100  How many rows to return at most.
-- filters: *
-- column: campaign "Campaign"
-- column: utm_source "Source"
-- column: utm_medium "Medium"
{% if visit_rollup.whole %}
{% set r = visit_figures('utm_campaign', 'utm_source', 'utm_medium') %}
SELECT {{ label(r.a ~ '.utm_campaign') }} AS campaign,
       {{ label(r.a ~ '.utm_source') }} AS utm_source,
       {{ label(r.a ~ '.utm_medium') }} AS utm_medium,
       {{ r.visitors }} AS visitors,
       {{ r.visits }} AS visits
FROM {{ r.source }}
WHERE {{ r.where }}
  AND ({{ label(r.a ~ '.utm_campaign') }} <> '' OR {{ label(r.a ~ '.utm_source') }} <> '' OR {{ label(r.a ~ '.utm_medium') }} <> '')
GROUP BY {{ label(r.a ~ '.utm_campaign') }}, {{ label(r.a ~ '.utm_source') }}, {{ label(r.a ~ '.utm_medium') }}
{% else %}
SELECT {{ label('v.utm_campaign') }} AS campaign,
       {{ label('v.utm_source') }} AS utm_source,
       {{ label('v.utm_medium') }} AS utm_medium,
       COUNT(DISTINCT v.visitor_key) AS visitors,
       COUNT(*) AS visits
FROM ({{ first_views('utm_campaign', 'utm_source', 'utm_medium', 'visitor_key') }}) v
WHERE ({{ label('v.utm_campaign') }} <> '' OR {{ label('v.utm_source') }} <> '' OR {{ label('v.utm_medium') }} <> '')
GROUP BY {{ label('v.utm_campaign') }}, {{ label('v.utm_source') }}, {{ label('v.utm_medium') }}
{% endif %}
ORDER BY visits DESC, visitors DESC, campaign, utm_source, utm_medium
LIMIT :limit
