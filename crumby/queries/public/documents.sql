-- title: Documents
-- description: Page views per page address and title, as the original Crumby reported them. Bots excluded.
-- chart: table
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 100  How many rows to return at most.
-- filters: *
-- column: uri "Page"
-- column: doc_title "Title"
-- column: views "Pageviews"
SELECT {{ label(concat('g.site', 'g.page_path')) }} AS uri,
       {{ label('g.doc_title') }} AS doc_title,
       {{ as_int('SUM(g.views)') }} AS views
FROM (
{% if whole_days %}
  {#- whole days: the daily figures the ETL keeps -#}
  SELECT {{ label('d.site') }} AS site, {{ label('d.page_path') }} AS page_path,
         {{ label('d.doc_title') }} AS doc_title, SUM(d.views) AS views
  FROM document_days d
  WHERE {{ day_filter('d') }}
  GROUP BY {{ label('d.site') }}, {{ label('d.page_path') }}, {{ label('d.doc_title') }}
{% else %}
  SELECT {{ label('v.site') }} AS site, {{ label('v.page_path') }} AS page_path,
         {{ label('v.doc_title') }} AS doc_title, COUNT(*) AS views
  FROM visits v
  WHERE {{ hit_filter('v') }}
  GROUP BY {{ label('v.site') }}, {{ label('v.page_path') }}, {{ label('v.doc_title') }}
{% endif %}
) g
GROUP BY {{ label(concat('g.site', 'g.page_path')) }}, {{ label('g.doc_title') }}
ORDER BY views DESC, uri, doc_title
LIMIT :limit
