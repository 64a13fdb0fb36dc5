-- title: Entry pages
-- description: Pages where visits begin, by number of visits, with their site. Bots excluded. Visitors are distinct over the whole range: a visitor who comes on three days counts once.
-- chart: table
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 100  How many rows to return at most.
-- filters: *
-- column: site "Site"
-- column: page_path "Entry page"
{% if visit_rollup.whole %}
{% set r = visit_figures('site', 'entry_page') %}
SELECT {{ label(r.a ~ '.site') }} AS site,
       {{ label(r.a ~ '.entry_page') }} AS page_path,
       {{ r.visits }} AS visits,
       {{ r.visitors }} AS visitors
FROM {{ r.source }}
WHERE {{ r.where }}
GROUP BY {{ label(r.a ~ '.entry_page') }}, {{ label(r.a ~ '.site') }}
{% else %}
SELECT {{ label('r.site') }} AS site,
       {{ label('r.page_path') }} AS page_path,
       COUNT(*) AS visits,
       COUNT(DISTINCT r.visitor_key) AS visitors
FROM ({{ first_views('site', 'page_path', 'visitor_key') }}) r
GROUP BY {{ label('r.page_path') }}, {{ label('r.site') }}
{% endif %}
ORDER BY visits DESC, visitors DESC, site, page_path
LIMIT :limit
