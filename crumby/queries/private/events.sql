-- title: Events
-- description: Events by page title, name and value with their count and visitors, as the original Crumby listed them. Bots excluded.
-- chart: table
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 1000  How many rows to return at most.
SELECT {{ label('e.doc_title') }} AS title,
       {{ label('e.name') }} AS name,
       {{ label('e.value') }} AS value,
       COUNT(*) AS count,
       COUNT(DISTINCT e.visitor_id) AS visitors
FROM events e
WHERE {{ hit_filter('e') }}
GROUP BY {{ label('e.doc_title') }}, {{ label('e.name') }}, {{ label('e.value') }}
ORDER BY count DESC, visitors DESC, title, name, value
LIMIT :limit
