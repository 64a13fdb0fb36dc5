-- title: Events
-- description: Events by page title, name and value with their count and visitors, as the original Crumby listed them. Bots excluded. Visitors are distinct over the whole range.
-- chart: table
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 1000  How many rows to return at most.
-- filters: *
-- column: title "Page title"
-- column: name "Event"
-- column: value "Value"
-- column: count "Events"
{% set r = event_figures('doc_title', 'name', 'value') %}
SELECT {{ label(r.a ~ '.doc_title') }} AS title,
       {{ label(r.a ~ '.name') }} AS name,
       {{ label(r.a ~ '.value') }} AS value,
       {{ r.events }} AS count,
       {{ r.visitors }} AS visitors
FROM {{ r.source }}
WHERE {{ r.where }}
GROUP BY {{ label(r.a ~ '.doc_title') }}, {{ label(r.a ~ '.name') }}, {{ label(r.a ~ '.value') }}
ORDER BY count DESC, visitors DESC, title, name, value
LIMIT :limit
