// runlog UI: one static app over the JSON API (/api/...). Hand-written, no dependencies, no network beyond this server.
// Pages: "/" (runs table), "/runs/<run>" (one run), "/compare?runs=a,b" (series of several runs overlaid).
// Every chart publishes what it drew in window.runlogCharts[title] and in its canvas's data-points attribute, so
// tests (and curious users) can read the drawn points back.
"use strict";

// Where the UI is mounted: "" for `runlog ui`, "/ui" under `runlog serve`. The server writes it into <html data-base>.
const BASE = document.documentElement.dataset.base || "";
const COLORS = ["#2f6fde", "#e4572e", "#29a36a", "#9b59b6", "#f0a202", "#17a2b8", "#d63384", "#6c757d"];
window.runlogCharts = {};

// ---------- helpers ----------
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
  return e;
}
async function api(path) {
  const r = await fetch(BASE + path, { cache: "no-store", credentials: "same-origin" });
  let body = null;
  try { body = await r.json(); } catch (_) { body = null; }
  if (!r.ok) { const e = new Error((body && body.error) || ("HTTP " + r.status)); e.body = body; throw e; }
  return body;
}
function q(params) {
  return Object.entries(params).filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => encodeURIComponent(k) + "=" + encodeURIComponent(v)).join("&");
}
function fmtTime(ms) {
  if (ms === null || ms === undefined) return "";
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
function fmtDur(ms) {
  if (ms === null || ms === undefined) return "";
  const s = Math.floor(ms / 1000);
  if (ms < 1000) return ms + "ms";
  if (s < 60) return (ms / 1000).toFixed(1) + "s";
  if (s < 3600) return Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
  if (s < 86400) return Math.floor(s / 3600) + "h" + String(Math.floor(s % 3600 / 60)).padStart(2, "0") + "m";
  return Math.floor(s / 86400) + "d" + String(Math.floor(s % 86400 / 3600)).padStart(2, "0") + "h";
}
function fmtNum(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "string") return v;
  if (typeof v !== "number") return String(v);
  if (!isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-4 || a >= 1e6)) return v.toExponential(3);
  return String(parseFloat(v.toPrecision(6)));
}
// Axis labels: large round numbers as 20k, 1.5M.
function fmtTick(v) {
  const a = Math.abs(v);
  if (a >= 1e4 && a < 1e15) {
    for (const [d, u] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
      if (a >= d) return String(parseFloat((v / d).toPrecision(4))) + u;
    }
  }
  return fmtNum(v);
}
function statusBadge(s) { return el("span", { class: "status " + s }, s); }
function setMain(...kids) { const m = document.getElementById("main"); m.replaceChildren(...kids.filter((k) => k !== null && k !== undefined)); }
function errorPage(title, message) {
  document.title = title + " – runlog";
  setMain(el("div", { class: "error-page", id: "error" },
    el("h1", {}, title), el("p", {}, message), el("p", {}, el("a", { href: BASE + "/" }, "← all runs"))));
  markReady();
}

// Milestones of the page's first load (ms since navigation start) in <body data-timings>, for the benchmarks.
const TIMINGS = {};
function mark(what) {
  if (what in TIMINGS) return;
  TIMINGS[what] = Math.round(performance.now());
  document.body.dataset.timings = JSON.stringify(TIMINGS);
}
// Marks the page as drawn; readyMs (ms since navigation start) is what the page-load benchmark reads.
function markReady() {
  document.body.dataset.readyMs = String(Math.round(performance.now()));
  document.body.dataset.ready = "1";
}

