// The trajectory explorer: a server-side filtered, sorted, paged table; one trajectory as a timeline,
// its tokens, or beside another sample of the same question. Only the visible page is ever loaded.
"use strict";
header("explorer");
const $ = id => document.getElementById(id);
const COLUMNS = [["n", "#", true], ["qid", "qid"], ["dataset", "dataset"], ["question", "question"], ["correct", "ok"],
  ["reward", "reward", true], ["turns", "turns", true], ["tool_calls", "tools", true], ["stop_reason", "stop"],
  ["step", "step", true], ["staleness", "stale", true]];
const FILTERS = ["dataset", "correct", "stop_reason", "min_turns", "max_turns", "min_tool_calls", "max_tool_calls",
  "min_reward", "max_reward", "min_step", "max_step", "min_staleness", "max_staleness"];
const PAGE = 100;
const state = {file: "", sort: "n", desc: false, offset: 0, rows: [], total: 0, sel: 0, open: null, tab: "timeline",
               tokenPage: null, tokenRange: null};

function params() {
  const p = {file: state.file, sort: state.sort, desc: state.desc ? 1 : "", offset: state.offset, limit: PAGE, q: $("q").value.trim()};
  for (const f of FILTERS) p[f] = $(f).value;
  return p;
}

async function loadSources() {
  const {runs} = await getJSON("/api/runs");
  const opts = [];
  for (const r of runs) for (const f of r.files)
    if (f.endsWith(".jsonl") && f !== "metrics.jsonl" || f.startsWith("ask-")) opts.push({ref: `${r.id}/${f}`.replace("/./", "/"), label: `${r.name}/${f}`});
  $("source").replaceChildren(...opts.map(o => el("option", {value: o.ref}, o.label)));
  const want = new URLSearchParams(location.search).get("file");
  if (want && opts.some(o => o.ref === want)) $("source").value = want;
  state.file = $("source").value;
  if (!opts.length) $("count").textContent = "no trajectory files under the --runs folders";
}

function fillFacet(id, values, first) {
  const cur = $(id).value;
  $(id).replaceChildren(el("option", {value: ""}, first), ...values.map(v => el("option", {value: v}, v)));
  $(id).value = values.includes(cur) ? cur : "";
}

async function loadRows() {
  if (!state.file) return;
  const t0 = performance.now();
  const r = await getJSON("/api/explorer/rows?" + qs(params()));
  state.rows = r.rows; state.total = r.total; state.sel = Math.min(state.sel, Math.max(0, r.rows.length - 1));
  fillFacet("dataset", r.facets.dataset, "all datasets");
  fillFacet("stop_reason", r.facets.stop_reason, "any stop reason");
  renderTable();
  $("count").textContent = `${r.total} of ${r.facets.lines} trajectories`;
  const pages = Math.max(1, Math.ceil(r.total / PAGE));
  $("pageno").textContent = `${Math.floor(state.offset / PAGE) + 1}/${pages}`;
  document.body.dataset.rowsMs = String(Math.round(performance.now() - t0));
}

function renderTable() {
  $("table").tHead.replaceChildren(el("tr", {}, COLUMNS.map(([k, label, num]) =>
    el("th", {class: num ? "num" : "", onclick: () => sortBy(k)}, label + (state.sort === k ? (state.desc ? " ▼" : " ▲") : "")))));
  const body = state.rows.map((r, i) => el("tr", {class: i === state.sel ? "sel" : "", "data-n": r.n, onclick: () => { state.sel = i; openRow(); }},
    COLUMNS.map(([k, , num]) => {
      let v = r[k];
      if (k === "correct") v = v === null ? "" : v ? "✓" : "✗";
      return el("td", {class: (num ? "num" : "") + (k === "question" ? " q" : "") + (k === "correct" ? (r.correct ? " ok" : " bad") : ""),
                       title: k === "question" ? r.question : null}, fmt(v));
    })));
  $("table").tBodies[0].replaceChildren(...body);
}

function sortBy(k) {
  state.desc = state.sort === k ? !state.desc : false; state.sort = k; state.offset = 0; loadRows();
}

function moveSel(d) {
  state.sel = Math.max(0, Math.min(state.rows.length - 1, state.sel + d));
  [...$("table").tBodies[0].rows].forEach((tr, i) => tr.classList.toggle("sel", i === state.sel));
  $("table").tBodies[0].rows[state.sel]?.scrollIntoView({block: "nearest"});
}

function headOf(d) {
  const r = d.row;
  return el("div", {},
    el("div", {}, el("b", {}, d.question)),
    el("div", {class: "row"}, el("span", {}, "answer: ", el("b", {class: r.correct ? "ok" : r.correct === false ? "bad" : ""}, d.answer ?? "(none)")),
      el("span", {class: "muted"}, "gold: " + (d.gold || []).join(" | "))),
    el("div", {class: "muted"}, `qid ${r.qid}` + (r.sample !== null && r.sample !== undefined ? ` · sample ${r.sample}` : "") +
      ` · ${r.turns} turns · ${r.tool_calls} tool calls · stop ${r.stop_reason}` + (r.reward !== null ? ` · reward ${fmt(r.reward)}` : "") +
      (r.step !== null ? ` · step ${r.step}` : "") + (r.staleness !== null ? ` · staleness ${r.staleness}` : "") +
      ` · ${r.sampled_tokens} sampled tokens`));
}

