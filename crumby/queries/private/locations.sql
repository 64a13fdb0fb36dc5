-- title: Locations in detail
-- description: Per city, region and country: users (distinct IP addresses as stored), clients (distinct visitors), sessions and views, as the original Crumby reported them. Bots excluded. Each visit counts once, as of its first page view and on the day it began, with all its page views; filtered to one page, that page's views count. Visitors are distinct over the whole range: a visitor who comes on three days counts once.
-- chart: table
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 1000  How many rows to return at most.
-- filters: *
-- column: city "City"
-- column: state "Region"
-- column: country "Country"
-- column: users "IP addresses"
-- column: clients "Visitors"
-- column: sessions "Visits"
-- column: views "Pageviews"
{% set r = visit_figures('country', 'subdivision_1', 'city') %}
SELECT {{ label(r.a ~ '.city') }} AS city,
       {{ label(r.a ~ '.subdivision_1') }} AS state,
       {{ label(r.a ~ '.country') }} AS country,
       {{ r.ips }} AS users,
       {{ r.visitors }} AS clients,
       {{ r.visits }} AS sessions,
       {{ r.pageviews }} AS views
FROM {{ r.source }}
WHERE {{ r.where }}
GROUP BY {{ label(r.a ~ '.city') }}, {{ label(r.a ~ '.subdivision_1') }}, {{ label(r.a ~ '.country') }}
ORDER BY clients DESC, views DESC, country, state, city
LIMIT :limit