// ---------- chart ----------
// A line chart on a canvas: several series, hover readout, drag to zoom (double-click resets), log scale and
// TensorBoard-style smoothing (exponential moving average with debiasing). Zooming asks `onZoom(x0, x1)` for more
// detailed points of that step range; the server downsamples.
class Chart {
  constructor(title, opts) {
    this.title = title;
    this.opts = Object.assign({ xLabel: "step", onZoom: null }, opts || {});
    this.series = [];
    this.view = null; // [x0, x1] when zoomed
    this.smoothing = 0;
    this.logY = false;
    this.canvas = el("canvas", { "data-title": title, "data-points": "[]" });
    this.readout = el("div", { class: "readout" });
    this.legend = el("div", { class: "legend" });
    this.root = el("div", { class: "chart" }, this.canvas, this.readout);
    this.node = el("div", {}, this.root, this.legend);
    this.hover = null;
    this.drag = null;
    this.canvas.addEventListener("mousemove", (e) => this.onMove(e));
    this.canvas.addEventListener("mouseleave", () => { this.hover = null; this.drag = null; this.readout.style.display = "none"; this.draw(); });
    this.canvas.addEventListener("mousedown", (e) => { this.drag = { x0: this.offX(e), x1: this.offX(e) }; });
    this.canvas.addEventListener("mouseup", (e) => this.onUp(e));
    this.canvas.addEventListener("dblclick", () => this.resetZoom());
    new ResizeObserver(() => this.draw()).observe(this.canvas);
  }
  offX(e) { return e.clientX - this.canvas.getBoundingClientRect().left; }
  setSeries(series) {
    // series: [{label, color, points: [[x, y|null], ...], total, downsampled}]
    this.series = series;
    const drawn = series.map((s) => ({ label: s.label, points: s.points, count: s.total, downsampled: !!s.downsampled }));
    window.runlogCharts[this.title] = { series: drawn, logY: this.logY, smoothing: this.smoothing, view: this.view };
    this.canvas.dataset.points = JSON.stringify(series.length ? series[0].points : []);
    this.canvas.dataset.series = String(series.length);
    this.legend.replaceChildren(...(series.length > 1 || this.opts.legend ? series.map((s) => el("span", {}, el("i", { style: "background:" + s.color }), s.label)) : []));
    this.draw();
  }
  setOptions(o) {
    if ("smoothing" in o) this.smoothing = o.smoothing;
    if ("logY" in o) this.logY = o.logY;
    const g = window.runlogCharts[this.title];
    if (g) { g.logY = this.logY; g.smoothing = this.smoothing; }
    this.draw();
  }
  resetZoom() {
    if (!this.view) return;
    this.view = null;
    if (this.opts.onZoom) this.opts.onZoom(null, null); else this.draw();
  }
  smooth(points) {
    const w = this.smoothing;
    if (!(w > 0)) return points;
    let last = 0, n = 0;
    return points.map(([x, y]) => {
      if (y === null || !isFinite(y)) return [x, y];
      last = last * w + (1 - w) * y;
      n += 1;
      return [x, last / (1 - Math.pow(w, n))];
    });
  }
  layout() {
    const r = this.canvas.getBoundingClientRect();
    return { w: r.width, h: r.height, l: 58, r: 12, t: 10, b: 26 };
  }
  bounds() {
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const s of this.series) for (const [x, lo, hi] of (s.band || [])) {
      if (this.view && (x < this.view[0] || x > this.view[1])) continue;
      for (const y of [lo, hi]) if (y !== null && isFinite(y) && !(this.logY && y <= 0)) { if (y < y0) y0 = y; if (y > y1) y1 = y; }
    }
    for (const s of this.series) for (const [x, y] of s.points) {
      if (x < x0) x0 = x; if (x > x1) x1 = x;
      if (this.view && (x < this.view[0] || x > this.view[1])) continue;
      if (y === null || !isFinite(y) || (this.logY && y <= 0)) continue;
      if (y < y0) y0 = y; if (y > y1) y1 = y;
    }
    if (this.view) { x0 = this.view[0]; x1 = this.view[1]; }
    if (!isFinite(x0)) { x0 = 0; x1 = 1; }
    if (x0 === x1) { x0 -= 1; x1 += 1; }
    if (!isFinite(y0)) { y0 = this.logY ? 1 : 0; y1 = this.logY ? 10 : 1; }
    if (this.logY) { y0 = Math.log10(y0); y1 = Math.log10(y1); }
    if (y0 === y1) { y0 -= 0.5; y1 += 0.5; }
    const pad = (y1 - y0) * 0.05;
    return { x0, x1, y0: y0 - pad, y1: y1 + pad };
  }
  ticks(a, b, n) {
    const span = b - a, step0 = span / n, mag = Math.pow(10, Math.floor(Math.log10(step0)));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => span / s <= n) || 10 * mag;
    const out = [];
    for (let v = Math.ceil(a / step) * step; v <= b + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    return out;
  }
  // Y ticks in axis units (log10 of the value on a log scale): decades (with 2x and 5x when few) over a decade or
  // more, else round values.
  yTicks(B) {
    if (!this.logY) return this.ticks(B.y0, B.y1, 5);
    if (B.y1 - B.y0 < 1) {
      const a = Math.pow(10, B.y0), b = Math.pow(10, B.y1);
      return this.ticks(a, b, 5).filter((v) => v > 0).map(Math.log10);
    }
    const out = [];
    for (let k = Math.floor(B.y0); k <= Math.ceil(B.y1); k++) {
      const mults = B.y1 - B.y0 < 3 ? [1, 2, 5] : [1];
      for (const m of mults) { const t = k + Math.log10(m); if (t >= B.y0 && t <= B.y1) out.push(t); }
    }
    return out;
  }
  draw() {
    const c = this.canvas, L = this.layout();
    if (!L.w) return;
    const dpr = window.devicePixelRatio || 1;
    c.width = Math.round(L.w * dpr); c.height = Math.round(L.h * dpr);
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, L.w, L.h);
    const B = this.bounds();
    this.B = B;
    const pw = L.w - L.l - L.r, ph = L.h - L.t - L.b;
    const X = (x) => L.l + (x - B.x0) / (B.x1 - B.x0) * pw;
    const Y = (y) => L.t + ph - ((this.logY ? Math.log10(y) : y) - B.y0) / (B.y1 - B.y0) * ph;
    this.X = X;
    g.font = "11px system-ui, sans-serif"; g.fillStyle = "#6b7385"; g.strokeStyle = "#eceef2"; g.lineWidth = 1;
    g.textAlign = "right"; g.textBaseline = "middle";
    for (const t of this.yTicks(B)) {
      const y = L.t + ph - (t - B.y0) / (B.y1 - B.y0) * ph;
      g.beginPath(); g.moveTo(L.l, y); g.lineTo(L.l + pw, y); g.stroke();
      g.fillText(fmtTick(this.logY ? parseFloat(Math.pow(10, t).toPrecision(6)) : t), L.l - 5, y);
    }
    g.textAlign = "center"; g.textBaseline = "top";
    for (const t of this.ticks(B.x0, B.x1, Math.max(2, Math.floor(pw / 70)))) {
      const x = X(t);
      g.beginPath(); g.moveTo(x, L.t); g.lineTo(x, L.t + ph); g.stroke();
      g.fillText((this.opts.xFormat || fmtTick)(t), x, L.t + ph + 5);
    }
    g.strokeStyle = "#c8ccd5"; g.strokeRect(L.l, L.t, pw, ph);
    g.save(); g.beginPath(); g.rect(L.l, L.t, pw, ph); g.clip();
    // Bands (min/max of a group) under the lines, translucent in the series' colour.
    for (const s of this.series) {
      const band = (s.band || []).filter(([, lo, hi]) => lo !== null && hi !== null && isFinite(lo) && isFinite(hi) && !(this.logY && lo <= 0));
      if (band.length < 2) continue;
      g.globalAlpha = 0.15; g.fillStyle = s.color; g.beginPath();
      band.forEach(([x, , hi], i) => { if (i) g.lineTo(X(x), Y(hi)); else g.moveTo(X(x), Y(hi)); });
      for (let i = band.length - 1; i >= 0; i--) g.lineTo(X(band[i][0]), Y(band[i][1]));
      g.closePath(); g.fill();
    }
    g.globalAlpha = 1;
    for (const s of this.series) {
      const smoothed = this.smooth(s.points);
      const layers = this.smoothing > 0 ? [[s.points, 0.25], [smoothed, 1]] : [[s.points, 1]];
      for (const [pts, alpha] of layers) {
        g.globalAlpha = alpha; g.strokeStyle = s.color; g.lineWidth = 1.5; g.beginPath();
        let pen = false;
        for (const [x, y] of pts) {
          if (y === null || !isFinite(y) || (this.logY && y <= 0)) { pen = false; continue; }
          const px = X(x), py = Y(y);
          if (pen) g.lineTo(px, py); else g.moveTo(px, py);
          pen = true;
        }
        g.stroke();
        if (pts.length < 60) {
          g.fillStyle = s.color;
          for (const [x, y] of pts) if (y !== null && isFinite(y) && !(this.logY && y <= 0)) { g.beginPath(); g.arc(X(x), Y(y), 2.2, 0, 7); g.fill(); }
        }
      }
    }
    g.globalAlpha = 1;
    if (this.hover) {
      g.strokeStyle = "#888"; g.setLineDash([3, 3]); g.beginPath(); g.moveTo(this.hover.px, L.t); g.lineTo(this.hover.px, L.t + ph); g.stroke(); g.setLineDash([]);
      for (const h of this.hover.hits) { g.fillStyle = h.color; g.beginPath(); g.arc(X(h.x), Y(h.y), 4, 0, 7); g.fill(); }
    }
    if (this.drag && Math.abs(this.drag.x1 - this.drag.x0) > 2) {
      g.fillStyle = "rgba(47,111,222,0.12)";
      g.fillRect(Math.min(this.drag.x0, this.drag.x1), L.t, Math.abs(this.drag.x1 - this.drag.x0), ph);
    }
    g.restore();
    if (!this.series.length || this.series.every((s) => !s.points.length)) {
      g.fillStyle = "#6b7385"; g.textAlign = "center"; g.fillText("no data", L.l + pw / 2, L.t + ph / 2);
    }
  }
  // The drawn series as CSV: one row per point, the x column named by the axis.
  csv() {
    const quote = (v) => /[",\n]/.test(String(v)) ? '"' + String(v).replace(/"/g, '""') + '"' : String(v);
    const rows = ["series," + quote(this.opts.xLabel) + ",value"];
    for (const s of this.series) for (const [x, y] of s.points) rows.push(quote(s.label) + "," + x + "," + (y === null ? "" : y));
    return rows.join("\n") + "\n";
  }
  nearest(points, x) {
    let lo = 0, hi = points.length - 1;
    if (hi < 0) return null;
    while (lo < hi) { const m = (lo + hi) >> 1; if (points[m][0] < x) lo = m + 1; else hi = m; }
    if (lo > 0 && Math.abs(points[lo - 1][0] - x) <= Math.abs(points[lo][0] - x)) lo -= 1;
    return points[lo];
  }
  onMove(e) {
    const px = this.offX(e);
    if (this.drag) { this.drag.x1 = px; }
    if (!this.B) return;
    const L = this.layout(), pw = L.w - L.l - L.r;
    const x = this.B.x0 + (px - L.l) / pw * (this.B.x1 - this.B.x0);
    const hits = [];
    for (const s of this.series) {
      const raw = this.nearest(s.points, x);
      if (!raw || raw[1] === null || !isFinite(raw[1]) || (this.logY && raw[1] <= 0)) continue;
      const hit = { label: s.label, color: s.color, x: raw[0], y: raw[1], smoothed: null };
      if (this.smoothing > 0) {
        const sm = this.smooth(s.points);
        const i = s.points.indexOf(raw);
        if (i >= 0 && sm[i][1] !== null && isFinite(sm[i][1])) { hit.smoothed = sm[i][1]; hit.y = sm[i][1]; hit.raw = raw[1]; }
      }
      hits.push(hit);
    }
    this.hover = { px, hits };
    if (hits.length) {
      this.readout.replaceChildren(...hits.map((h) => el("div", {}, el("b", {}, this.opts.xLabel + " " + (this.opts.xFormat || fmtNum)(h.x)), "  ", this.series.length > 1 ? h.label + ": " : "",
        h.smoothed === null ? fmtNum(h.y) : fmtNum(h.raw) + " (smoothed " + fmtNum(h.smoothed) + ")")));
      this.readout.style.display = "block";
      this.readout.style.left = Math.min(px + 12, L.w - 160) + "px";
      this.readout.style.top = "8px";
    } else this.readout.style.display = "none";
    this.draw();
  }
  onUp(e) {
    const d = this.drag; this.drag = null;
    if (!d || Math.abs(d.x1 - d.x0) < 6 || !this.B) { this.draw(); return; }
    const L = this.layout(), pw = L.w - L.l - L.r;
    const toX = (px) => this.B.x0 + (px - L.l) / pw * (this.B.x1 - this.B.x0);
    const a = toX(Math.min(d.x0, d.x1)), b = toX(Math.max(d.x0, d.x1));
    this.view = [a, b];
    if (this.opts.onZoom) this.opts.onZoom(Math.floor(a), Math.ceil(b)); else this.draw();
  }
}

