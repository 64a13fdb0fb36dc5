-- title: Events by name
-- description: Each event name with how often it was sent, by how many visitors, and how many of those carried a value. Bots excluded. Visitors are distinct over the whole range.
-- chart: bar
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 100  How many rows to return at most.
-- filters: *
-- column: name "Event"
-- column: with_value "With a value"
{% set r = event_figures('name') %}
SELECT {{ label(r.a ~ '.name') }} AS name,
       {{ r.events }} AS events,
       {{ r.visitors }} AS visitors,
       {{ r.with_value }} AS with_value
FROM {{ r.source }}
WHERE {{ r.where }}
GROUP BY {{ label(r.a ~ '.name') }}
ORDER BY events DESC, visitors DESC, name
LIMIT :limit
