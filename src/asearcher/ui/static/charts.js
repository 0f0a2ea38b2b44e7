// Minimal SVG charts (line and bar): enough for training curves, with no library to vendor.
"use strict";
const SVGNS = "http://www.w3.org/2000/svg";
const PALETTE = ["#2457c5", "#d1495b", "#2a9d5c", "#e08e0b", "#7b4fc9", "#1b998b", "#8d6346", "#c2185b"];
const DASHES = ["", "5 3", "2 3", "8 3 2 3"];

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function niceTicks(lo, hi, n = 4) {
  if (!(hi > lo)) { hi = lo + 1; }
  const step0 = (hi - lo) / n, mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map(m => m * mag).find(s => s >= step0);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-12; v += step) out.push(+v.toFixed(10));
  return out;
}

// series: [{label, colour, dash, points: [[x, y], ...]}]
function lineChart(title, series, {width = 420, height = 210} = {}) {
  const pad = {l: 46, r: 10, t: 22, b: 26};
  const root = svg("svg", {viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title});
  root.append(svg("text", {x: pad.l, y: 14, class: "title"}, title));
  const pts = series.flatMap(s => s.points);
  if (!pts.length) { root.append(svg("text", {x: width / 2, y: height / 2, "text-anchor": "middle", class: "muted"}, "no data yet")); return root; }
  let [x0, x1] = [Math.min(...pts.map(p => p[0])), Math.max(...pts.map(p => p[0]))];
  let [y0, y1] = [Math.min(...pts.map(p => p[1])), Math.max(...pts.map(p => p[1]))];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
  const X = x => pad.l + (x - x0) / (x1 - x0) * (width - pad.l - pad.r);
  const Y = y => height - pad.b - (y - y0) / (y1 - y0) * (height - pad.t - pad.b);
  for (const t of niceTicks(y0, y1)) {
    root.append(svg("line", {x1: pad.l, x2: width - pad.r, y1: Y(t), y2: Y(t), class: "grid"}));
    root.append(svg("text", {x: pad.l - 4, y: Y(t) + 4, "text-anchor": "end", class: "tick"}, +t.toPrecision(4)));
  }
  for (const t of niceTicks(x0, x1, 5)) root.append(svg("text", {x: X(t), y: height - 8, "text-anchor": "middle", class: "tick"}, t));
  for (const s of series) {
    if (!s.points.length) continue;
    const d = s.points.map((p, i) => `${i ? "L" : "M"}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join("");
    root.append(svg("path", {d, fill: "none", stroke: s.colour, "stroke-width": 1.6, "stroke-dasharray": s.dash || "", class: "series"}));
    if (s.points.length === 1) root.append(svg("circle", {cx: X(s.points[0][0]), cy: Y(s.points[0][1]), r: 2.5, fill: s.colour}));
  }
  const legend = svg("g", {});
  series.forEach((s, i) => {
    const y = pad.t + 4 + i * 12;
    legend.append(svg("line", {x1: width - 150, x2: width - 136, y1: y, y2: y, stroke: s.colour, "stroke-width": 2, "stroke-dasharray": s.dash || ""}));
    legend.append(svg("text", {x: width - 132, y: y + 3, class: "legend"}, s.label.slice(0, 26)));
  });
  root.append(legend);
  return root;
}

// bars: [{label, value, colour}]
function barChart(title, bars, {width = 420, height = 210, max = null} = {}) {
  const pad = {l: 46, r: 10, t: 22, b: 34};
  const root = svg("svg", {viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title});
  root.append(svg("text", {x: pad.l, y: 14, class: "title"}, title));
  if (!bars.length) { root.append(svg("text", {x: width / 2, y: height / 2, "text-anchor": "middle", class: "muted"}, "no data")); return root; }
  const top = max ?? Math.max(...bars.map(b => b.value), 1e-9);
  const w = (width - pad.l - pad.r) / bars.length;
  const Y = v => height - pad.b - v / top * (height - pad.t - pad.b);
  for (const t of niceTicks(0, top)) {
    root.append(svg("line", {x1: pad.l, x2: width - pad.r, y1: Y(t), y2: Y(t), class: "grid"}));
    root.append(svg("text", {x: pad.l - 4, y: Y(t) + 4, "text-anchor": "end", class: "tick"}, +t.toPrecision(3)));
  }
  bars.forEach((b, i) => {
    const x = pad.l + i * w + w * 0.1;
    root.append(svg("rect", {x, y: Y(b.value), width: w * 0.8, height: Math.max(0, Y(0) - Y(b.value)), fill: b.colour || PALETTE[0]},));
    root.append(svg("text", {x: x + w * 0.4, y: height - 20, "text-anchor": "middle", class: "tick"}, String(b.label).slice(0, 12)));
  });
  return root;
}
