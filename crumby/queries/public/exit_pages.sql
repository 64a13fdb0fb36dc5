-- title: Exit pages
-- description: Pages where visits end, by number of visits, with their site. Bots excluded.
-- chart: table
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 100  How many rows to return at most.
{% if visit_rollup.whole %}
SELECT {{ label('s.site') }} AS site,
       {{ label('s.exit_page') }} AS page_path,
       COUNT(*) AS visits,
       COUNT(DISTINCT s.visitor_key) AS visitors
FROM sessions s
WHERE {{ session_filter('s') }}
GROUP BY {{ label('s.site') }}, {{ label('s.exit_page') }}
{% else %}
WITH ranked AS (
  SELECT v.site, v.page_path, v.visitor_id,
         ROW_NUMBER() OVER (PARTITION BY v.session_id ORDER BY v.datetime DESC, v.id DESC) AS n
  FROM visits v
  WHERE {{ hit_filter('v') }}
)
SELECT {{ label('r.site') }} AS site,
       {{ label('r.page_path') }} AS page_path,
       COUNT(*) AS visits,
       COUNT(DISTINCT r.visitor_id) AS visitors
FROM ranked r
WHERE r.n = 1
GROUP BY {{ label('r.site') }}, {{ label('r.page_path') }}
{% endif %}
ORDER BY visits DESC, visitors DESC, site, page_path
LIMIT :limit