// Controls shared by all charts of a page: smoothing and log scale.
function chartControls(charts) {
  const label = el("span", { class: "dim" }, "0");
  const slider = el("input", { type: "range", min: "0", max: "0.99", step: "0.01", value: "0", id: "smoothing" });
  slider.addEventListener("input", () => { label.textContent = slider.value; charts.forEach((c) => c.setOptions({ smoothing: parseFloat(slider.value) })); });
  const log = el("input", { type: "checkbox", id: "logscale" });
  log.addEventListener("change", () => charts.forEach((c) => c.setOptions({ logY: log.checked })));
  const reset = el("button", { onclick: () => charts.forEach((c) => c.resetZoom()) }, "Reset zoom");
  const xaxis = el("select", { id: "xaxis", title: "x-axis of the scalar charts" }, ...[["step", "x: step"], ["wall", "x: wall time"], ["relative", "x: relative time"]].map(([v, t]) => el("option", { value: v }, t)));
  xaxis.addEventListener("change", () => charts.forEach((c) => c.setXMode && c.setXMode(xaxis.value)));
  return el("div", { class: "toolbar" }, "Smoothing", slider, label, el("label", {}, log, " log scale"), xaxis, reset,
    el("span", { class: "dim" }, "drag on a chart to zoom, double-click to reset"));
}

