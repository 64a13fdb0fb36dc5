-- title: Channels
-- description: Visits by channel: search, social, email, referral, paid, direct. A visit counts once, by its first page view; bots excluded. Visitors are distinct over the whole range: a visitor who comes on three days counts once.
-- chart: pie
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 100  How many rows to return at most.
-- filters: *
-- column: channel "Channel"
{% if visit_rollup.whole %}
{% set r = visit_figures('channel') %}
SELECT {{ label(r.a ~ '.channel') }} AS channel,
       {{ r.visitors }} AS visitors,
       {{ r.visits }} AS visits
FROM {{ r.source }}
WHERE {{ r.where }}
GROUP BY {{ label(r.a ~ '.channel') }}
{% else %}
SELECT {{ label('v.channel') }} AS channel,
       COUNT(DISTINCT v.visitor_key) AS visitors,
       COUNT(*) AS visits
FROM ({{ first_views('channel', 'visitor_key') }}) v
GROUP BY {{ label('v.channel') }}
{% endif %}
ORDER BY visits DESC, visitors DESC, channel
LIMIT :limit
