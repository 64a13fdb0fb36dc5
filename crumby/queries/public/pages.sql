-- title: Top pages
-- description: Pages by visitors, with their site. Visitors, visits and page views; bots excluded. A page's visitors and visits are counted per day and added up over the range (as Matomo and GoAccess count them): a visitor who views a page on three days counts three times.
-- chart: table
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 100  How many rows to return at most.
-- filters: *
-- column: site "Site"
-- column: page_path "Page"
{% if whole_days %}
{#- whole days: the daily page figures the ETL keeps -#}
SELECT {{ label('d.site') }} AS site,
       {{ label('d.page_path') }} AS page_path,
       {{ as_int('SUM(d.visitors)') }} AS visitors,
       {{ as_int('SUM(d.visits)') }} AS visits,
       {{ as_int('SUM(d.pageviews)') }} AS pageviews
FROM page_days d
WHERE {{ day_filter('d') }}
GROUP BY {{ label('d.site') }}, {{ label('d.page_path') }}
{% else %}
{#- a range that cuts into a day: the same counts from the page views -#}
SELECT d.site, d.page_path,
       {{ as_int('SUM(d.visitors)') }} AS visitors,
       {{ as_int('SUM(d.visits)') }} AS visits,
       {{ as_int('SUM(d.pageviews)') }} AS pageviews
FROM (
  SELECT {{ label('v.site') }} AS site, {{ label('v.page_path') }} AS page_path,
         COUNT(DISTINCT {{ exact('v.visitor_id') }}) AS visitors,
         COUNT(DISTINCT {{ exact('v.session_id') }}) AS visits,
         COUNT(*) AS pageviews
  FROM visits v
  WHERE {{ hit_filter('v') }}
  GROUP BY {{ label('v.site') }}, {{ label('v.page_path') }}, {{ day_key('v.datetime') }}
) d
GROUP BY d.site, d.page_path
{% endif %}
ORDER BY visitors DESC, pageviews DESC, site, page_path
LIMIT :limit
