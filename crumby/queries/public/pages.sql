-- title: Top pages
-- description: Pages by visitors, with their site. Visitors, visits and page views; bots excluded. A page's visitors and visits are distinct over the whole range: a visitor who views a page on three days counts once.
-- chart: table
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 100  How many rows to return at most.
-- filters: *
-- column: site "Site"
-- column: page_path "Page"
SELECT {{ label('v.site') }} AS site,
       {{ label('v.page_path') }} AS page_path,
       COUNT(DISTINCT {{ exact('v.visitor_id') }}) AS visitors,
       COUNT(DISTINCT {{ exact('v.session_id') }}) AS visits,
       COUNT(*) AS pageviews
FROM visits v
WHERE {{ hit_filter('v') }}
GROUP BY {{ label('v.page_path') }}, {{ label('v.site') }}
ORDER BY visitors DESC, pageviews DESC, site, page_path
LIMIT :limit
