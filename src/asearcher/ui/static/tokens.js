// The token view: one span per token, coloured by loss mask, policy version or behaviour logprob.
"use strict";

const POLICY = "#bfe3c4", CONTEXT = "transparent";

function versionColour(v, lo, hi) {
  // Older versions (more stale) are warmer: hue from green (newest) to red (oldest).
  const f = hi > lo ? (v - lo) / (hi - lo) : 1;
  return `hsl(${Math.round(10 + 110 * f)}, 70%, 82%)`;
}

function logprobColour(lp) {
  // Probability p = exp(lp): confident tokens pale blue, unlikely ones deep orange.
  const p = Math.exp(Math.max(lp, -20));
  return `hsl(${Math.round(25 + 185 * p)}, 85%, ${Math.round(62 + 26 * p)}%)`;
}

function tokenSpans(page, mode, range) {
  const frag = document.createDocumentFragment();
  for (let i = 0; i < page.text.length; i++) {
    const m = page.mask[i], v = page.version[i], lp = page.logprob[i];
    let bg = CONTEXT;
    if (m) bg = mode === "mask" ? POLICY : mode === "version" ? versionColour(v, range.lo, range.hi) : logprobColour(lp);
    const s = el("span", {class: "tok " + (m ? "pol" : "ctx"), "data-mask": m,
                          title: `#${page.start + i} · mask ${m}` + (m ? ` · version ${v} · logprob ${lp}` : " (prompt / tool / injected)")},
                 page.text[i]);
    s.style.background = bg;
    frag.append(s);
  }
  return frag;
}

function tokenLegend(mode, range) {
  const sw = c => { const s = el("span", {class: "swatch"}); s.style.background = c; return s; };
  if (mode === "mask") return [sw(POLICY), "sampled by the policy (loss mask 1)", sw("#fff"), "prompt, tool output, injected (0)"];
  if (mode === "version") return [sw(versionColour(range.hi, range.lo, range.hi)), `version ${range.hi}`,
                                  sw(versionColour(range.lo, range.lo, range.hi)), `version ${range.lo}`];
  return [sw(logprobColour(0)), "p≈1", sw(logprobColour(Math.log(0.5))), "p=0.5", sw(logprobColour(-5)), "p<0.01"];
}
