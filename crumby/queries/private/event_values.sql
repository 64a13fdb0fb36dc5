-- title: Event values
-- description: Events by name and value, with their count and visitors; give `event` for one event's values. Bots excluded.
-- chart: table
-- param: event text = ""  Only the event with this name; empty for every event.
-- param: site text = ""  Only this site (its host name); empty for every site.
-- param: path text = ""  Only this page path, e.g. /pricing; empty for every page.
-- param: limit int(1..10000) = 100  How many rows to return at most.
SELECT {{ label('e.name') }} AS name,
       {{ label('e.value') }} AS value,
       COUNT(*) AS events,
       COUNT(DISTINCT e.visitor_id) AS visitors
FROM events e
WHERE {{ hit_filter('e') }}
{% if event %}
  AND {{ equals('e.name', event) }}
{% endif %}
GROUP BY {{ label('e.name') }}, {{ label('e.value') }}
ORDER BY events DESC, visitors DESC, name, value
LIMIT :limit
