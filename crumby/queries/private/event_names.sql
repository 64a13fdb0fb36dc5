-- title: Events by name
-- description: Each event name with how often it was sent, by how many visitors, and how many of those carried a value. Bots excluded.
-- chart: bar
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 100  How many rows to return at most.
SELECT {{ label('e.name') }} AS name,
       COUNT(*) AS events,
       COUNT(DISTINCT e.visitor_id) AS visitors,
       {{ as_int("SUM(CASE WHEN e.value IS NOT NULL AND e.value <> '' THEN 1 ELSE 0 END)") }} AS with_value
FROM events e
WHERE {{ hit_filter('e') }}
GROUP BY {{ label('e.name') }}
ORDER BY events DESC, visitors DESC, name
LIMIT :limit
