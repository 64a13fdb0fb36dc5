-- title: Visits per day
-- description: Users (distinct visitors) and views (page views) for each day of the range, as the original Crumby reported them. Bots excluded.
-- chart: line
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
SELECT {{ day('c.datetime') }} AS date,
       COALESCE(n.users, 0) AS users,
       COALESCE(n.views, 0) AS views
FROM calendar c
LEFT JOIN (
  SELECT {{ day('v.datetime') }} AS day_label,
         COUNT(DISTINCT v.visitor_id) AS users,
         COUNT(*) AS views
  FROM visits v
  WHERE {{ hit_filter('v') }}
  GROUP BY {{ day('v.datetime') }}
) n ON n.day_label = {{ day('c.datetime') }}
WHERE c.datetime >= :t0 AND c.datetime < :t1
ORDER BY date
