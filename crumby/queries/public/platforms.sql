-- title: Platforms
-- description: Users (distinct visitors) per platform (operating system family), as the original Crumby reported them. Bots excluded.
-- chart: pie
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 100  How many rows to return at most.
SELECT {{ label('v.platform') }} AS platform,
       COUNT(DISTINCT v.visitor_id) AS users
FROM visits v
WHERE {{ hit_filter('v') }}
GROUP BY {{ label('v.platform') }}
ORDER BY users DESC, platform
LIMIT :limit
