-- title: Locations
-- description: Users (distinct visitors) per country and state or region, as the original Crumby reported them. Bots excluded.
-- chart: map
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 100  How many rows to return at most.
SELECT {{ label('v.subdivision_1') }} AS state,
       {{ label('v.country') }} AS country,
       COUNT(DISTINCT v.visitor_id) AS users
FROM visits v
WHERE {{ hit_filter('v') }}
GROUP BY {{ label('v.country') }}, {{ label('v.subdivision_1') }}
ORDER BY users DESC, country, state
LIMIT :limit
