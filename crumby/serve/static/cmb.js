/* crumby tracker (placeholder, replaced by the full tracker) */
(function (w, d) {
  var o = {/*CRUMBY_OPTIONS*/};
  var base = o.endpoint || (d.currentScript ? new URL(d.currentScript.src).origin : "");
  var cmb = w.cmb = w.cmb || {};
  function send(p) {
    var q = [];
    for (var k in p) if (p[k] != null) q.push(k + "=" + encodeURIComponent(p[k]));
    new Image().src = base + "/" + Math.round(2147483647 * Math.random()) + ".gif?" + q.join("&");
  }
  cmb.event = function (n, v) { send({v: 1, t: "event", cid: "x", dl: location.href, dt: d.title, en: n, ev: v}); };
  send({v: 1, t: "visit", cid: "x", dl: location.href, dt: d.title, dr: d.referrer});
})(window, document);
