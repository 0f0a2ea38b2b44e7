// The ask page: start an episode, follow its events (server-sent events), cancel, save.
"use strict";
header("ask");
const $ = id => document.getElementById(id);
let current = null, source = null;

async function loadOptions() {
  const o = await getJSON("/api/ask/options");
  $("agent").replaceChildren(...o.agents.map(a => el("option", {value: a}, a)));
  $("model").replaceChildren(...o.models.map(m => el("option", {value: m.id}, m.label)));
  $("retriever").replaceChildren(...o.retrievers.map(r => el("option", {value: r.id}, r.label)));
}

async function showPage(url) {
  const box = $("page");
  box.hidden = false;
  box.replaceChildren(el("div", {class: "muted"}, "loading " + url));
  try {
    const p = await getJSON(`/api/ask/${current}/page?` + qs({url}));
    box.replaceChildren(el("div", {class: "row"}, el("b", {class: "grow"}, p.title),
                        el("button", {type: "button", onclick: () => { box.hidden = true; }}, "close")),
                        el("div", {class: "muted"}, p.url), el("pre", {}, p.text));
  } catch (e) { box.replaceChildren(el("div", {class: "error"}, String(e.message))); }
}

function setRunning(running) {
  $("run").disabled = running; $("cancel").disabled = !running; $("save").disabled = running || !current;
}

function follow(id) {
  source = new EventSource(`/api/ask/${id}/events`);
  source.addEventListener("status", e => { $("status").textContent = JSON.parse(e.data).text; });
  source.addEventListener("start", e => { const d = JSON.parse(e.data); $("status").textContent = `running (agent ${d.agent})…`; });
  source.addEventListener("turn", e => { $("turns").append(turnCard(JSON.parse(e.data), {pageLink: showPage})); });
  source.addEventListener("end", e => {
    const d = JSON.parse(e.data);
    const box = $("answer");
    box.hidden = false;
    box.replaceChildren(el("div", {}, el("b", {}, "answer: "), el("span", {id: "answer-text"}, d.answer ?? "(no answer)")),
      el("div", {class: "muted"}, `${d.turns} turns, ${d.searches} searches, ${d.page_reads} page reads, stop: ${d.stop_reason}`));
    $("status").textContent = d.stop_reason === "aborted" ? "cancelled" : "done";
    $("download").href = `/api/ask/${id}/trajectory`; $("download").hidden = false;
    source.close(); setRunning(false);
  });
  source.addEventListener("failure", e => {
    $("status").replaceChildren(el("span", {class: "error"}, JSON.parse(e.data).text)); source.close(); setRunning(false);
  });
}

$("ask-form").addEventListener("submit", async ev => {
  ev.preventDefault();
  if (source) source.close();
  $("turns").replaceChildren(); $("answer").hidden = true; $("page").hidden = true; $("download").hidden = true;
  try {
    const r = await getJSON("/api/ask", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({question: $("question").value, agent: $("agent").value, model: $("model").value,
                            retriever: $("retriever").value, max_turns: Number($("max-turns").value) || null})});
    current = r.id; setRunning(true); $("status").textContent = "starting…"; follow(r.id);
  } catch (e) { $("status").replaceChildren(el("span", {class: "error"}, e.message)); }
});
$("question").addEventListener("keydown", ev => { if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) $("run").click(); });
$("cancel").addEventListener("click", () => getJSON(`/api/ask/${current}/cancel`, {method: "POST"}));
$("save").addEventListener("click", async () => {
  try { const r = await getJSON(`/api/ask/${current}/save`, {method: "POST"}); $("status").textContent = "saved to " + r.path; }
  catch (e) { $("status").replaceChildren(el("span", {class: "error"}, e.message)); }
});
loadOptions().catch(e => $("status").replaceChildren(el("span", {class: "error"}, e.message)));
