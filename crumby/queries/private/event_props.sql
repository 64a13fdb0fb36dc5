-- title: Event properties
-- description: Events by name and the value of one property (`prop`, e.g. plan), with their count and visitors; events without the property count under an empty value. Bots excluded.
-- chart: table
-- param: prop key  The property to break events down by (letters, digits, underscores).
-- param: event text = ""  Only the event with this name; empty for every event.
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 100  How many rows to return at most.
-- filters: *
-- column: name "Event"
-- column: value "Property value"
SELECT {{ label('p.name') }} AS name,
       {{ label('p.prop_value') }} AS value,
       COUNT(*) AS events,
       COUNT(DISTINCT p.visitor_key) AS visitors
FROM (
  SELECT e.name, e.visitor_key, {{ json_text('e.props', prop) }} AS prop_value
  FROM events e
  WHERE {{ event_filter('e') }}
{% if event %}
    AND {{ equals('e.name', event) }}
{% endif %}
) p
GROUP BY {{ label('p.name') }}, {{ label('p.prop_value') }}
ORDER BY events DESC, visitors DESC, name, value
LIMIT :limit