function timeline(d) {
  return [el("div", {class: "muted"}, d.turns.length ? "" : "no turns"), ...d.turns.map(t => turnCard(t, {output: true}))];
}

async function openRow() {
  const r = state.rows[state.sel];
  if (!r) return;
  renderTable();
  const d = await getJSON("/api/explorer/trajectory?" + qs({file: state.file, n: r.n}));
  state.open = d;
  $("detail").hidden = false;
  $("detail-head").replaceChildren(headOf(d));
  $("tab-timeline").replaceChildren(...timeline(d));
  $("segment").replaceChildren(...d.segments.map((s, i) => el("option", {value: i}, `${i + 1}: ${s.tokens} tokens, ${s.sampled} sampled`)));
  state.tokenPage = null;
  showTab(state.tab);
}

function showTab(tab) {
  state.tab = tab;
  for (const b of document.querySelectorAll(".tabs button")) b.classList.toggle("on", b.dataset.tab === tab);
  for (const t of ["timeline", "tokens", "compare"]) $(`tab-${t}`).hidden = t !== tab;
  if (tab === "tokens" && !state.tokenPage) loadTokens(0);
  if (tab === "compare") loadCompare();
}

async function loadTokens(start) {
  const d = state.open;
  if (!d) return;
  if (!d.segments.length) { $("tokens").replaceChildren(el("span", {class: "muted"}, "no token ids recorded (the engine reported none)")); return; }
  const page = await getJSON("/api/explorer/tokens?" + qs({file: state.file, n: d.row.n, segment: $("segment").value || 0, start}));
  state.tokenPage = page;
  const range = page.version_range ? {lo: page.version_range[0], hi: page.version_range[1]} : {lo: 0, hi: 0};
  state.tokenRange = range;
  if (start === 0) $("tokens").replaceChildren();
  $("tokens").append(tokenSpans(page, $("colour").value, range));
  $("legend").replaceChildren(...tokenLegend($("colour").value, range), page.decoded ? "" : " · ids only (no local tokenizer for this run)");
  $("more-tokens").hidden = page.end >= page.total;
}

async function loadCompare() {
  const d = state.open;
  const others = await getJSON("/api/explorer/rows?" + qs({file: state.file, qid: d.row.qid, limit: 500}));
  const rows = others.rows.filter(r => r.n !== d.row.n);
  $("other").replaceChildren(...rows.map(r => el("option", {value: r.n}, `#${r.n} sample ${r.sample ?? "?"} · ${r.correct ? "correct" : "incorrect"} · ${r.turns} turns`)));
  $("cmp-a").replaceChildren(headOf(d), ...timeline(d));
  if (!rows.length) { $("cmp-b").replaceChildren(el("div", {class: "muted"}, "no other sample of this question in this file")); return; }
  await showOther();
}

async function showOther() {
  const o = await getJSON("/api/explorer/trajectory?" + qs({file: state.file, n: $("other").value}));
  $("cmp-b").replaceChildren(headOf(o), ...timeline(o));
}

function reload() { state.offset = 0; state.sel = 0; loadRows(); }
let typing;
$("q").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(reload, 300); });
for (const f of FILTERS) $(f).addEventListener("change", reload);
$("source").addEventListener("change", () => { state.file = $("source").value; $("detail").hidden = true; reload(); });
$("prev").addEventListener("click", () => { if (state.offset > 0) { state.offset -= PAGE; state.sel = 0; loadRows(); } });
$("next").addEventListener("click", () => { if (state.offset + PAGE < state.total) { state.offset += PAGE; state.sel = 0; loadRows(); } });
for (const b of document.querySelectorAll(".tabs button")) b.addEventListener("click", () => showTab(b.dataset.tab));
$("segment").addEventListener("change", () => loadTokens(0));
$("colour").addEventListener("change", () => loadTokens(0));
$("more-tokens").addEventListener("click", () => loadTokens(state.tokenPage.end));
$("other").addEventListener("change", showOther);
document.addEventListener("keydown", ev => {
  if (ev.target.matches("input, select, textarea")) { if (ev.key === "Escape") ev.target.blur(); return; }
  const keys = {j: () => moveSel(1), ArrowDown: () => moveSel(1), k: () => moveSel(-1), ArrowUp: () => moveSel(-1),
    Enter: openRow, n: () => $("next").click(), p: () => $("prev").click(), t: () => showTab("timeline"),
    o: () => showTab("tokens"), c: () => showTab("compare"), "/": () => $("q").focus()};
  if (keys[ev.key]) { ev.preventDefault(); keys[ev.key](); }
});
loadSources().then(loadRows).catch(e => $("count").replaceChildren(el("span", {class: "error"}, e.message)));
