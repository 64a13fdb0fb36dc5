// The crumby dashboard: reads the report API and fills the cards the page already holds.
// Tracked values (titles, paths, referrers...) come from strangers' browsers: they are only ever
// put into the page as text (textContent), never as HTML.
(function () {
  "use strict";

  var DEFAULT_DAYS = 30;
  var TABLE_ROWS = 10;
  var FULL_ROWS = 1000; // what "More" fetches; shown a page at a time
  var PAGE_ROWS = 50;
  var MAX_FILTERS = 20;
  var OPERATORS = { is: "is", is_not: "is not", contains: "contains", not_contains: "does not contain" };
  var NO_DATA = "no data loaded yet";
  var TABLE_COLUMNS = 4;
  var PREFERRED_COUNTS = ["visitors", "pageviews", "views", "conversion_rate", "events", "visits", "sessions"];
  var root = document.getElementById("dashboard");
  var chart = null;

  // -- the range (and site) the page shows, kept in the address so it can be bookmarked --

  function readState() {
    var query = new URLSearchParams(window.location.search);
    var state = { days: null, from: query.get("from"), to: query.get("to"), site: query.get("site") || "" };
    state.filters = query.getAll("f").map(parseFilter).filter(Boolean).slice(0, MAX_FILTERS);
    state.compare = query.get("compare") === "1";
    if (!(isDate(state.from) && isDate(state.to) && state.from <= state.to)) {
      state.from = state.to = null;
      var days = parseInt(query.get("days"), 10);
      state.days = days > 0 && days <= 3660 ? days : DEFAULT_DAYS;
    }
    return state;
  }

  // "country:is:DE" -> {dimension, operator, value}; the value may hold colons.
  function parseFilter(text) {
    var match = /^([a-z_]{1,32}):([a-z_]{1,16}):([\s\S]*)$/.exec(text || "");
    if (!match || !(match[2] in OPERATORS)) return null;
    return { dimension: match[1], operator: match[2], value: match[3] };
  }

  function filterText(filter) {
    return filter.dimension + ":" + filter.operator + ":" + filter.value;
  }

  function isDate(text) {
    return typeof text === "string" && /^\d{4}-\d{2}-\d{2}$/.test(text);
  }

  function rangeQuery(state) {
    var query = new URLSearchParams();
    if (state.from) {
      query.set("from", state.from);
      query.set("to", state.to);
    } else {
      query.set("days", String(state.days));
    }
    if (state.site) query.set("site", state.site);
    (state.filters || []).forEach(function (filter) { query.append("f", filterText(filter)); });
    return query;
  }

  function addressQuery(state) {
    var query = rangeQuery(state);
    if (state.compare) query.set("compare", "1");
    return query;
  }

  function withState(state, changes) {
    return Object.assign({}, state, changes);
  }

  function showState(state) {
    root.querySelectorAll(".preset").forEach(function (button) {
      button.setAttribute("aria-pressed", String(!state.from && Number(button.dataset.days) === state.days));
    });
    document.getElementById("range-from").value = state.from || "";
    document.getElementById("range-to").value = state.to || "";
    document.getElementById("site").value = state.site;
    document.getElementById("compare").checked = !!state.compare;
    showFilters(state);
  }

  // Each filter as a chip: "Country is DE" with a button that removes it.
  function showFilters(state) {
    var box = document.getElementById("filters");
    box.replaceChildren();
    box.hidden = !state.filters.length;
    state.filters.forEach(function (filter, index) {
      var chip = document.createElement("span");
      chip.className = "chip";
      chip.dataset.filter = filterText(filter);
      var text = document.createElement("span");
      text.textContent = heading(filter.dimension) + " " + OPERATORS[filter.operator] + " " + (filter.value === "" ? "(none)" : filter.value);
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "chip-remove";
      remove.setAttribute("aria-label", "Remove the filter " + text.textContent);
      remove.textContent = "×";
      remove.addEventListener("click", function () {
        go(withState(state, { filters: state.filters.filter(function (_, i) { return i !== index; }) }));
      });
      chip.appendChild(text);
      chip.appendChild(remove);
      box.appendChild(chip);
    });
  }

  // A click on a row: that value "is" the filter for its dimension (replacing one already there).
  function addFilter(dimension, value) {
    var state = readState();
    var kept = state.filters.filter(function (f) { return !(f.dimension === dimension && f.operator === "is"); });
    kept.push({ dimension: dimension, operator: "is", value: value });
    go(withState(state, { filters: kept.slice(-MAX_FILTERS) }));
  }

  function go(state) {
    window.history.pushState(null, "", "?" + addressQuery(state).toString());
    load(state);
  }

  function rangeDays(state) {
    if (!state.from) return state.days;
    return (Date.parse(state.to) - Date.parse(state.from)) / 86400000 + 1;
  }

  // The range of the same length just before: what the comparison line shows.
  function previousState(state, body) {
    var t0 = toSeconds(body.range.t0) * 1000;
    var t1 = toSeconds(body.range.t1) * 1000;
    var from = new Date(t0 - (t1 - t0));
    var to = new Date(t0 - 86400000);
    return withState(state, { days: null, from: dayOf(from), to: dayOf(to) });
  }

  // -- talking to the API --

  // The report's answer, or null when the server has no such report (404) or it is not ours to see
  // (401). `extra` holds optional parameters; one the report does not declare is dropped and retried.
  function fetchReport(visibility, name, state, extra) {
    var query = rangeQuery(state);
    Object.keys(extra || {}).forEach(function (key) { query.set(key, String(extra[key])); });
    var url = "/api/" + visibility + "/" + encodeURIComponent(name) + "?" + query.toString();
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" }).then(
      function (response) {
        if (response.status === 404 || response.status === 401) return null;
        return response.json().then(
          function (body) {
            if (response.ok) return body;
            var message = (body && body.error) || response.statusText;
            var refused = Object.keys(extra || {}).filter(function (key) { return message.indexOf("'" + key + "'") >= 0; });
            if (response.status === 400 && refused.length) {
              var fewer = Object.assign({}, extra);
              refused.forEach(function (key) { delete fewer[key]; });
              return fetchReport(visibility, name, state, fewer);
            }
            if (response.status === 400 && message.indexOf("'f'") >= 0 && state.filters.length) {
              // a report of one's own that takes no filters: shown whole, and said so
              return fetchReport(visibility, name, withState(state, { filters: [] }), extra).then(function (whole) {
                if (whole) whole.unfiltered = true;
                return whole;
              });
            }
            throw new Error(message);
          },
          function () {
            throw new Error("the server answered " + response.status);
          }
        );
      }
    );
  }

  function rowsOf(body) {
    return body.data.map(function (row) {
      var record = {};
      body.columns.forEach(function (column, i) {
        record[column] = row[i];
      });
      return record;
    });
  }

  // -- formatting --

  var integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  var decimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

  function formatNumber(value) {
    if (value === null || value === undefined || value === "") return "–";
    var number = Number(value);
    if (!isFinite(number)) return String(value);
    return Number.isInteger(number) ? integer.format(number) : decimal.format(number);
  }

  function formatDuration(seconds) {
    var total = Math.round(Number(seconds) || 0);
    var minutes = Math.floor(total / 60);
    var hours = Math.floor(minutes / 60);
    if (hours) return hours + "h " + (minutes % 60) + "m";
    return minutes ? minutes + "m " + (total % 60) + "s" : total + "s";
  }

  var METRICS = {
    visitors: { names: ["visitors", "unique_visitors"], format: formatNumber },
    visits: { names: ["visits", "sessions"], format: formatNumber },
    pageviews: { names: ["pageviews", "page_views", "views"], format: formatNumber },
    views_per_visit: { names: ["views_per_visit", "pageviews_per_visit", "pages_per_visit"], format: formatNumber },
    bounce_rate: {
      names: ["bounce_rate", "bounce_rate_pct", "bounces_pct"],
      format: function (v) { return v === null || v === undefined ? "–" : decimal.format(Number(v)) + "%"; },
      lowerIsBetter: true,
    },
    visit_duration: {
      names: ["visit_duration", "avg_visit_duration", "visit_duration_seconds", "avg_duration"],
      format: function (v) { return v === null || v === undefined ? "–" : formatDuration(v); },
    },
  };

  // -- the summary: a current and a previous value per metric, whatever the report's layout --

  function summaryValues(body) {
    var rows = rowsOf(body);
    var columns = body.columns.map(function (c) { return String(c).toLowerCase(); });
    var found = {};
    if (columns.indexOf("metric") >= 0) {
      // one row per metric: metric, value (or current), previous
      rows.forEach(function (row) {
        var key = metricKey(String(row.metric).toLowerCase());
        if (key) found[key] = { current: pick(row, ["value", "current"]), previous: pick(row, ["previous", "prev"]) };
      });
      return found;
    }
    var periodColumn = columns.indexOf("period") >= 0 ? "period" : null;
    var current = rows[0] || {};
    var previousRow = null;
    if (periodColumn) {
      rows.forEach(function (row) {
        if (/^prev/i.test(String(row.period))) previousRow = row;
        else current = row;
      });
    }
    Object.keys(METRICS).forEach(function (key) {
      METRICS[key].names.forEach(function (name) {
        if (found[key] || !(name in current)) return;
        var previous = previousRow
          ? previousRow[name]
          : pick(current, ["previous_" + name, "prev_" + name, name + "_previous", name + "_prev"]);
        found[key] = { current: current[name], previous: previous };
      });
    });
    return found;
  }

  function metricKey(name) {
    var keys = Object.keys(METRICS);
    for (var i = 0; i < keys.length; i++) {
      if (METRICS[keys[i]].names.indexOf(name) >= 0) return keys[i];
    }
    return null;
  }

  function pick(record, names) {
    for (var i = 0; i < names.length; i++) {
      if (names[i] in record) return record[names[i]];
    }
    return undefined;
  }

  function renderSummary(body) {
    var section = document.getElementById("summary");
    var values = body ? summaryValues(body) : {};
    section.hidden = !body;
    section.querySelectorAll(".metric").forEach(function (box) {
      var key = box.dataset.metric;
      var metric = METRICS[key];
      var value = values[key];
      box.hidden = !value;
      if (!value) return;
      box.querySelector(".metric-value").textContent = metric.format(value.current);
      var change = box.querySelector(".metric-change");
      change.className = "metric-change";
      change.textContent = changeText(value.current, value.previous);
      var delta = Number(value.current) - Number(value.previous);
      if (value.previous !== undefined && value.previous !== null && delta) {
        var better = metric.lowerIsBetter ? delta < 0 : delta > 0;
        change.classList.add(better ? "better" : "worse");
      }
      change.title = value.previous === undefined ? "" : "previous period: " + metric.format(value.previous);
    });
  }

  function changeText(current, previous) {
    if (previous === undefined || previous === null) return "";
    var now = Number(current) || 0;
    var before = Number(previous) || 0;
    if (before === 0) return now === 0 ? "no change" : "new";
    var percent = ((now - before) / Math.abs(before)) * 100;
    if (Math.abs(percent) < 0.5) return "no change";
    return (percent > 0 ? "▲ " : "▼ ") + integer.format(Math.abs(percent)) + "% vs previous";
  }

  // -- the chart: visitors and pageviews over time --

  var TIME_COLUMNS = ["day", "date", "hour", "time", "datetime", "t", "bucket", "period"];

  // `previous` (optional) is the period before, drawn dashed under the current one, point for point.
  function renderChart(body, previous) {
    var card = document.getElementById("timeseries-card");
    var box = document.getElementById("chart");
    card.hidden = !body;
    if (chart) {
      chart.destroy();
      chart = null;
    }
    if (!body) return;
    var columns = body.columns;
    var timeIndex = Math.max(0, columns.findIndex(function (c) { return TIME_COLUMNS.indexOf(String(c).toLowerCase()) >= 0; }));
    var wanted = ["visitors", "pageviews"].filter(function (name) { return columns.indexOf(name) >= 0; });
    if (!wanted.length) {
      wanted = columns.filter(function (c, i) { return i !== timeIndex; }).slice(0, 2);
    }
    var times = body.data.map(function (row) { return toSeconds(row[timeIndex]); });
    var hourly = times.length > 1 && times[1] - times[0] < 86400;
    var series = wanted.map(function (name) {
      var i = columns.indexOf(name);
      return body.data.map(function (row) { return row[i] === null ? null : Number(row[i]); });
    });
    var labels = wanted.map(heading);
    if (previous && previous.columns) {
      var before = previous.columns.indexOf(wanted[0]);
      if (before >= 0) {
        series.push(body.data.map(function (_, n) {
          var row = previous.data[n];
          return row && row[before] !== null ? Number(row[before]) : null;
        }));
        labels.push(heading(wanted[0]) + " (period before)");
      }
    }
    note(card, body.data.length ? "" : "No visits in this range yet.");
    if (!body.data.length || typeof window.uPlot !== "function") return;
    var colours = ["#2f6fde", "#e8833a", "#98a2b3"];
    // The axis is the range asked for, first to last day (hour), whatever has data.
    var span = times.length > 1 ? [times[0], times[times.length - 1]] : [times[0] - 43200, times[0] + 43200];
    chart = new window.uPlot(
      {
        width: Math.max(280, box.clientWidth),
        height: 260,
        series: [{}].concat(
          labels.map(function (label, i) {
            var earlier = i === wanted.length;
            return {
              label: label,
              stroke: colours[earlier ? 2 : i % 2],
              width: earlier ? 1.5 : 2,
              dash: earlier ? [6, 4] : undefined,
              fill: i === 0 ? "rgba(47,111,222,0.08)" : undefined,
              value: function (u, v) { return formatNumber(v); },
            };
          })
        ),
        axes: [
          hourly ? {} : { incrs: DAY_STEPS, values: function (u, ticks) { return ticks.map(shortDay); } },
          { values: function (u, ticks) { return ticks.map(formatNumber); } },
        ],
        scales: { x: { time: true, range: function () { return span; } } },
        tzDate: function (ts) { return window.uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      },
      [times].concat(series),
      box
    );
    box.dataset.first = String(span[0]);
    box.dataset.last = String(span[1]);
    box.dataset.points = String(times.length);
  }

  var DAY_STEPS = [1, 2, 7, 14, 30, 61, 91, 182, 365].map(function (days) { return days * 86400; });
  var dayLabel = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", timeZone: "UTC" });

  function shortDay(seconds) {
    return dayLabel.format(new Date(seconds * 1000));
  }

  function toSeconds(value) {
    if (typeof value === "number") return value > 1e11 ? value / 1000 : value;
    var text = String(value);
    if (/^\d{4}-\d{2}-\d{2}$/.test(text)) text += "T00:00:00Z";
    else if (!/(Z|[+-]\d{2}:?\d{2})$/.test(text)) text = text.replace(" ", "T") + "Z"; // the store keeps UTC
    return Date.parse(text) / 1000;
  }

  // -- the top-N tables --

  // Columns shown as the row's name: titles first, a site or a country as the second line.
  var PRIMARY_FIRST = ["doc_title", "title"];
  var SECONDARY = ["site", "country", "uri"];

  function cardLabels(card) {
    try {
      return JSON.parse(card.dataset.labels || "{}");
    } catch (error) {
      return {};
    }
  }

  function renderTable(card, body) {
    card.hidden = !body;
    if (!body) return;
    var table = card.querySelector("table");
    var layout = tableLayout(body, cardLabels(card));
    fillTable(table, body, layout, body.data.slice(0, TABLE_ROWS), card);
    note(card, body.data.length ? (body.unfiltered ? "This report takes no filters: it shows every visit." : "") : "Nothing in this range.");
    var more = card.querySelector(".more");
    more.hidden = body.data.length < TABLE_ROWS;
  }

  // Which columns make the name of a row (one main, the others on a second line) and which counts show:
  // the figure the rows are sorted by first, then visitors or page views.
  function tableLayout(body, labels) {
    var names = [];
    var counts = [];
    body.columns.forEach(function (column, i) {
      if (isNumericColumn(body.data, i)) counts.push(i);
      else if (!(column === "site" && sameEverywhere(body.data, i))) names.push(i);
    });
    var primary = names.find(function (i) { return PRIMARY_FIRST.indexOf(body.columns[i]) >= 0; });
    if (primary === undefined) primary = names.find(function (i) { return SECONDARY.indexOf(body.columns[i]) < 0; });
    if (primary === undefined) primary = names[0];
    var main = counts.find(function (i) { return isSortedBy(body.data, i) && !sameEverywhere(body.data, i); });
    if (main === undefined) main = counts.find(function (i) { return isSortedBy(body.data, i); });
    if (main === undefined) main = counts[0];
    var rank = function (i) {
      if (i === main) return -1;
      var place = PREFERRED_COUNTS.indexOf(body.columns[i]);
      return place < 0 ? PREFERRED_COUNTS.length + i : place;
    };
    var shown = counts.slice().sort(function (a, b) { return rank(a) - rank(b); }).slice(0, 2);
    return {
      primary: primary,
      secondary: names.filter(function (i) { return i !== primary; }),
      counts: shown,
      main: main,
      labels: labels,
      columns: body.columns,
    };
  }

  function isSortedBy(data, i) {
    for (var n = 1; n < data.length; n++) {
      if ((Number(data[n][i]) || 0) > (Number(data[n - 1][i]) || 0)) return false;
    }
    return data.length > 0;
  }

  function columnLabel(layout, i) {
    return layout.labels[layout.columns[i]] || heading(layout.columns[i]);
  }

  function fillTable(table, body, layout, rows, card) {
    var head = table.tHead;
    var list = table.tBodies[0];
    head.replaceChildren();
    list.replaceChildren();
    var top = 0;
    body.data.forEach(function (row) { if (layout.main !== undefined) top = Math.max(top, Number(row[layout.main]) || 0); });

    var headRow = document.createElement("tr");
    if (layout.primary !== undefined) {
      var nameHead = document.createElement("th");
      nameHead.textContent = columnLabel(layout, layout.primary);
      headRow.appendChild(nameHead);
    }
    layout.counts.forEach(function (i) {
      var cell = document.createElement("th");
      cell.textContent = columnLabel(layout, i);
      cell.className = "num";
      headRow.appendChild(cell);
    });
    head.appendChild(headRow);

    var dimension = card && card.dataset.filter;
    var valueColumn = card ? body.columns.indexOf(card.dataset.filterColumn) : -1;
    rows.forEach(function (row) {
      var tr = document.createElement("tr");
      if (layout.primary !== undefined) {
        var cell = document.createElement("td");
        var first = document.createElement("span");
        first.className = "name";
        first.textContent = shownText(row[layout.primary]);
        cell.appendChild(first);
        var rest = layout.secondary.map(function (i) { return row[i]; }).filter(function (v) { return v !== null && v !== ""; });
        if (rest.length) {
          var second = document.createElement("span");
          second.className = "second";
          second.textContent = rest.join(" · ");
          cell.appendChild(second);
        }
        cell.title = [first.textContent].concat(rest).join("\n");
        tr.appendChild(cell);
      }
      layout.counts.forEach(function (i) {
        var count = document.createElement("td");
        count.className = "num";
        count.textContent = formatNumber(row[i]);
        tr.appendChild(count);
      });
      if (layout.main !== undefined && top > 0) {
        var share = Math.round(((Number(row[layout.main]) || 0) / top) * 100);
        tr.style.setProperty("--share", share + "%");
        tr.classList.add("bar");
      }
      if (dimension && valueColumn >= 0) {
        var value = row[valueColumn] === null ? "" : String(row[valueColumn]);
        tr.classList.add("pick");
        tr.tabIndex = 0;
        tr.dataset.value = value;
        tr.title = (tr.title ? tr.title + "\n" : "") + "Show only " + heading(dimension) + " " + shownText(value);
        var pick = function () { closeFullList(); addFilter(dimension, value); };
        tr.addEventListener("click", pick);
        tr.addEventListener("keydown", function (event) { if (event.key === "Enter") pick(); });
      }
      list.appendChild(tr);
    });
  }

  function shownText(value) {
    return value === null || value === undefined || value === "" ? "(none)" : String(value);
  }

  function heading(column) {
    var text = String(column).replace(/_/g, " ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  // -- "More": the whole list, a page at a time, and its CSV --

  var full = { body: null, layout: null, page: 0, card: null };

  function openFullList(card) {
    var state = readState();
    var dialog = document.getElementById("full-list");
    document.getElementById("full-title").textContent = card.querySelector("h2").textContent;
    var query = rangeQuery(state);
    query.set("limit", String(FULL_ROWS));
    query.set("format", "csv");
    document.getElementById("full-csv").href = "/api/" + card.dataset.visibility + "/" + encodeURIComponent(card.dataset.report) + "?" + query.toString();
    document.getElementById("full-csv").setAttribute("download", card.dataset.report + ".csv");
    return fetchReport(card.dataset.visibility, card.dataset.report, state, { limit: FULL_ROWS }).then(function (body) {
      if (!body) return;
      full = { body: body, layout: tableLayout(body, cardLabels(card)), page: 0, card: card };
      showFullPage();
      if (!dialog.open) dialog.showModal();
    }, function (error) { note(card, "Could not load the whole list: " + error.message); });
  }

  function showFullPage() {
    var pages = Math.max(1, Math.ceil(full.body.data.length / PAGE_ROWS));
    full.page = Math.min(Math.max(full.page, 0), pages - 1);
    var rows = full.body.data.slice(full.page * PAGE_ROWS, (full.page + 1) * PAGE_ROWS);
    fillTable(document.querySelector("#full-list table"), full.body, full.layout, rows, full.card);
    document.getElementById("full-page").textContent =
      "Rows " + formatNumber(full.page * PAGE_ROWS + (rows.length ? 1 : 0)) + " to " + formatNumber(full.page * PAGE_ROWS + rows.length) +
      " of " + formatNumber(full.body.data.length) + (full.body.truncated ? "+" : "");
    document.getElementById("full-prev").disabled = full.page === 0;
    document.getElementById("full-next").disabled = full.page >= pages - 1;
  }

  function closeFullList() {
    var dialog = document.getElementById("full-list");
    if (dialog.open) dialog.close();
  }

  function isNumericColumn(data, i) {
    return data.length > 0 && data.every(function (row) { return row[i] === null || typeof row[i] === "number"; });
  }

  function sameEverywhere(data, i) {
    return data.every(function (row) { return row[i] === data[0][i]; });
  }

  function note(card, text) {
    var p = card.querySelector(".card-note");
    p.textContent = text;
    p.hidden = !text;
  }

  function failed(card, error) {
    card.hidden = false;
    var table = card.querySelector("table");
    if (table) {
      table.tHead.replaceChildren();
      table.tBodies[0].replaceChildren();
    }
    note(card, "Could not load this report: " + error.message);
  }

  function showRange(body) {
    var label = document.getElementById("range-label");
    var range = body && body.range;
    label.textContent = "";
    if (range && range.t0 && range.t1) {
      // t1 is exclusive: a range ending at midnight ends, for a reader, the day before.
      var last = new Date(toSeconds(range.t1) * 1000 - 1000);
      label.textContent = "Showing " + dayOf(new Date(toSeconds(range.t0) * 1000)) + " to " + dayOf(last) + " (UTC)";
    }
  }

  function dayOf(date) {
    return date.toISOString().slice(0, 10);
  }

  // -- putting it together --

  // Before the first `crumby etl` every report answers "no data loaded yet": say how to begin instead.
  function showFirstRun(body) {
    var empty = !!(body && body.status === NO_DATA);
    document.getElementById("first-run").hidden = !empty;
    root.classList.toggle("empty-store", empty);
    return empty;
  }

  function load(state) {
    showState(state);
    root.dataset.loaded = "false";
    var problem = document.getElementById("problem");
    problem.hidden = true;
    var jobs = [];
    jobs.push(
      fetchReport("public", "summary", state).then(
        function (body) { showFirstRun(body); renderSummary(body); showRange(body); },
        function (error) { renderSummary(null); problem.textContent = "The summary could not be loaded: " + error.message; problem.hidden = false; }
      )
    );
    var granularity = { granularity: rangeDays(state) <= 2 ? "hour" : "day" };
    jobs.push(
      fetchReport("public", "timeseries", state, granularity).then(function (body) {
        if (!body || !state.compare || !body.range) return renderChart(body);
        return fetchReport("public", "timeseries", previousState(state, body), granularity).then(
          function (previous) { renderChart(body, previous); },
          function () { renderChart(body); }
        );
      }).catch(function (error) {
        var card = document.getElementById("timeseries-card");
        card.hidden = false;
        note(card, "Could not load the chart: " + error.message);
      })
    );
    root.querySelectorAll(".report-card").forEach(function (card) {
      jobs.push(
        fetchReport(card.dataset.visibility, card.dataset.report, state, { limit: TABLE_ROWS }).then(
          function (body) { renderTable(card, body); },
          function (error) { failed(card, error); }
        )
      );
    });
    return Promise.all(jobs).then(function () { root.dataset.loaded = "true"; });
  }

  function start() {
    var form = document.getElementById("range");
    root.querySelectorAll(".preset").forEach(function (button) {
      button.addEventListener("click", function () {
        go(withState(readState(), { days: Number(button.dataset.days), from: null, to: null }));
      });
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var state = readState();
      var from = document.getElementById("range-from").value;
      var to = document.getElementById("range-to").value;
      var problem = document.getElementById("problem");
      state.site = document.getElementById("site").value.trim();
      if (from || to) {
        if (!isDate(from) || !isDate(to) || from > to) {
          problem.textContent = "Choose both dates, the first no later than the second.";
          problem.hidden = false;
          return;
        }
        state = withState(state, { days: null, from: from, to: to });
      }
      go(state);
    });
    document.getElementById("site").addEventListener("change", function () { form.requestSubmit(); });
    document.getElementById("compare").addEventListener("change", function (event) {
      go(withState(readState(), { compare: event.target.checked }));
    });
    root.querySelectorAll(".report-card .more").forEach(function (button) {
      button.addEventListener("click", function () { openFullList(button.closest(".report-card")); });
    });
    document.getElementById("full-close").addEventListener("click", closeFullList);
    document.getElementById("full-prev").addEventListener("click", function () { full.page -= 1; showFullPage(); });
    document.getElementById("full-next").addEventListener("click", function () { full.page += 1; showFullPage(); });
    window.addEventListener("popstate", function () { load(readState()); });
    window.addEventListener("resize", function () {
      var box = document.getElementById("chart");
      if (chart) chart.setSize({ width: Math.max(280, box.clientWidth), height: 260 });
    });
    load(readState());
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
