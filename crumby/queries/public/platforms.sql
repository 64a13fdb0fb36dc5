-- title: Platforms
-- description: Users (distinct visitors) per platform (operating system family), as the original Crumby reported them. Bots excluded. Each visit counts once, as of its first page view and on the day it began, with all its page views; filtered to one page, that page's views count. Visitors are distinct over the whole range: a visitor who comes on three days counts once.
-- chart: pie
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 100  How many rows to return at most.
-- filters: *
-- column: platform "Platform"
-- column: users "Visitors"
{% set r = visit_figures('platform') %}
SELECT {{ label(r.a ~ '.platform') }} AS platform,
       {{ r.visitors }} AS users
FROM {{ r.source }}
WHERE {{ r.where }}
GROUP BY {{ label(r.a ~ '.platform') }}
ORDER BY users DESC, platform
LIMIT :limit
