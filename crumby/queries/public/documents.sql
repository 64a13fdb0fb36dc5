-- title: Documents
-- description: Page views per page address and title, as the original Crumby reported them. Bots excluded.
-- chart: table
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 100  How many rows to return at most.
SELECT {{ label(concat('g.site', 'g.page_path')) }} AS uri,
       {{ label('g.doc_title') }} AS doc_title,
       {{ as_int('SUM(g.views)') }} AS views
FROM (
  SELECT {{ label('v.site') }} AS site, {{ label('v.page_path') }} AS page_path,
         {{ label('v.doc_title') }} AS doc_title, COUNT(*) AS views
  FROM visits v
  WHERE {{ hit_filter('v') }}
  GROUP BY {{ label('v.site') }}, {{ label('v.page_path') }}, {{ label('v.doc_title') }}
) g
GROUP BY {{ label(concat('g.site', 'g.page_path')) }}, {{ label('g.doc_title') }}
ORDER BY views DESC, uri, doc_title
LIMIT :limit
