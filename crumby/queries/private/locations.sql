-- title: Locations in detail
-- description: Per city, region and country: users (distinct IP addresses as stored), clients (distinct visitors), sessions and views, as the original Crumby reported them. Bots excluded.
-- chart: table
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 1000  How many rows to return at most.
SELECT {{ label('v.city') }} AS city,
       {{ label('v.subdivision_1') }} AS state,
       {{ label('v.country') }} AS country,
       COUNT(DISTINCT v.ip) AS users,
       COUNT(DISTINCT v.visitor_id) AS clients,
       COUNT(DISTINCT v.session_id) AS sessions,
       COUNT(*) AS views
FROM visits v
WHERE {{ hit_filter('v') }}
GROUP BY {{ label('v.country') }}, {{ label('v.subdivision_1') }}, {{ label('v.city') }}
ORDER BY country, state, city
LIMIT :limit
