-- title: Documents
-- description: Page views per page address and title, as the original Crumby reported them. Bots excluded.
-- chart: table
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 100  How many rows to return at most.
SELECT {{ label(concat('v.site', 'v.page_path')) }} AS uri,
       {{ label('v.doc_title') }} AS doc_title,
       COUNT(*) AS views
FROM visits v
WHERE {{ hit_filter('v') }}
GROUP BY {{ label(concat('v.site', 'v.page_path')) }}, {{ label('v.doc_title') }}
ORDER BY views DESC, uri, doc_title
LIMIT :limit