// A scalar chart for one metric over several runs (one run on a run page).
function fmtClock(ms) {
  const d = new Date(ms), p = (n) => String(n).padStart(2, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
function fmtRel(sec) {
  if (Math.abs(sec) < 60) return parseFloat(sec.toPrecision(3)) + "s";
  return fmtDur(Math.round(sec * 1000));
}
const X_MODES = {
  step: { label: "step", format: null },
  wall: { label: "time", format: fmtClock },
  relative: { label: "relative (s)", format: fmtRel },
};
// A scalar chart for one metric over several runs (one run on a run page). The x-axis is the step, the wall time of
// each point, or the time since the series' first point (TensorBoard's three); times come with the points
// (/api/series?x=time).
function scalarChart(name, runs, legend) {
  let chart;
  let mode = "step";
  const t0 = {};
  const load = async (from, to) => {
    const width = Math.max(200, Math.round(chart.canvas.getBoundingClientRect().width || 600));
    const timed = mode !== "step";
    const res = await Promise.all(runs.map((r) => api("/api/series?" + q({ run: r.id, name, from, to, points: width, x: timed ? "time" : undefined })).catch(() => null)));
    chart.setSeries(res.map((s, i) => {
      if (!s) return null;
      const id = runs[i].id;
      if (timed && from === null && s.points.length) t0[id] = Math.min(...s.points.map((p) => p[2]));
      const xOf = (p) => mode === "step" ? p[0] : mode === "wall" ? p[2] : (p[2] - (t0[id] ?? p[2])) / 1000;
      return { label: runs[i].label, color: runs[i].color, points: s.points.map((p) => [xOf(p), p[1]]), steps: s.points.map((p) => p[0]), total: s.count, downsampled: s.downsampled };
    }).filter(Boolean));
    if (window.runlogCharts[name]) window.runlogCharts[name].x = mode;
  };
  // Zooming asks for a step range; in time modes the dragged time range is turned into the steps drawn there.
  const zoom = (a, b) => {
    if (a === null) return load(null, null);
    if (mode === "step") return load(a, b);
    let lo = Infinity, hi = -Infinity;
    for (const s of chart.series) s.points.forEach(([x], k) => { if (x >= a && x <= b) { lo = Math.min(lo, s.steps[k]); hi = Math.max(hi, s.steps[k]); } });
    if (!isFinite(lo)) { chart.draw(); return; }
    return load(lo, hi);
  };
  chart = new Chart(name, { onZoom: zoom, legend: !!legend });
  chart.reload = () => {
    if (!chart.view) return load(null, null);
    return zoom(chart.view[0], chart.view[1]);
  };
  chart.setXMode = (m) => {
    mode = m; chart.view = null;
    chart.opts.xLabel = X_MODES[m].label; chart.opts.xFormat = X_MODES[m].format;
    return load(null, null);
  };
  return chart;
}

// A two-variable chart for a row metric or a table: pick the x and y columns.
function xyChart(name, fetchData) {
  const chart = new Chart(name, { xLabel: "x" });
  const xs = el("select", {}), ys = el("select", {});
  let data = null;
  const numeric = (i) => data.rows.some((r) => typeof r[i] === "number");
  const render = () => {
    const xi = parseInt(xs.value, 10), yi = parseInt(ys.value, 10);
    const pts = data.rows.map((r, k) => [xi < 0 ? k : r[xi], r[yi]]).filter(([x, y]) => typeof x === "number" && (typeof y === "number" || y === null));
    pts.sort((a, b) => a[0] - b[0]);
    chart.opts.xLabel = xi < 0 ? "row" : data.columns[xi];
    chart.setSeries([{ label: data.columns[yi], color: COLORS[0], points: pts, total: pts.length }]);
  };
  const load = async () => {
    data = await fetchData();
    const keepX = xs.value, keepY = ys.value;
    const idx = data.columns.map((_, i) => i).filter(numeric);
    xs.replaceChildren(el("option", { value: "-1" }, "(row index)"), ...idx.map((i) => el("option", { value: String(i) }, data.columns[i])));
    ys.replaceChildren(...idx.map((i) => el("option", { value: String(i) }, data.columns[i])));
    if (keepX) xs.value = keepX; else xs.value = idx.length > 1 ? String(idx[0]) : "-1";
    if (keepY) ys.value = keepY; else ys.value = String(idx.length > 1 ? idx[1] : (idx[0] ?? 0));
    if (idx.length) render();
  };
  xs.addEventListener("change", render); ys.addEventListener("change", render);
  chart.reload = load;
  chart.controls = el("div", { class: "toolbar" }, "x", xs, "y", ys);
  return chart;
}

// Download links of a chart: its drawn series as CSV, its canvas as PNG. The link's address is made on click, so it
// always holds what is on screen.
function downloads(title, csv, canvas) {
  const file = title.replace(/[^A-Za-z0-9._-]+/g, "_") || "chart";
  const a = el("a", { class: "dl", "data-csv": title, href: "#", download: file + ".csv", title: "download the drawn points as CSV" }, "CSV");
  a.addEventListener("click", () => { a.href = URL.createObjectURL(new Blob([csv()], { type: "text/csv" })); });
  const b = el("a", { class: "dl", "data-png": title, href: "#", download: file + ".png", title: "download the chart as PNG" }, "PNG");
  b.addEventListener("click", () => { b.href = canvas.toDataURL("image/png"); });
  return el("span", { class: "downloads" }, a, b);
}

// Rows or tables of several runs on one chart: the columns every run has, one series per run.
function compareXY(title, runs, fetchOne) {
  const chart = new Chart(title, { xLabel: "x", legend: true });
  const xs = el("select", {}), ys = el("select", {});
  let data = [];
  const render = () => {
    const xc = xs.value, yc = ys.value;
    chart.opts.xLabel = xc || "row";
    chart.setSeries(data.map((d, k) => {
      const xi = d.columns.indexOf(xc), yi = d.columns.indexOf(yc);
      const pts = d.rows.map((r, j) => [xi < 0 ? j : r[xi], r[yi]]).filter(([x, y]) => typeof x === "number" && (typeof y === "number" || y === null));
      pts.sort((a, b) => a[0] - b[0]);
      return { label: runs[k].label, color: runs[k].color, points: pts, total: pts.length };
    }));
  };
  chart.reload = async () => {
    data = await Promise.all(runs.map((r) => fetchOne(r).catch(() => ({ columns: [], rows: [] }))));
    const numeric = (d, c) => { const i = d.columns.indexOf(c); return d.rows.some((r) => typeof r[i] === "number"); };
    const common = data.length ? data[0].columns.filter((c) => data.every((d) => d.columns.includes(c) && numeric(d, c))) : [];
    const keepX = xs.value, keepY = ys.value;
    xs.replaceChildren(el("option", { value: "" }, "(row index)"), ...common.map((c) => el("option", { value: c }, c)));
    ys.replaceChildren(...common.map((c) => el("option", { value: c }, c)));
    xs.value = keepX && common.includes(keepX) ? keepX : (common.length > 1 ? common[0] : "");
    ys.value = keepY && common.includes(keepY) ? keepY : (common.length > 1 ? common[1] : (common[0] || ""));
    if (common.length) render(); else chart.setSeries([]);
  };
  xs.addEventListener("change", render); ys.addEventListener("change", render);
  chart.controls = el("div", { class: "toolbar" }, "x", xs, "y", ys);
  return chart;
}

function chartCard(title, chart, extra, description) {
  return el("div", { class: "card" }, el("h3", { title }, downloads(title, () => chart.csv(), chart.canvas), title), description ? el("div", { class: "dim" }, description) : null, extra || null, chart.node);
}

// ---------- runs table ----------
// The table is filtered and sorted on the server (/api/runs?filter=&sort=, MLflow's search syntax, the same code as
// `runlog ls --filter --sort`), which also places every child run right under its parent; children are folded under
// a toggle by default. Filter, sort, chosen columns and unfolded runs live in the address (?filter=&sort=&cols=&open=).
// The quick text box, the experiment and status selects narrow what came back, in the page.
const ROW_CAP = 300;
const SORT_KEYS = { name: "attributes.name", experiment: "attributes.experiment", status: "attributes.status", started_at: "attributes.start_time", duration_ms: "attributes.duration" };
function keyOf(col) {
  // A column id ("m:loss", "p:lr", "t:stage", or an attribute) as a search key with the name backticked.
  const tick = (n) => "`" + n.replace(/`/g, "") + "`";
  if (col.startsWith("m:")) return "metrics." + tick(col.slice(2));
  if (col.startsWith("p:")) return "params." + tick(col.slice(2));
  if (col.startsWith("t:")) return "tags." + tick(col.slice(2));
  return SORT_KEYS[col] || col;
}
function caretLine(expr, column) {
  return expr + "\n" + " ".repeat(Math.max(0, column - 1)) + "^";
}
async function runsPage(experiment) {
  document.title = experiment ? experiment + " – runlog" : "runs – runlog";
  const sweep = experiment ? sweepPanel(experiment) : null;
  const url = new URLSearchParams(location.search);
  const state = {
    filter: url.get("filter") || "", sortCol: url.get("sort_col") || "started_at", dir: url.get("dir") === "asc" ? 1 : -1,
    text: "", status: "", experiment: experiment || url.get("experiment") || "",
    cols: url.get("cols") ? url.get("cols").split(",").filter(Boolean) : null,
    open: new Set((url.get("open") || "").split(",").filter(Boolean)),
  };
  let runs = [];
  const selected = new Set();
  const saveUrl = () => {
    const p = {};
    if (state.filter) p.filter = state.filter;
    if (state.sortCol !== "started_at") p.sort_col = state.sortCol;
    if (state.dir > 0) p.dir = "asc";
    if (state.cols) p.cols = state.cols.join(",");
    if (state.open.size) p.open = [...state.open].join(",");
    if (state.experiment && !experiment) p.experiment = state.experiment;
    const s = q(p);
    history.replaceState(null, "", location.pathname + (s ? "?" + s : ""));
  };
  const search = el("input", { type: "text", id: "search", placeholder: "search: metrics.loss < 0.3 and params.lr = '0.01'", spellcheck: "false", style: "min-width:28em" });
  search.value = state.filter;
  const searchError = el("pre", { id: "search-error", class: "search-error", style: "display:none" });
  const text = el("input", { type: "text", placeholder: "filter: name, experiment, id, tag", id: "filter" });
  const status = el("select", { id: "status-filter" }, el("option", { value: "" }, "any status"), ...["running", "completed", "failed", "cancelled", "crashed"].map((s) => el("option", { value: s }, s)));
  const exp = el("select", { id: "experiment-filter" }, el("option", { value: "" }, "all experiments"));
  const compare = el("button", { id: "compare", disabled: "" }, "Compare selected");
  compare.addEventListener("click", () => { location.href = BASE + "/compare?" + q({ runs: [...selected].join(",") }); });
  const expLink = el("a", { id: "experiment-link", style: "display:none" }, "experiment page →");
  const expandAll = el("button", { id: "expand-all" }, "Unfold all");
  const colsBox = el("details", { id: "columns", class: "columns" }, el("summary", {}, "Columns"));
  const tbody = el("tbody", {});
  const thead = el("thead", {});
  const count = el("span", { class: "dim", id: "count" });
  const showAll = el("button", { id: "show-all", style: "display:none" });
  showAll.addEventListener("click", () => { state.all = true; render(); });
  let metricCols = [];
  let allCols = [];
  const value = (r, key) => key.startsWith("m:") ? (r.metrics[key.slice(2)] || {}).last
    : key.startsWith("p:") ? r.params[key.slice(2)] : key.startsWith("t:") ? r.tags[key.slice(2)] : r[key];
  const chosen = () => state.cols || metricCols;
  const cols = () => [
    ["name", "Name"], ["experiment", "Experiment"], ["status", "Status"], ["started_at", "Started"], ["duration_ms", "Duration"],
    ...chosen().map((c) => [c, c.startsWith("m:") ? c.slice(2) : c.startsWith("p:") ? "params." + c.slice(2) : "tags." + c.slice(2)]),
  ];
  const renderHead = () => thead.replaceChildren(el("tr", {}, el("th", {}, ""), ...cols().map(([k, label]) => {
    const numeric = k.startsWith("m:") || k.startsWith("p:") || k === "duration_ms";
    const th = el("th", { class: numeric ? "num" : "", "data-key": k }, label + (state.sortCol === k ? (state.dir > 0 ? " ▲" : " ▼") : ""));
    th.addEventListener("click", () => { if (state.sortCol === k) state.dir = -state.dir; else { state.sortCol = k; state.dir = 1; } load(); });
    return th;
  })));
  const renderColumns = () => {
    const boxes = allCols.map((c) => {
      const b = el("input", { type: "checkbox", "data-col": c });
      b.checked = chosen().includes(c);
      b.addEventListener("change", () => {
        const now = chosen().filter((x) => x !== c);
        if (b.checked) now.push(c);
        state.cols = now; saveUrl(); render();
      });
      return el("label", {}, b, " " + (c.startsWith("m:") ? "metrics." : c.startsWith("p:") ? "params." : "tags.") + c.slice(2));
    });
    colsBox.replaceChildren(el("summary", {}, "Columns"), el("div", { class: "colgrid" }, ...boxes));
  };
  const render = () => {
    renderHead();
    const t = state.text.toLowerCase();
    const direct = (r) => (!state.status || r.status === state.status) && (!state.experiment || r.experiment === state.experiment) &&
      (!t || [r.name, r.experiment, r.id, ...Object.entries(r.tags).map(([k, v]) => k + "=" + v)].some((s) => s.toLowerCase().includes(t)));
    // The server sends runs in tree order with depths; a run is hidden while any shown ancestor is folded.
    const rows = [];
    const path = []; // open state of the ancestors of the current position: [{depth, open}]
    let shownCount = 0;
    for (const r of runs) {
      while (path.length && path[path.length - 1].depth >= r.depth) path.pop();
      const hidden = path.some((p) => !p.open);
      const isOpen = state.open.has(r.id);
      path.push({ depth: r.depth, open: isOpen });
      if (!direct(r)) continue;
      shownCount += 1;
      if (hidden) continue;
      // Rows are made only for what is shown (see the cap below).
      rows.push(() => {
        const box = el("input", { type: "checkbox", "data-run": r.id });
        box.checked = selected.has(r.id);
        box.addEventListener("change", () => { if (box.checked) selected.add(r.id); else selected.delete(r.id); compare.disabled = selected.size < 2; });
        const fold = r.children ? el("button", { class: "fold", "data-fold": r.id, title: (isOpen ? "fold " : "unfold ") + r.children + " child runs" },
          (isOpen ? "▾ " : "▸ ") + r.children) : null;
        if (fold) fold.addEventListener("click", () => { if (state.open.has(r.id)) state.open.delete(r.id); else state.open.add(r.id); saveUrl(); render(); });
        return el("tr", { "data-run": r.id, "data-depth": String(r.depth), "data-parent": r.parent || "" }, el("td", {}, box),
          el("td", { style: "padding-left:" + (9 + 18 * r.depth) + "px" }, r.depth ? "└ " : "", el("a", { href: BASE + "/runs/" + r.id }, r.name), fold ? " " : null, fold),
          el("td", {}, el("a", { href: BASE + "/experiments/" + encodeURIComponent(r.experiment), class: "plain" }, r.experiment)),
          el("td", {}, statusBadge(r.status)), el("td", {}, fmtTime(r.started_at)),
          el("td", { class: "num" }, fmtDur(r.duration_ms)),
          ...chosen().map((c) => el("td", { class: "num" }, fmtNum(value(r, c)))));
      });
    }
    // A few hundred rows at first: laying out thousands takes the browser seconds; the rest on demand.
    const cap = state.all ? rows.length : Math.min(rows.length, ROW_CAP);
    tbody.replaceChildren(...rows.slice(0, cap).map((make) => make()));
    showAll.style.display = cap < rows.length ? "" : "none";
    showAll.textContent = "Show all " + rows.length + " rows";
    count.textContent = shownCount + " of " + total + " runs" + (rows.length < shownCount ? " (" + (shownCount - rows.length) + " folded)" : "");
    expLink.style.display = state.experiment ? "" : "none";
    expLink.href = BASE + "/experiments/" + encodeURIComponent(state.experiment);
  };
  let total = 0;
  let seq = 0;
  const fetchRuns = () => api("/api/runs?" + q({ filter: state.filter, sort: keyOf(state.sortCol) + (state.dir < 0 ? " DESC" : ""), experiment }));
  const load = async (pre) => {
    const mine = ++seq;
    saveUrl();
    try {
      const got = pre || await fetchRuns();
      mark("runs");
      if (mine !== seq) return;
      runs = got;
      searchError.style.display = "none";
      search.classList.remove("bad");
    } catch (e) {
      if (mine !== seq) return;
      searchError.textContent = e.message + "\n" + (e.body && e.body.field === "filter" && e.body.column ? caretLine(state.filter, e.body.column) : "");
      searchError.style.display = "block";
      search.classList.add("bad");
      runs = [];
    }
    // The charts first: they sit above the table, and laying out a long table first would delay them.
    const charts = sweep ? sweep.update(runs, state.filter).catch((e) => console.error(e)) : null;
    render();
    mark("table");
    if (charts) await charts;
    document.body.dataset.loaded = String(mine);
  };
  // The full list once, for the experiment picker, the column choices and the count. Opened without a search, the
  // first sorted answer is that list: one request instead of two (the server reads a store on one connection, so
  // two would not overlap).
  let first = null;
  if (!state.filter) { try { first = await fetchRuns(); } catch (_) { first = null; } }
  const everything = first || await api("/api/runs?" + q({ experiment }));
  total = everything.length;
  const counts = {};
  const params = new Set(), tags = new Set();
  for (const r of everything) {
    for (const m of Object.keys(r.metrics || {})) counts[m] = (counts[m] || 0) + 1;
    for (const p of Object.keys(r.params || {})) params.add(p);
    for (const t of Object.keys(r.tags || {})) tags.add(t);
  }
  const metricNames = Object.keys(counts).sort((a, b) => counts[b] - counts[a] || a.localeCompare(b));
  metricCols = metricNames.slice(0, 5).map((m) => "m:" + m);
  allCols = [...metricNames.map((m) => "m:" + m), ...[...params].sort().map((p) => "p:" + p), ...[...tags].sort().map((t) => "t:" + t)];
  for (const e of [...new Set(everything.map((r) => r.experiment))].sort()) exp.append(el("option", { value: e }, e));
  exp.value = state.experiment;
  renderColumns();
  let typing = null;
  search.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(() => { state.filter = search.value; load(); }, 250); });
  search.addEventListener("keydown", (e) => { if (e.key === "Enter") { clearTimeout(typing); state.filter = search.value; load(); } });
  text.addEventListener("input", () => { state.text = text.value; render(); });
  status.addEventListener("change", () => { state.status = status.value; render(); });
  exp.addEventListener("change", () => { state.experiment = exp.value; saveUrl(); render(); });
  expandAll.addEventListener("click", () => {
    const all = runs.filter((r) => r.children).map((r) => r.id);
    if (all.every((id) => state.open.has(id))) state.open.clear(); else all.forEach((id) => state.open.add(id));
    saveUrl(); render();
  });
  if (experiment) { exp.style.display = "none"; }
  setMain(experiment ? el("h1", {}, el("span", { class: "dim" }, "Experiment "), experiment) : el("h1", {}, "Runs"),
    sweep ? sweep.node : null,
    sweep ? el("h2", {}, "Runs") : null,
    el("div", { class: "toolbar" }, search, el("a", { href: "#", class: "dim", title: "metrics.X, params.X, tags.X, attributes.status|name|experiment|start_time|duration; = != < <= > >= like ilike in; joined by and" }, "syntax?")),
    searchError,
    el("div", { class: "toolbar" }, text, exp, status, compare, expandAll, colsBox, expLink, count),
    total ? el("table", { id: "runs" }, thead, tbody) : el("p", { class: "dim" }, "No runs in this store yet."), showAll);
  await load(first);
  markReady();
  setInterval(async () => {
    if (!runs.some((r) => r.status === "running")) return;
    try { await load(); } catch (_) { /* keep the last good view */ }
  }, 3000);
}

// ---------- experiment (sweep) page ----------
// The runs table of one experiment (the same search, sort and folding as "/"), above it three charts of the runs it
// shows: parallel coordinates of the params against a chosen metric, a scatter of one param against the metric, and
// one metric overlaid across the runs grouped by a param (mean line, min/max band), summarized on the server
// (/api/overlay) so 1,000 runs cost a few hundred points per group.
function axisOf(name, values) {
  const present = values.filter((v) => v !== undefined && v !== null && v !== "");
  const nums = present.map((v) => typeof v === "number" ? v : (typeof v === "string" && v.trim() !== "" && isFinite(Number(v)) ? Number(v) : NaN));
  if (present.length && nums.every((n) => isFinite(n))) {
    let lo = Math.min(...nums), hi = Math.max(...nums);
    const log = lo > 0 && hi / lo >= 100;
    if (lo === hi) { lo -= 0.5; hi += 0.5; }
    return { name, kind: "number", min: lo, max: hi, log, pos: (v) => {
      const n = typeof v === "number" ? v : Number(v);
      if (v === undefined || v === null || v === "" || !isFinite(n)) return null;
      return log ? (Math.log10(n) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) : (n - lo) / (hi - lo);
    } };
  }
  const cats = [...new Set(present.map(String))].sort();
  return { name, kind: "category", values: cats, pos: (v) => {
    if (v === undefined || v === null) return null;
    const i = cats.indexOf(String(v));
    return i < 0 ? null : (cats.length === 1 ? 0.5 : i / (cats.length - 1));
  } };
}
function heat(t) { // 0 = best (blue) .. 1 = worst (red) when lower is better
  const h = 220 - 220 * Math.max(0, Math.min(1, t));
  return `hsl(${h},70%,45%)`;
}
function canvasCtx(canvas) {
  const r = canvas.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(r.width * dpr); canvas.height = Math.round(r.height * dpr);
  const g = canvas.getContext("2d"); g.setTransform(dpr, 0, 0, dpr, 0, 0); g.clearRect(0, 0, r.width, r.height);
  g.font = "11px system-ui, sans-serif";
  return { g, w: r.width, h: r.height };
}
function fmtAxis(a, t) {
  if (a.kind === "category") return "";
  const v = a.log ? Math.pow(10, Math.log10(a.min) + t * (Math.log10(a.max) - Math.log10(a.min))) : a.min + t * (a.max - a.min);
  return fmtTick(parseFloat(v.toPrecision(3)));
}
function drawParallel(canvas, axes, rows, colorAxis) {
  const { g, w, h } = canvasCtx(canvas);
  const L = 40, R = 60, T = 30, B = 22;
  const x = (i) => axes.length < 2 ? w / 2 : L + i * (w - L - R) / (axes.length - 1);
  const y = (t) => T + (1 - t) * (h - T - B);
  g.lineWidth = 1; g.globalAlpha = rows.length > 300 ? 0.35 : 0.7;
  for (const r of rows) {
    const c = r[colorAxis];
    g.strokeStyle = c === null ? "#999" : heat(c);
    g.beginPath();
    let pen = false;
    r.forEach((t, i) => { if (t === null) { pen = false; return; } if (pen) g.lineTo(x(i), y(t)); else g.moveTo(x(i), y(t)); pen = true; });
    g.stroke();
  }
  g.globalAlpha = 1; g.strokeStyle = "#555"; g.fillStyle = "#1d2330";
  axes.forEach((a, i) => {
    g.beginPath(); g.moveTo(x(i), y(0)); g.lineTo(x(i), y(1)); g.stroke();
    g.textAlign = "center"; g.textBaseline = "bottom"; g.font = "600 11px system-ui, sans-serif";
    g.fillText(a.name.length > 22 ? a.name.slice(0, 21) + "…" : a.name, x(i), T - 12);
    g.font = "11px system-ui, sans-serif"; g.textAlign = "left"; g.textBaseline = "middle"; g.fillStyle = "#6b7385";
    if (a.kind === "number") { for (const t of [0, 0.5, 1]) g.fillText(fmtAxis(a, t), x(i) + 4, y(t)); }
    else a.values.forEach((v, k) => g.fillText(v.length > 12 ? v.slice(0, 11) + "…" : v, x(i) + 4, y(a.values.length === 1 ? 0.5 : k / (a.values.length - 1))));
    g.fillStyle = "#1d2330";
  });
}
function drawScatter(canvas, xa, ya, pts) {
  const { g, w, h } = canvasCtx(canvas);
  const L = 58, R = 12, T = 10, B = 30;
  const X = (t) => L + t * (w - L - R), Y = (t) => T + (1 - t) * (h - T - B);
  g.strokeStyle = "#c8ccd5"; g.strokeRect(L, T, w - L - R, h - T - B);
  g.fillStyle = "#6b7385"; g.textAlign = "right"; g.textBaseline = "middle";
  for (const t of [0, 0.25, 0.5, 0.75, 1]) g.fillText(fmtAxis(ya, t), L - 5, Y(t));
  g.textAlign = "center"; g.textBaseline = "top";
  if (xa.kind === "number") for (const t of [0, 0.25, 0.5, 0.75, 1]) g.fillText(fmtAxis(xa, t), X(t), h - B + 5);
  else xa.values.forEach((v, k) => g.fillText(v, X(xa.values.length === 1 ? 0.5 : k / (xa.values.length - 1)), h - B + 5));
  g.fillStyle = "rgba(47,111,222,0.75)";
  for (const [tx, ty] of pts) { g.beginPath(); g.arc(X(tx), Y(ty), 3, 0, 7); g.fill(); }
}
function sweepPanel(experiment) {
  const metricSel = el("select", { id: "sweep-metric" });
  const aggSel = el("select", { id: "sweep-agg" }, ...["last", "min", "max"].map((a) => el("option", { value: a }, a)));
  const xSel = el("select", { id: "scatter-x" });
  const ovMetric = el("select", { id: "overlay-metric" });
  const groupSel = el("select", { id: "overlay-group" });
  const pcCanvas = el("canvas", { id: "parallel", class: "sweep", "data-lines": "0" });
  const scCanvas = el("canvas", { id: "scatter", class: "sweep", "data-points": "[]" });
  const ov = new Chart("sweep:overlay", { legend: true });
  const ovInfo = el("div", { class: "dim", id: "overlay-info" });
  let runs = [], filter = "", metrics = [], params = [];
  const val = (r, m) => { const s = (r.metrics || {})[m]; return s ? s[aggSel.value] : undefined; };
  const opts = (sel, list, keep, first) => {
    const old = sel.value;
    sel.replaceChildren(...(first ? [el("option", { value: "" }, first)] : []), ...list.map((v) => el("option", { value: v }, v)));
    sel.value = list.includes(old) ? old : (keep && list.includes(keep) ? keep : (first ? "" : (list[0] || "")));
  };
  const drawLocal = () => {
    const m = metricSel.value;
    const withM = runs.filter((r) => typeof val(r, m) === "number" && isFinite(val(r, m)));
    const varying = params.filter((p) => new Set(withM.map((r) => JSON.stringify(r.params[p]))).size > 1).slice(0, 12);
    const axes = [...varying.map((p) => axisOf("params." + p, withM.map((r) => r.params[p]))), axisOf(m + " (" + aggSel.value + ")", withM.map((r) => val(r, m)))];
    const rows = withM.map((r) => [...varying.map((p, i) => axes[i].pos(r.params[p])), axes[axes.length - 1].pos(val(r, m))]);
    drawParallel(pcCanvas, axes, rows, axes.length - 1);
    pcCanvas.dataset.lines = String(rows.length);
    window.runlogCharts["sweep:parallel"] = { axes: axes.map((a) => ({ name: a.name, kind: a.kind, min: a.min, max: a.max, values: a.values })), lines: rows, runs: withM.map((r) => r.id) };
    const xp = xSel.value;
    const xa = axisOf("params." + xp, withM.map((r) => r.params[xp]));
    const ya = axes[axes.length - 1];
    const pts = withM.map((r) => [xa.pos(r.params[xp]), ya.pos(val(r, m)), r.params[xp], val(r, m)]).filter((p) => p[0] !== null && p[1] !== null);
    drawScatter(scCanvas, xa, ya, pts);
    scCanvas.dataset.points = JSON.stringify(pts.map((p) => [p[2], p[3]]));
    window.runlogCharts["sweep:scatter"] = { x: "params." + xp, y: m, points: pts.map((p) => [p[2], p[3]]) };
  };
  let ovSeq = 0;
  const loadOverlay = async () => {
    const mine = ++ovSeq;
    const name = ovMetric.value;
    if (!name) { ov.setSeries([]); return; }
    const width = Math.max(100, Math.round(ov.canvas.getBoundingClientRect().width || 600));
    const group = groupSel.value ? "params.`" + groupSel.value + "`" : "";
    const o = await api("/api/overlay?" + q({ experiment, name, group, filter, points: Math.min(400, width) }));
    mark("overlay_fetched");
    if (mine !== ovSeq) return;
    ov.setSeries(o.groups.map((gr, i) => ({
      label: (groupSel.value ? groupSel.value + "=" : "") + gr.key + " (" + gr.runs + (gr.runs === 1 ? " run)" : " runs)"),
      color: COLORS[i % COLORS.length], points: gr.points.map((p) => [p[0], p[1]]),
      band: gr.points.map((p) => [p[0], p[2], p[3]]), total: gr.points.length,
    })));
    window.runlogCharts["sweep:overlay"].groups = o.groups;
    window.runlogCharts["sweep:overlay"].runs = o.runs;
    ovInfo.textContent = o.runs + " runs, mean line and min/max band per group";
  };
  const csvRows = (header, rows) => [header, ...rows].map((r) => r.map((v) => v === null || v === undefined ? "" : (/[",\n]/.test(String(v)) ? '"' + String(v).replace(/"/g, '""') + '"' : String(v))).join(",")).join("\n") + "\n";
  const pcCsv = () => {
    const m = metricSel.value, list = runs.filter((r) => typeof val(r, m) === "number");
    return csvRows(["run", "name", ...params.map((p) => "params." + p), m + " (" + aggSel.value + ")"], list.map((r) => [r.id, r.name, ...params.map((p) => r.params[p]), val(r, m)]));
  };
  const scCsv = () => { const c = window.runlogCharts["sweep:scatter"]; return csvRows([c.x, c.y], c.points); };
  const ovCsv = () => {
    const c = window.runlogCharts["sweep:overlay"] || {};
    return csvRows(["group", "runs", "step", "mean", "min", "max"], (c.groups || []).flatMap((g) => g.points.map((p) => [g.key, g.runs, ...p])));
  };
  [metricSel, aggSel, xSel].forEach((s) => s.addEventListener("change", drawLocal));
  [ovMetric, groupSel].forEach((s) => s.addEventListener("change", () => loadOverlay().catch((e) => { ovInfo.textContent = e.message; })));
  new ResizeObserver(() => { if (runs.length) drawLocal(); }).observe(pcCanvas);
  const node = el("div", { id: "sweep" },
    el("div", { class: "toolbar" }, "metric", metricSel, aggSel),
    el("div", { class: "grid sweep-grid" },
      el("div", { class: "card wide" }, el("h3", {}, downloads("parallel", pcCsv, pcCanvas), "Parallel coordinates"), pcCanvas),
      el("div", { class: "card" }, el("h3", {}, downloads("scatter", scCsv, scCanvas), "Scatter"), el("div", { class: "toolbar" }, "x", xSel, el("span", { class: "dim" }, "y = the metric above")), scCanvas),
      el("div", { class: "card" }, el("h3", {}, downloads("overlay", ovCsv, ov.canvas), "Overlay"), el("div", { class: "toolbar" }, "metric", ovMetric, "group by", groupSel), ov.node, ovInfo)));
  return {
    node, charts: [ov],
    async update(list, f) {
      runs = list; filter = f;
      // Metrics most runs have first, then the longest series (the training curve rather than a final score).
      const counts = {}, points = {};
      for (const r of runs) for (const [k, m] of Object.entries(r.metrics || {})) { counts[k] = (counts[k] || 0) + 1; points[k] = (points[k] || 0) + (m.count || 0); }
      metrics = Object.keys(counts).sort((a, b) => counts[b] - counts[a] || points[b] - points[a] || a.localeCompare(b));
      params = [...new Set(runs.flatMap((r) => Object.keys(r.params || {})))].sort();
      const varying = params.filter((p) => new Set(runs.map((r) => JSON.stringify(r.params[p]))).size > 1);
      opts(metricSel, metrics, metrics[0]);
      opts(xSel, params, varying[0]);
      opts(ovMetric, metrics, metrics[0]);
      opts(groupSel, params, varying[0], "(no grouping)");
      // The overlay is fetched while the local charts draw.
      const overlay = loadOverlay();
      drawLocal();
      mark("parallel_and_scatter");
      await overlay;
      mark("overlay");
    },
  };
}

// ---------- run page ----------
// ---------- Azure's charts (chart records, logged by the Python package's log_confusion_matrix & co.) ----
// Each is {schema_type, schema_version, data} in Azure ML's schema; drawn as Azure draws it: the confusion matrix as
// a heat map, the accuracy table as ROC curves, predictions as predicted-vs-true with error bars, residuals as a
// histogram. What was drawn is published in window.runlogCharts["chart:" + name].
const SVGNS = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...kids) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}
// A plot frame of W x H with axes for [x0, x1] x [y0, y1]; returns the root and the data -> pixel mappings.
function frame(x0, x1, y0, y1, xLabel, yLabel) {
  const W = 360, H = 240, L = 44, R = 10, T = 10, B = 34;
  const sx = (x) => L + (x - x0) / ((x1 - x0) || 1) * (W - L - R);
  const sy = (y) => H - B - (y - y0) / ((y1 - y0) || 1) * (H - T - B);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "chartsvg" });
  root.append(svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#999" }),
    svg("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#999" }),
    svg("text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle", class: "axis" }, xLabel),
    svg("text", { x: 12, y: (T + H - B) / 2, "text-anchor": "middle", class: "axis", transform: `rotate(-90 12 ${(T + H - B) / 2})` }, yLabel));
  for (const [v, x] of [[x0, sx(x0)], [x1, sx(x1)]]) root.append(svg("text", { x, y: H - B + 12, "text-anchor": "middle", class: "tick" }, fmtTick(v)));
  for (const [v, y] of [[y0, sy(y0)], [y1, sy(y1)]]) root.append(svg("text", { x: L - 4, y: y + 4, "text-anchor": "end", class: "tick" }, fmtTick(v)));
  return { root, sx, sy };
}
function confusionMatrix(d) {
  const m = d.matrix, labels = d.class_labels.map(String);
  const max = Math.max(1, ...m.flat());
  const head = el("tr", {}, el("th", { class: "dim" }, "true \\ predicted"), ...labels.map((l) => el("th", {}, l)));
  const rows = m.map((row, i) => el("tr", {}, el("th", {}, labels[i]), ...row.map((v) => {
    const a = v / max;
    return el("td", { class: "num", style: `background: rgba(47, 111, 222, ${a.toFixed(3)}); color: ${a > 0.55 ? "#fff" : "inherit"}`, "data-value": String(v) }, fmtNum(v));
  })));
  return { node: el("table", { class: "heatmap" }, el("tbody", {}, head, ...rows)), drawn: { labels, matrix: m } };
}
function rocCurves(d) {
  const f = frame(0, 1, 0, 1, "false positive rate", "true positive rate");
  f.root.append(svg("line", { x1: f.sx(0), y1: f.sy(0), x2: f.sx(1), y2: f.sy(1), stroke: "#bbb", "stroke-dasharray": "4 3" }));
  const curves = d.probability_tables.map((perClass, c) => {
    const pts = perClass.map(([tp, fp, tn, fn]) => [fp / ((fp + tn) || 1), tp / ((tp + fn) || 1)]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    f.root.append(svg("polyline", { fill: "none", stroke: COLORS[c % COLORS.length], "stroke-width": 2, points: pts.map(([x, y]) => `${f.sx(x)},${f.sy(y)}`).join(" ") }));
    return { label: String(d.class_labels[c]), points: pts };
  });
  const legend = el("div", { class: "legend" }, ...curves.map((c, i) => el("span", { style: `color: ${COLORS[i % COLORS.length]}` }, "■ " + c.label + " ")));
  return { node: el("div", {}, f.root, legend), drawn: { curves } };
}
function predictions(d) {
  const e = d.bin_edges, centers = e.slice(1).map((hi, i) => (e[i] + hi) / 2);
  if (Array.isArray(d.bin_averages[0])) {  // classification: one calibration line per class
    const f = frame(e[0], e[e.length - 1], 0, 1, "predicted probability", "fraction of positives");
    const lines = d.bin_averages.map((avgs, c) => {
      const pts = avgs.map((y, i) => [centers[i], y]);
      f.root.append(svg("polyline", { fill: "none", stroke: COLORS[c % COLORS.length], "stroke-width": 2, points: pts.map(([x, y]) => `${f.sx(x)},${f.sy(y)}`).join(" ") }));
      return { label: String(d.class_labels[c]), points: pts };
    });
    return { node: f.root, drawn: { lines } };
  }
  const lo = Math.min(e[0], ...d.bin_averages.map((a, i) => a - d.bin_errors[i]));
  const hi = Math.max(e[e.length - 1], ...d.bin_averages.map((a, i) => a + d.bin_errors[i]));
  const f = frame(e[0], e[e.length - 1], lo, hi, "true value (bin)", "mean predicted value");
  f.root.append(svg("line", { x1: f.sx(e[0]), y1: f.sy(e[0]), x2: f.sx(e[e.length - 1]), y2: f.sy(e[e.length - 1]), stroke: "#bbb", "stroke-dasharray": "4 3" }));
  const pts = d.bin_averages.map((y, i) => [centers[i], y, d.bin_errors[i]]);
  for (const [x, y, err] of pts) f.root.append(svg("line", { x1: f.sx(x), y1: f.sy(y - err), x2: f.sx(x), y2: f.sy(y + err), stroke: COLORS[1] }));
  f.root.append(svg("polyline", { fill: "none", stroke: COLORS[0], "stroke-width": 2, points: pts.map(([x, y]) => `${f.sx(x)},${f.sy(y)}`).join(" ") }));
  return { node: f.root, drawn: { points: pts } };
}
function histogram(d, xLabel) {
  const e = d.bin_edges, counts = d.bin_counts;
  const f = frame(e[0], e[e.length - 1], 0, Math.max(1, ...counts), xLabel, "count");
  counts.forEach((n, i) => f.root.append(svg("rect", { x: f.sx(e[i]) + 0.5, y: f.sy(n), width: Math.max(1, f.sx(e[i + 1]) - f.sx(e[i]) - 1), height: f.sy(0) - f.sy(n), fill: COLORS[0], "data-count": String(n) })));
  return { node: f.root, drawn: { edges: e, counts } };
}
const CHART_DRAWERS = {
  confusion_matrix: (d) => confusionMatrix(d),
  accuracy_table: (d) => rocCurves(d),
  predictions: (d) => predictions(d),
  residuals: (d) => histogram(d, "residual"),
};
// The last version of each chart of a run's /api/run answer, by name.
function latestCharts(charts) {
  const latest = new Map();
  for (const c of charts || []) latest.set(c.name, c);
  return latest;
}
// One drawn chart (a heat map, curves, a histogram) with its type line; published under `key` in window.runlogCharts.
function drawChart(c, key) {
  try {
    const draw = CHART_DRAWERS[c.schema_type];
    if (!draw) throw new Error("unknown chart type " + c.schema_type);
    const { node, drawn } = draw(c.data);
    window.runlogCharts[key] = { type: c.schema_type, step: c.step, ...drawn };
    return [el("div", { class: "dim" }, c.schema_type.replace("_", " ") + " · schema " + c.schema_version + " · step " + c.step), node];
  } catch (e) {
    return [el("p", { class: "dim" }, "cannot draw: " + e.message)];
  }
}
function chartRecordCards(charts) {
  return [...latestCharts(charts)].map(([name, c]) => el("div", { class: "card", "data-chart": name }, el("h3", {}, name), ...drawChart(c, "chart:" + name)));
}

async function runPage(spec) {
  let data;
  try { data = await api("/api/run?" + q({ run: spec })); }
  catch (e) { errorPage("Run not found", e.message); return; }
  const run = data.run;
  document.title = run.experiment + "/" + run.name + " – runlog";
  const me = [{ id: run.id, label: run.name, color: COLORS[0] }];
  const charts = [];
  const chartCards = [];
  for (const m of data.metrics) {
    if (m.kind === "scalar") {
      const c = scalarChart(m.name, me); charts.push(c); chartCards.push(chartCard(m.name, c, null, m.description));
    } else if (m.kind === "row") {
      const c = xyChart(m.name, () => api("/api/rows?" + q({ run: run.id, name: m.name })));
      charts.push(c); chartCards.push(chartCard(m.name + " (rows)", c, c.controls, m.description));
    } else if (m.kind === "table") {
      let step = null;
      const stepSel = el("select", {});
      const c = xyChart(m.name, async () => {
        const t = await api("/api/table?" + q({ run: run.id, name: m.name, step }));
        stepSel.replaceChildren(...t.steps.map((s) => el("option", { value: String(s) }, "step " + s)));
        stepSel.value = String(t.step);
        return t;
      });
      stepSel.addEventListener("change", () => { step = stepSel.value; c.reload(); });
      c.controls.append("table", stepSel);
      charts.push(c); chartCards.push(chartCard(m.name + " (table)", c, c.controls, m.description));
    }
  }
  const kv = (title, obj) => Object.keys(obj).length ? el("div", { class: "card" }, el("h3", {}, title),
    el("table", { class: "kv", id: title.toLowerCase() }, el("tbody", {}, ...Object.entries(obj).map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, typeof v === "number" ? fmtNum(v) : String(v))))))) : null;
  const header = el("div", {},
    el("h1", {}, el("span", { class: "dim" }, run.experiment + " / "), run.name, " ", statusBadge(run.status)),
    el("div", { class: "meta" }, el("span", {}, "id " + run.id), el("span", {}, "started " + fmtTime(run.started_at)),
      el("span", { id: "duration" }, "duration " + fmtDur(run.duration_ms)), run.reason ? el("span", {}, "reason: " + run.reason) : null,
      run.parent ? el("a", { href: BASE + "/runs/" + run.parent }, "parent run") : null,
      el("a", { href: BASE + "/compare?" + q({ runs: run.id }) }, "compare…")));
  const gallery = el("div", { class: "grid gallery", id: "gallery" });
  const chartGrid = el("div", { class: "grid", id: "azure-charts" }, ...chartRecordCards(data.charts));
  const logs = el("pre", { class: "log", id: "logs" });
  const children = data.children.length ? el("div", { class: "card" }, el("h3", {}, "Child runs"),
    el("table", {}, el("tbody", {}, ...data.children.map((c) => el("tr", {}, el("td", {}, el("a", { href: BASE + "/runs/" + c.id }, c.name)), el("td", {}, statusBadge(c.status))))))) : null;
  const files = data.files.length ? el("div", { class: "card" }, el("h3", {}, "Files"),
    el("table", {}, el("tbody", {}, ...data.files.map((f) => el("tr", {}, el("td", {}, el("a", { href: BASE + "/api/blob/" + f.hash, download: f.name.split("/").pop() }, f.name)), el("td", { class: "num" }, f.size + " B")))))) : null;
  const texts = data.texts.length ? el("div", { class: "card" }, el("h3", {}, "Texts"), ...data.texts.map((t) => el("div", {}, el("b", {}, t.name + " [" + t.step + "] "), t.text))) : null;
  setMain(header,
    chartCards.length ? chartControls(charts) : null,
    chartCards.length ? el("div", { class: "grid", id: "charts" }, ...chartCards) : el("p", { class: "dim" }, "No metrics logged."),
    el("h2", {}, "Images"), gallery,
    chartGrid.childElementCount ? el("h2", {}, "Charts") : null, chartGrid,
    el("h2", {}, "Params, tags, properties"),
    el("div", { class: "cols" }, kv("Params", run.params), kv("Tags", run.tags), kv("Properties", run.properties), children, files, texts),
    el("h2", {}, "Log"), logs);
  const loadImages = async () => {
    const imgs = await api("/api/images?" + q({ run: run.id }));
    const by = {};
    for (const i of imgs) (by[i.name] = by[i.name] || []).push(i);
    if (!imgs.length) { gallery.replaceChildren(el("p", { class: "dim" }, "No images.")); return; }
    gallery.replaceChildren(...Object.entries(by).map(([name, list]) => {
      const img = el("img", { alt: name, "data-name": name });
      const cap = el("div", { class: "dim" });
      const slider = el("input", { type: "range", min: "0", max: String(list.length - 1), value: String(list.length - 1), "data-name": name });
      const show = () => { const i = list[parseInt(slider.value, 10)]; img.src = BASE + "/api/blob/" + i.hash; img.width = Math.min(i.width * Math.max(1, Math.floor(160 / i.width)), 400); cap.textContent = "step " + i.step + " · " + i.width + "×" + i.height + (i.description ? " · " + i.description : ""); };
      slider.addEventListener("input", show);
      show();
      return el("div", { class: "card" }, el("h3", {}, name), img, cap, list.length > 1 ? slider : null);
    }));
  };
  const loadLogs = async () => {
    const lines = await api("/api/logs?" + q({ run: run.id }));
    logs.replaceChildren(...(lines.length ? lines.map((l) => el("div", { class: l.stream }, fmtTime(l.timestamp) + " " + l.stream.padEnd(6) + " " + l.message)) : ["(no log lines)"]));
  };
  await Promise.all([...charts.map((c) => c.reload()), loadImages(), loadLogs()]);
  markReady();
  if (run.status === "running") {
    const timer = setInterval(async () => {
      try {
        const fresh = await api("/api/run?" + q({ run: run.id }));
        if (fresh.metrics.length !== data.metrics.length) { clearInterval(timer); runPage(spec); return; }
        document.getElementById("duration").textContent = "duration " + fmtDur(fresh.run.duration_ms);
        await Promise.all([...charts.map((c) => c.reload()), loadLogs()]);
        if (fresh.run.status !== "running") { clearInterval(timer); runPage(spec); }
      } catch (_) { /* try again next tick */ }
    }, 2000);
  }
}

