-- title: Event values
-- description: Events by name and value, with their count and visitors; give `event` for one event's values. Bots excluded. Visitors are distinct over the whole range.
-- chart: table
-- param: event text = ""  Only the event with this name; empty for every event.
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 100  How many rows to return at most.
-- filters: *
-- column: name "Event"
-- column: value "Value"
{% set r = event_figures('name', 'value') %}
SELECT {{ label(r.a ~ '.name') }} AS name,
       {{ label(r.a ~ '.value') }} AS value,
       {{ r.events }} AS events,
       {{ r.visitors }} AS visitors
FROM {{ r.source }}
WHERE {{ r.where }}
{% if event %}
  AND {{ equals(r.a ~ '.name', event) }}
{% endif %}
GROUP BY {{ label(r.a ~ '.name') }}, {{ label(r.a ~ '.value') }}
ORDER BY events DESC, visitors DESC, name, value
LIMIT :limit
