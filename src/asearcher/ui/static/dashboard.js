// The run dashboard: curves from metrics.jsonl (polled from the last byte offset, so live runs cost
// little), several runs overlaid, the lag histogram, held-out / eval summaries and the resolved config.
"use strict";
header("dashboard");
const $ = id => document.getElementById(id);
const CHARTS = [["reward", ["reward/mean"]], ["accuracy", ["acc/em", "acc/f1"]], ["turns per episode", ["traj/turns"]],
  ["tool calls per episode", ["traj/tool_calls"]], ["version lag (tokens)", ["lag/mean", "lag/max"]],
  ["time split per step (s)", ["time/generating_s", "time/train_s", "time/sync_s", "time/wait_s"]],
  ["throughput (generated tokens/s)", ["throughput/tokens_per_s"]]];
const POLL_MS = 2000;
const runs = new Map();  // id -> {name, metrics (ref), offset, rows: Map(step -> row), overview}
let allRuns = [];

async function loadRuns() {
  allRuns = (await getJSON("/api/runs")).runs.filter(r => r.files.includes("metrics.jsonl") || r.files.includes("summary.json"));
  const want = new URLSearchParams(location.search).getAll("run");
  const initial = want.length ? want : allRuns.slice(0, 1).map(r => r.id);
  $("runs").replaceChildren(...allRuns.map(r => el("label", {},
    el("input", {type: "checkbox", value: r.id, checked: initial.includes(r.id), onchange: ev => toggle(r, ev.target.checked)}),
    " ", r.name, el("span", {class: "muted"}, ` (${r.kind})`))));
  if (!allRuns.length) $("runs").append(el("div", {class: "muted"}, "no runs under the --runs folders"));
  await Promise.all(allRuns.filter(r => initial.includes(r.id)).map(r => toggle(r, true)));
}

async function toggle(r, on) {
  if (!on) { runs.delete(r.id); render(); return; }
  const overview = await getJSON("/api/dashboard/run?" + qs({run: r.id}));
  runs.set(r.id, {name: r.name, metrics: overview.metrics, offset: 0, rows: new Map(), overview});
  await poll(r.id);
  render();
}

async function poll(id) {
  const run = runs.get(id);
  if (!run || !run.metrics) return false;
  const got = await getJSON("/api/dashboard/metrics?" + qs({file: run.metrics, offset: run.offset}));
  if (got.reset) run.rows.clear();
  for (const row of got.rows) run.rows.set(row.step, row);  // a resumed run may repeat a step: the last row wins
  run.offset = got.offset;
  return got.rows.length > 0 || got.reset;
}

function seriesFor(keys) {
  const out = [];
  [...runs.values()].forEach((run, ri) => {
    const rows = [...run.rows.values()].sort((a, b) => a.step - b.step);
    keys.forEach((k, ki) => {
      const points = rows.filter(r => typeof r[k] === "number").map(r => [r.step, r[k]]);
      if (points.length) out.push({label: (runs.size > 1 ? run.name.split("/").pop() + " " : "") + k,
        colour: PALETTE[(runs.size > 1 ? ri : ki) % PALETTE.length], dash: runs.size > 1 ? DASHES[ki % DASHES.length] : "", points});
    });
  });
  return out;
}

function lagHistogram() {
  const first = [...runs.values()].find(r => r.rows.size);
  if (!first) return barChart("version lag histogram (latest step)", []);
  const last = [...first.rows.values()].sort((a, b) => b.step - a.step)[0];
  const bars = Object.keys(last).filter(k => k.startsWith("lag_hist/")).map(k => ({label: k.slice(9), value: last[k]}))
    .sort((a, b) => a.label - b.label);
  return barChart(`version lag histogram (step ${last.step}, fraction of tokens)`, bars, {max: 1});
}

function evalTables() {
  const rows = [], bars = [];
  for (const run of runs.values()) for (const [name, s] of Object.entries(run.overview.evals || {}))
    for (const [ds, d] of Object.entries(s.datasets || {})) for (const [metric, vals] of Object.entries(d.metrics || {})) {
      const cols = Object.keys(vals);
      rows.push(el("tr", {}, el("td", {}, run.name), el("td", {}, name), el("td", {}, ds), el("td", {}, metric),
        el("td", {class: "num"}, d.questions ?? ""), el("td", {class: "num"}, cols.map(c => `${c} ${(100 * vals[c]).toFixed(1)}`).join("  "))));
      const avg = cols.find(c => c.startsWith("avg@"));
      if (metric === "em" && avg) bars.push({label: `${run.name.split("/").pop()} ${name}`, value: 100 * vals[avg], colour: PALETTE[bars.length % PALETTE.length]});
    }
  if (!rows.length) return [el("div", {class: "muted"}, "no summary.json in the selected runs")];
  return [el("table", {class: "evaltable"}, el("thead", {}, el("tr", {}, ["run", "eval", "dataset", "metric", "questions", "scores (%)"].map(h => el("th", {}, h)))),
                 el("tbody", {}, rows)), barChart("EM avg@k (%)", bars, {max: 100})];
}

function render() {
  $("charts").replaceChildren(...CHARTS.map(([title, keys]) => lineChart(title, seriesFor(keys))), lagHistogram());
  $("evals").replaceChildren(...evalTables());
  const first = [...runs.values()][0];
  $("config").replaceChildren(first && first.overview.config ? el("pre", {}, JSON.stringify(first.overview.config, null, 2))
                                                             : el("div", {class: "muted"}, "no config.yaml"));
  const steps = [...runs.values()].reduce((n, r) => n + r.rows.size, 0);
  document.body.dataset.steps = String(steps);
  $("live").textContent = `${steps} steps loaded · polling every ${POLL_MS / 1000} s`;
}

async function tick() {
  try {
    const changed = await Promise.all([...runs.keys()].map(poll));
    if (changed.some(Boolean)) render();
  } catch (e) { $("live").replaceChildren(el("span", {class: "error"}, e.message)); }
  setTimeout(tick, POLL_MS);
}
loadRuns().then(() => { render(); setTimeout(tick, POLL_MS); })
  .catch(e => $("live").replaceChildren(el("span", {class: "error"}, e.message)));