// ---------- compare ----------
async function comparePage() {
  document.title = "compare – runlog";
  const ids = (new URLSearchParams(location.search).get("runs") || "").split(",").filter(Boolean);
  if (!ids.length) { errorPage("Nothing to compare", "Pick runs in the runs table, then press “Compare selected”."); return; }
  const infos = [];
  for (const id of ids) {
    try { infos.push(await api("/api/run?" + q({ run: id }))); }
    catch (e) { errorPage("Run not found", e.message); return; }
  }
  const runs = infos.map((d, i) => ({ id: d.run.id, label: d.run.experiment + "/" + d.run.name, color: COLORS[i % COLORS.length] }));
  const names = [...new Set(infos.flatMap((d) => d.metrics.filter((m) => m.kind === "scalar").map((m) => m.name)))].sort();
  const charts = names.map((n) => scalarChart(n, runs.filter((_, i) => infos[i].metrics.some((m) => m.kind === "scalar" && m.name === n)), true));
  // Row metrics and tables (the last one of each run) overlaid too: one series per run over the chosen columns.
  const xyCards = [];
  for (const kind of ["row", "table"]) {
    const xyNames = [...new Set(infos.flatMap((d) => d.metrics.filter((m) => m.kind === kind).map((m) => m.name)))].sort();
    for (const n of xyNames) {
      const who = runs.filter((_, i) => infos[i].metrics.some((m) => m.kind === kind && m.name === n));
      const c = compareXY(n + (kind === "row" ? " (rows)" : " (table)"), who, (r) => api((kind === "row" ? "/api/rows?" : "/api/table?") + q({ run: r.id, name: n })));
      charts.push(c); xyCards.push(chartCard(n + (kind === "row" ? " (rows)" : " (table)"), c, c.controls));
    }
  }
  // Charts (confusion matrices & co.) side by side: one card per chart name, the last version of each run in a row.
  const perRun = infos.map((d) => latestCharts(d.charts));
  const chartNames = [...new Set(perRun.flatMap((m) => [...m.keys()]))].sort();
  const chartRows = chartNames.map((n) => el("div", { class: "card wide", "data-compare-chart": n }, el("h3", {}, n),
    el("div", { class: "side-by-side" }, ...runs.map((r, i) => perRun[i].has(n) ? el("div", { "data-run": r.id },
      el("div", {}, el("i", { style: "display:inline-block;width:10px;height:10px;margin-right:4px;background:" + r.color }), r.label),
      ...drawChart(perRun[i].get(n), "compare:" + n + ":" + r.id)) : null))));
  const go = (list) => { location.href = BASE + "/compare?" + q({ runs: list.join(",") }); };
  const picker = el("select", { id: "add-run" }, el("option", { value: "" }, "add a run…"));
  api("/api/runs").then((all) => {
    for (const r of all) if (!runs.some((x) => x.id === r.id)) picker.append(el("option", { value: r.id }, r.experiment + "/" + r.name));
  }).catch(() => {});
  picker.addEventListener("change", () => { if (picker.value) go([...runs.map((r) => r.id), picker.value]); });
  setMain(el("h1", {}, "Compare ", String(runs.length), " runs"),
    el("div", { class: "toolbar", id: "compare-legend" }, ...runs.map((r) => el("span", {}, el("i", { style: "display:inline-block;width:10px;height:10px;margin-right:4px;background:" + r.color }),
      el("a", { href: BASE + "/runs/" + r.id }, r.label), " ",
      el("button", { title: "remove", "data-remove": r.id, onclick: () => go(runs.filter((x) => x.id !== r.id).map((x) => x.id)) }, "×"))), picker),
    chartControls(charts),
    el("div", { class: "grid", id: "charts" }, ...names.map((n, i) => chartCard(n, charts[i])), ...xyCards),
    chartRows.length ? el("div", { id: "compare-charts" }, ...chartRows) : null);
  await Promise.all(charts.map((c) => c.reload()));
  markReady();
}

// ---------- boot ----------
(async () => {
  mark("script");
  api("/api/info").then((i) => { document.getElementById("source").textContent = i.source; }).catch(() => {});
  const path = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : location.pathname;
  try {
    if (path === "/" || path === "") await runsPage();
    else if (path.startsWith("/runs/")) await runPage(decodeURIComponent(path.slice(6)));
    else if (path.startsWith("/experiments/")) await runsPage(decodeURIComponent(path.slice(13)));
    else if (path === "/compare") await comparePage();
    else errorPage("Page not found", "There is no page " + path + ".");
  } catch (e) {
    errorPage("Something went wrong", e.message);
  }
})();
