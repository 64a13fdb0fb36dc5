-- title: Top pages
-- description: Pages by visitors, with their site. Visitors, visits and page views; bots excluded. A page's visitors and visits are distinct over the whole range: a visitor who views a page on three days counts once.
-- chart: table
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 100  How many rows to return at most.
-- filters: *
-- column: site "Site"
-- column: page_path "Page"
{% if whole_days %}
{#- whole days: the daily sums; a visitor counts on their first day on the page in the range, and a
    visit across midnight once -#}
SELECT {{ label('p.site') }} AS site,
       {{ label('p.page_path') }} AS page_path,
       {{ as_int('SUM(CASE WHEN p.prev_day IS NULL OR p.prev_day < :t0 THEN p.visitors ELSE 0 END)') }} AS visitors,
       {{ as_int('SUM(p.visits) - SUM(CASE WHEN p.day > :t0 THEN p.revisits ELSE 0 END)') }} AS visits,
       {{ as_int('SUM(p.views)') }} AS pageviews
FROM page_day_figures p
WHERE {{ day_filter('p') }}
GROUP BY {{ label('p.page_path') }}, {{ label('p.site') }}
{% else %}
SELECT {{ label('v.site') }} AS site,
       {{ label('v.page_path') }} AS page_path,
       COUNT(DISTINCT v.visitor_key) AS visitors,
       COUNT(DISTINCT v.visit_key) AS visits,
       COUNT(*) AS pageviews
FROM visits v
WHERE {{ hit_filter('v') }}
GROUP BY {{ label('v.page_path') }}, {{ label('v.site') }}
{% endif %}
ORDER BY visitors DESC, pageviews DESC, site, page_path
LIMIT :limit
