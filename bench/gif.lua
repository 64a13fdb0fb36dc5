-- A page view as cmb.js sends it through the GIF pixel, with a browser's headers.
wrk.method = "GET"
wrk.path = "/1.gif?v=1&t=visit&cid=6f1c2a9e-0d3b-4c55-9a51-3b2c7e4d8f10&ul=en-GB&sd=24-bit"
  .. "&sr=1920x1080&vp=1536x864&de=UTF-8"
  .. "&dl=https%3A%2F%2Fwww.example.com%2Fblog%2F2024%2Fwhy-logs%3Futm_source%3Dnewsletter%26utm_medium%3Demail"
  .. "&dt=Why%20we%20keep%20raw%20logs%20%E2%80%94%20Example%20Blog"
  .. "&dr=https%3A%2F%2Fwww.google.com%2F"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
  .. "Chrome/124.0.0.0 Safari/537.36"
wrk.headers["Referer"] = "https://www.example.com/blog/2024/why-logs?utm_source=newsletter&utm_medium=email"
wrk.headers["Accept-Language"] = "en-GB,en;q=0.9,fr;q=0.8"
wrk.headers["Accept"] = "image/avif,image/webp,image/apng,image/*,*/*;q=0.8"

-- One JSON line at the end for bench/collector.py to read.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"non2xx":%d,"errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
