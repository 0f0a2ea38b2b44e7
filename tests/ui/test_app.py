"""The UI's HTTP API on fixture runs: runs, table queries, timelines, tokens, metrics, and the guards
(path traversal, Host header, token). Real app, real files; no browser."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from asearcher.ui.app import create_app
from asearcher.ui.config import UIConfig


@pytest.fixture
def client(runs_root):
    with TestClient(create_app(UIConfig(runs=[str(runs_root)], tokenizer="bytes")), base_url="http://127.0.0.1:8500") as c:
        yield c


def test_runs_lists_the_training_and_eval_folders(client):
    runs = {r["name"].split("/", 1)[1]: r for r in client.get("/api/runs").json()["runs"] if "/" in r["name"]}
    assert runs["train-small"]["kind"] == "train" and "trajectories.jsonl" in runs["train-small"]["files"]
    assert runs["eval-small"]["kind"] == "eval" and "results.jsonl" in runs["eval-small"]["files"]
    assert "train-small/eval_after" in runs  # the held-out eval folder is a run of its own


def test_rows_filter_sort_and_page(client):
    base = "/api/explorer/rows?file=0/eval-small/results.jsonl"
    everything = client.get(base + "&limit=500").json()
    assert everything["total"] == 60 and everything["facets"]["dataset"] == ["hotpotqa", "nq"]
    nq_wrong = client.get(base + "&dataset=nq&correct=false&limit=500").json()["rows"]
    assert nq_wrong and all(r["dataset"] == "nq" and r["correct"] is False for r in nq_wrong)
    by_turns = client.get(base + "&sort=turns&desc=1&limit=5").json()["rows"]
    assert [r["turns"] for r in by_turns] == sorted([r["turns"] for r in everything["rows"]], reverse=True)[:5]
    page2 = client.get(base + "&offset=50&limit=50").json()["rows"]
    assert [r["n"] for r in page2] == list(range(50, 60))
    few = client.get(base + "&min_turns=5&max_turns=5").json()["rows"]
    assert few and all(r["turns"] == 5 for r in few)


def test_training_rows_carry_step_and_staleness(client):
    rows = client.get("/api/explorer/rows?file=0/train-small/trajectories.jsonl&limit=500").json()["rows"]
    assert len(rows) == 48 and {r["step"] for r in rows} == set(range(1, 7))
    # fixture lags are 0..2 below the step's version (clamped at version 0)
    assert all(0 <= r["staleness"] <= min(2, r["version"]) for r in rows)
    stale = client.get("/api/explorer/rows?file=0/train-small/trajectories.jsonl&min_staleness=2&limit=500").json()
    assert all(r["staleness"] >= 2 for r in stale["rows"])


def test_full_text_search_ignores_token_ids(client):
    f = "0/train-small/trajectories.jsonl"
    hit = client.get(f"/api/explorer/rows?file={f}&q=capital 4 98").json()
    assert hit["total"] == 2 and all(r["turns"] == 100 for r in hit["rows"])  # the two 100-turn samples
    # "60" appears in token-id arrays of every line (byte 60 is '<'): no match from ids alone
    assert client.get(f"/api/explorer/rows?file={f}&q=, 60,").json()["total"] == 0


def test_trajectory_and_tokens(client):
    f = "0/train-small/trajectories.jsonl"
    d = client.get(f"/api/explorer/trajectory?file={f}&n=0").json()
    assert len(d["turns"]) == 100 and d["turns"][0]["action"] == "search" and d["gold"]
    assert d["segments"][0]["sampled"] > 0 and "token_ids" not in json.dumps(d)
    t = client.get(f"/api/explorer/tokens?file={f}&n=0&segment=0&start=0&limit=200").json()
    assert t["decoded"] and t["end"] == 200 and len(t["text"]) == len(t["mask"]) == 200
    text = "".join(t["text"])
    assert text.startswith("<|im_start|>user\nWhich city")
    sampled = "".join(c for c, m in zip(t["text"], t["mask"]) if m)
    assert sampled.startswith("<search>capital")  # the policy's tokens, not the prompt's
    assert all(v == -1 for v, m in zip(t["version"], t["mask"]) if not m)


def test_metrics_since_offset(client):
    f = "0/train-small/metrics.jsonl"
    first = client.get(f"/api/dashboard/metrics?file={f}&offset=0").json()
    assert [r["step"] for r in first["rows"]] == list(range(1, 7))
    again = client.get(f"/api/dashboard/metrics?file={f}&offset={first['offset']}").json()
    assert again["rows"] == [] and again["offset"] == first["offset"]


def test_overview_masks_secrets(client):
    o = client.get("/api/dashboard/run?run=0/train-small").json()
    assert o["config"]["serper_api_key"] == "***" and set(o["evals"]) == {"before", "after"}
    assert "s3cr3t" not in client.get("/api/dashboard/run?run=0/train-small").text


@pytest.mark.parametrize("url", [
    "/api/explorer/rows?file=0/../../etc/passwd",
    "/api/explorer/rows?file=0/%2e%2e/%2e%2e/etc/passwd",
    "/api/explorer/rows?file=0//etc/passwd",
    "/api/explorer/rows?file=1/etc/passwd",
    "/api/explorer/rows?file=/etc/passwd",
    "/api/explorer/trajectory?file=0/link-out/x.jsonl&n=0",
    "/api/dashboard/metrics?file=0/train-small/config.yaml",
    "/api/dashboard/run?run=0/..",
    "/static/../app.py",
    "/static/%2e%2e/app.py",
])
def test_traversal_is_refused(client, runs_root, url):
    link = runs_root / "link-out"
    if not link.exists():
        link.symlink_to("/etc", target_is_directory=True)
    r = client.get(url)
    assert r.status_code in (403, 404), (url, r.status_code, r.text[:200])
    assert "root:" not in r.text


def test_foreign_host_header_is_refused(client):
    assert client.get("/api/runs", headers={"host": "evil.example:8500"}).status_code == 403
    assert client.get("/api/runs", headers={"host": "localhost:8500"}).status_code == 200


def test_token_required_when_set(runs_root):
    app = create_app(UIConfig(runs=[str(runs_root)], host="0.0.0.0", allow_remote=True, token="t0k"))
    with TestClient(app, base_url="http://192.0.2.1:8500") as c:
        assert c.get("/api/runs").status_code == 401
        assert c.get("/api/runs", headers={"authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/api/runs", headers={"authorization": "Bearer t0k"}).status_code == 200
        r = c.get("/explorer?token=t0k&file=x", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/explorer?file=x"
        assert c.get("/api/runs").status_code == 200  # the cookie set by the redirect
