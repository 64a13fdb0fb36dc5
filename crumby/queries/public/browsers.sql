-- title: Browsers
-- description: Visitors by browser family. Visitors, visits and page views; bots excluded.
-- chart: pie
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 100  How many rows to return at most.
SELECT {{ label('v.browser') }} AS browser,
       COUNT(DISTINCT v.visitor_id) AS visitors,
       COUNT(DISTINCT v.session_id) AS visits,
       COUNT(*) AS pageviews
FROM visits v
WHERE {{ hit_filter('v') }}
GROUP BY {{ label('v.browser') }}
ORDER BY visitors DESC, pageviews DESC, browser
LIMIT :limit
