-- title: Sources
-- description: Visits by referrer source (a search engine, a social site, a newsletter, or empty for direct). A visit counts once, by its first page view; bots excluded. Visitors are distinct over the whole range: a visitor who comes on three days counts once.
-- chart: table
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 100  How many rows to return at most.
-- filters: *
-- column: source "Source"
{% if visit_rollup.whole %}
{% set r = visit_figures('referrer_source') %}
SELECT {{ label(r.a ~ '.referrer_source') }} AS source,
       {{ r.visitors }} AS visitors,
       {{ r.visits }} AS visits
FROM {{ r.source }}
WHERE {{ r.where }}
GROUP BY {{ label(r.a ~ '.referrer_source') }}
{% else %}
SELECT {{ label('v.referrer_source') }} AS source,
       COUNT(DISTINCT v.visitor_key) AS visitors,
       COUNT(*) AS visits
FROM ({{ first_views('referrer_source', 'visitor_key') }}) v
GROUP BY {{ label('v.referrer_source') }}
{% endif %}
ORDER BY visits DESC, visitors DESC, source
LIMIT :limit
