-- title: Screen sizes
-- description: Visitors by screen resolution as the browser reported it. Visitors, visits and page views; bots excluded. Each visit counts once, as of its first page view and on the day it began, with all its page views; filtered to one page, that page's views count. Visitors are distinct over the whole range: a visitor who comes on three days counts once.
-- chart: bar
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 100  How many rows to return at most.
-- filters: *
-- column: screen_size "Screen size"
{% set r = visit_figures('screen_res') %}
SELECT {{ label(r.a ~ '.screen_res') }} AS screen_size,
       {{ r.visitors }} AS visitors,
       {{ r.visits }} AS visits,
       {{ r.pageviews }} AS pageviews
FROM {{ r.source }}
WHERE {{ r.where }}
GROUP BY {{ label(r.a ~ '.screen_res') }}
ORDER BY visitors DESC, pageviews DESC, screen_size
LIMIT :limit
