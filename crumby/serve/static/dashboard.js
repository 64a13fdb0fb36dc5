// The crumby dashboard: reads the report API and fills the cards the page already holds.
// Tracked values (titles, paths, referrers...) come from strangers' browsers: they are only ever
// put into the page as text (textContent), never as HTML.
(function () {
  "use strict";

  var DEFAULT_DAYS = 30;
  var TABLE_ROWS = 10;
  var TABLE_COLUMNS = 4;
  var PREFERRED_COUNTS = ["visitors", "pageviews"];
  var root = document.getElementById("dashboard");
  var chart = null;

  // -- the range (and site) the page shows, kept in the address so it can be bookmarked --

  function readState() {
    var query = new URLSearchParams(window.location.search);
    var state = { days: null, from: query.get("from"), to: query.get("to"), site: query.get("site") || "" };
    if (!(isDate(state.from) && isDate(state.to) && state.from <= state.to)) {
      state.from = state.to = null;
      var days = parseInt(query.get("days"), 10);
      state.days = days > 0 && days <= 3660 ? days : DEFAULT_DAYS;
    }
    return state;
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
    return query;
  }

  function showState(state) {
    root.querySelectorAll(".preset").forEach(function (button) {
      button.setAttribute("aria-pressed", String(!state.from && Number(button.dataset.days) === state.days));
    });
    document.getElementById("range-from").value = state.from || "";
    document.getElementById("range-to").value = state.to || "";
    document.getElementById("site").value = state.site;
  }

  function go(state) {
    window.history.replaceState(null, "", "?" + rangeQuery(state).toString());
    load(state);
  }

  function rangeDays(state) {
    if (!state.from) return state.days;
    return (Date.parse(state.to) - Date.parse(state.from)) / 86400000 + 1;
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

  function renderChart(body) {
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
    note(card, body.data.length ? "" : "No visits in this range yet.");
    if (!body.data.length || typeof window.uPlot !== "function") return;
    var colours = ["#2f6fde", "#e8833a"];
    chart = new window.uPlot(
      {
        width: Math.max(280, box.clientWidth),
        height: 260,
        series: [{}].concat(
          wanted.map(function (name, i) {
            return {
              label: heading(name),
              stroke: colours[i % colours.length],
              width: 2,
              fill: i === 0 ? "rgba(47,111,222,0.08)" : undefined,
              value: function (u, v) { return formatNumber(v); },
            };
          })
        ),
        axes: [
          hourly ? {} : { incrs: DAY_STEPS, values: function (u, ticks) { return ticks.map(shortDay); } },
          { values: function (u, ticks) { return ticks.map(formatNumber); } },
        ],
        scales: { x: { time: true } },
        tzDate: function (ts) { return window.uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      },
      [times].concat(series),
      box
    );
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

  function renderTable(card, body) {
    card.hidden = !body;
    if (!body) return;
    var table = card.querySelector("table");
    var head = table.tHead;
    var rows = table.tBodies[0];
    head.replaceChildren();
    rows.replaceChildren();
    var shown = tableColumns(body);
    var numeric = body.columns.map(function (_, i) { return isNumericColumn(body.data, i); });
    var barColumn = shown.find(function (i) { return numeric[i]; });
    var top = 0;
    body.data.forEach(function (row) { if (barColumn !== undefined) top = Math.max(top, Number(row[barColumn]) || 0); });

    var headRow = document.createElement("tr");
    shown.forEach(function (i) {
      var cell = document.createElement("th");
      cell.textContent = heading(body.columns[i]);
      if (numeric[i]) cell.className = "num";
      headRow.appendChild(cell);
    });
    head.appendChild(headRow);

    body.data.slice(0, TABLE_ROWS).forEach(function (row) {
      var tr = document.createElement("tr");
      shown.forEach(function (i) {
        var cell = document.createElement("td");
        if (numeric[i]) {
          cell.className = "num";
          cell.textContent = formatNumber(row[i]);
        } else {
          cell.textContent = row[i] === null || row[i] === "" ? "(none)" : String(row[i]);
          cell.title = cell.textContent;
        }
        tr.appendChild(cell);
      });
      if (barColumn !== undefined && top > 0) {
        var share = Math.round(((Number(row[barColumn]) || 0) / top) * 100);
        tr.style.setProperty("--share", share + "%");
        tr.className = "bar";
      }
      rows.appendChild(tr);
    });
    note(card, body.data.length ? "" : "Nothing in this range.");
  }

  // Every label column (but a site column with one site in it), then at most two counts:
  // visitors and page views when the report has them.
  function tableColumns(body) {
    var labels = [];
    var counts = [];
    body.columns.forEach(function (column, i) {
      if (isNumericColumn(body.data, i)) counts.push(i);
      else if (!(column === "site" && sameEverywhere(body.data, i))) labels.push(i);
    });
    var rank = function (i) {
      var place = PREFERRED_COUNTS.indexOf(body.columns[i]);
      return place < 0 ? PREFERRED_COUNTS.length + i : place;
    };
    var chosen = counts.slice().sort(function (a, b) { return rank(a) - rank(b); }).slice(0, 2);
    return labels.slice(0, TABLE_COLUMNS - 2).concat(chosen.sort(function (a, b) { return a - b; }));
  }

  function heading(column) {
    var text = String(column).replace(/_/g, " ");
    return text.charAt(0).toUpperCase() + text.slice(1);
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

  function load(state) {
    showState(state);
    root.dataset.loaded = "false";
    var problem = document.getElementById("problem");
    problem.hidden = true;
    var jobs = [];
    jobs.push(
      fetchReport("public", "summary", state).then(
        function (body) { renderSummary(body); showRange(body); },
        function (error) { renderSummary(null); problem.textContent = "The summary could not be loaded: " + error.message; problem.hidden = false; }
      )
    );
    jobs.push(
      fetchReport("public", "timeseries", state, { granularity: rangeDays(state) <= 2 ? "hour" : "day" }).then(renderChart, function (error) {
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
        var state = readState();
        go({ days: Number(button.dataset.days), from: null, to: null, site: state.site });
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
        state = { days: null, from: from, to: to, site: state.site };
      }
      go(state);
    });
    document.getElementById("site").addEventListener("change", function () { form.requestSubmit(); });
    window.addEventListener("resize", function () {
      var box = document.getElementById("chart");
      if (chart) chart.setSize({ width: Math.max(280, box.clientWidth), height: 260 });
    });
    load(readState());
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
