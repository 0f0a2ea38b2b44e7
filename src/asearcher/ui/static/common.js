// Helpers shared by the pages: fetch JSON, escape text, build elements. No dependencies.
"use strict";

async function getJSON(url, options) {
  const r = await fetch(url, options);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || body.detail || `${r.status} ${r.statusText}`);
  return body;
}

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c.nodeType ? c : document.createTextNode(c));
  return e;
}

function fmt(v, digits = 3) {
  if (v === null || v === undefined) return "";
  if (typeof v === "number" && !Number.isInteger(v)) return v.toFixed(digits);
  return String(v);
}

function qs(params) {
  return new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v !== null && v !== undefined)).toString();
}

// One rendering of a turn, shared by the ask page's live view and the explorer's timeline.
function turnCard(t, opts = {}) {
  const hits = (t.hits || (t.data && t.data.hits) || []).map(h => {
    const link = opts.pageLink ? el("a", {href: "#", onclick: ev => { ev.preventDefault(); opts.pageLink(h.url); }}, h.title || h.url)
                               : el("span", {title: h.url || ""}, h.title || h.url || "?");
    return el("li", {}, link, h.text ? el("span", {class: "muted"}, " — " + h.text.slice(0, 160)) : null);
  });
  const data = t.data || {};
  const thought = t.thought ?? data.thought;
  const notes = t.notes ?? data.notes;
  const chunk = t.chunk || (t.action === "access" ? data : null);
  const where = chunk && Number.isInteger(chunk.chunk_index) ? ` (chunk ${chunk.chunk_index + 1}${chunk.num_chunks ? "/" + chunk.num_chunks : ""})` : "";
  return el("div", {class: "card turn", "data-action": t.action},
    el("div", {class: "row"}, el("b", {}, `#${t.index + 1}`), el("span", {class: `tag ${t.action}`}, t.action),
       el("span", {class: "grow"}, (t.argument ?? "") + where),
       el("span", {class: "muted"}, t.gen_tokens ? `${t.gen_tokens} tok` : "")),
    thought ? el("div", {class: "thought"}, el("span", {class: "muted"}, "think: "), thought) : null,
    hits.length ? el("ol", {class: "hits"}, hits) : null,
    notes ? el("div", {}, el("span", {class: "muted"}, "notes: "), notes) : null,
    t.error ? el("div", {class: "error"}, t.error) : null,
    t.observation ? el("details", {}, el("summary", {}, "observation"), el("pre", {}, t.observation)) : null,
    opts.output && t.output ? el("details", {}, el("summary", {}, "model output"), el("pre", {}, t.output)) : null);
}

function header(here) {
  document.body.prepend(el("header", {}, el("b", {}, "asearcher"),
    el("nav", {}, ["ask", "explorer", "dashboard"].map(p => el("a", {href: `/${p}`, class: p === here ? "here" : ""}, p)))));
}
