-- title: Locations
-- description: Users (distinct visitors) per country and state or region, as the original Crumby reported them. Bots excluded. Each visit counts once, as of its first page view and on the day it began, with all its page views; filtered to one page, that page's views count. Visitors are distinct over the whole range: a visitor who comes on three days counts once.
-- chart: map
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 100  How many rows to return at most.
-- filters: *
-- column: state "Region"
-- column: country "Country"
-- column: users "Visitors"
{% set r = visit_figures('country', 'subdivision_1') %}
SELECT {{ label(r.a ~ '.subdivision_1') }} AS state,
       {{ label(r.a ~ '.country') }} AS country,
       {{ r.visitors }} AS users
FROM {{ r.source }}
WHERE {{ r.where }}
GROUP BY {{ label(r.a ~ '.subdivision_1') }}, {{ label(r.a ~ '.country') }}
ORDER BY users DESC, country, state
LIMIT :limit
