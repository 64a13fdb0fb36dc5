-- title: Cities
-- description: Visitors by country and city. Visitors, visits and page views; bots excluded. Each visit counts once, as of its first page view and on the day it began, with all its page views; filtered to one page, that page's views count. Visitors are distinct over the whole range: a visitor who comes on three days counts once.
-- chart: table
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 100  How many rows to return at most.
-- filters: *
-- column: country "Country"
-- column: city "City"
{% set r = visit_figures('country', 'city') %}
SELECT {{ label(r.a ~ '.country') }} AS country,
       {{ label(r.a ~ '.city') }} AS city,
       {{ r.visitors }} AS visitors,
       {{ r.visits }} AS visits,
       {{ r.pageviews }} AS pageviews
FROM {{ r.source }}
WHERE {{ r.where }}
GROUP BY {{ label(r.a ~ '.city') }}, {{ label(r.a ~ '.country') }}
ORDER BY visitors DESC, pageviews DESC, country, city
LIMIT :limit
