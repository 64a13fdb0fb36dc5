-- title: Origins
-- description: Page views per referring address (without its scheme), links from the site itself left out, as the original Crumby reported them. Bots excluded.
-- chart: table
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 1000  How many rows to return at most.
-- filters: *
-- column: origin "Referring address"
-- column: views "Pageviews"
{% if whole_days and not path %}
{#- whole days, every page: the daily figures the ETL keeps -#}
SELECT {{ label('d.origin') }} AS origin,
       {{ as_int('SUM(d.views)') }} AS views
FROM origin_days d
WHERE {{ day_filter('d') }}
GROUP BY {{ label('d.origin') }}
{% else %}
SELECT {{ label('r.origin') }} AS origin,
       COUNT(*) AS views
FROM (
  SELECT CASE
           WHEN v.referrer LIKE 'https://%' THEN substr(v.referrer, 9)
           WHEN v.referrer LIKE 'http://%' THEN substr(v.referrer, 8)
           ELSE v.referrer
         END AS origin
  FROM visits v
  WHERE {{ hit_filter('v') }}
    AND v.referrer IS NOT NULL AND v.referrer <> ''
    AND COALESCE(v.channel, '') <> 'internal'
) r
GROUP BY {{ label('r.origin') }}
{% endif %}
ORDER BY views DESC, origin
LIMIT :limit
