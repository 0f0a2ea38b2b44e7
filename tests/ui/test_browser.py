"""The pages in headless Chromium (Debian's package, driven by Playwright; no browser download).

The server is the real app under uvicorn on a free loopback port. The ask page is tested twice: with
a scripted engine through the runner's factory (deterministic: a real small model would not follow a
script) on the real embedded BM25 index, and with the embedded defaults (the real SmolLM2 model).
Screenshots go to $ASEARCHER_SCREENSHOTS when set (docs/ui/ is made that way), else to a temp folder.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

playwright = pytest.importorskip("playwright.sync_api")

from asearcher.engines.scripted import ScriptedEngine  # noqa: E402
from asearcher.ui.app import create_app  # noqa: E402
from asearcher.ui.ask import AskChoices, AskRunner  # noqa: E402
from asearcher.ui.config import UIConfig  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (scripts/install.sh --dev)")
REPLIES = [
    "<think>Find the painter.</think>\n<search>Mona Lisa painting</search>",
    "<think>The results name Leonardo da Vinci.</think>\n<access>https://en.wikipedia.org/wiki/Mona_Lisa</access>",
    "The page says Leonardo da Vinci painted it.</think>",  # notes on the page's one part (page reading)
    "\n<answer>Leonardo da Vinci</answer>",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """The app under uvicorn in a thread, on 127.0.0.1:<free port>."""

    def __init__(self, app) -> None:
        import uvicorn

        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            assert time.time() < deadline and self.thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    out = Path(os.environ.get("ASEARCHER_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    out.mkdir(parents=True, exist_ok=True)
    return out


def _page(browser):
    return browser.new_page(viewport={"width": 1280, "height": 800})


def _runner(engine_factory=None) -> AskRunner:
    from asearcher.agent.ask import AskConfig

    return AskRunner(AskChoices(), lambda model: AskConfig(), engine_factory=engine_factory)


def _ask(browser, served: Served, question: str, timeout_ms: int):
    """Open the ask page, ask `question`, wait for the answer box; the page."""
    page = _page(browser)
    page.goto(served.url + "/ask")
    page.fill("#question", question)
    page.click("#run")
    page.wait_for_selector("#answer-text", timeout=timeout_ms)
    return page


def test_ask_page_scripted_engine(browser, shots, runs_root, bm25_index_dir, tmp_path):
    runner = _runner(lambda model, config: ScriptedEngine(REPLIES))
    served = Served(create_app(UIConfig(runs=[str(runs_root)], save_dir=str(tmp_path)), runner))
    try:
        page = _ask(browser, served, "Who painted the Mona Lisa?", 60_000)
        assert page.inner_text("#answer-text") == "Leonardo da Vinci"
        searches = page.locator('.turn[data-action="search"]')
        assert searches.count() == 1 and "Mona Lisa" in searches.first.inner_text()
        assert page.locator('.turn[data-action="access"]').count() == 1
        assert "painted it" in page.locator('.turn[data-action="read"]').first.inner_text()  # the notes shown
        page.locator(".hits a").first.click()  # a hit's link opens the page text beside the trace
        page.wait_for_selector("#page pre")
        assert "Leonardo" in page.inner_text("#page pre")
        page.click("#save")
        page.wait_for_function("document.getElementById('status').textContent.startsWith('saved to')")
        saved = list(tmp_path.glob("ask-*.json"))
        assert len(saved) == 1 and json.loads(saved[0].read_text())["answer"] == "Leonardo da Vinci"
        page.screenshot(path=str(shots / "ask.png"))
        # nothing the page can fetch names a path, URL or key of the configured model
        assert "gguf" not in page.content()
    finally:
        served.stop()


def test_ask_page_embedded_defaults(browser, shots, bm25_index_dir):
    """The real embedded SmolLM2-135M through llama.cpp with `asearcher ask`'s embedded defaults."""
    from asearcher.agent.ask import EMBEDDED_ASK_DEFAULTS, AskConfig
    from asearcher.config import load_config

    config = load_config(AskConfig, None, [f"{k}={v}" for k, v in EMBEDDED_ASK_DEFAULTS.items()])
    served = Served(create_app(UIConfig(), AskRunner(AskChoices(), lambda model: config)))
    try:
        page = _ask(browser, served, "Who painted the Mona Lisa?", 240_000)
        assert page.locator('.turn[data-action="search"]').count() >= 1
        assert page.locator(".turn .hits li").count() >= 1
        page.screenshot(path=str(shots / "ask-embedded.png"))
    finally:
        served.stop()


@pytest.fixture(scope="module")
def served_runs(runs_root):
    served = Served(create_app(UIConfig(runs=[str(runs_root)], tokenizer="bytes")))
    yield served
    served.stop()


def test_explorer_timeline_tokens_and_compare(browser, shots, served_runs):
    page = _page(browser)
    page.goto(served_runs.url + "/explorer?file=0/train-small/trajectories.jsonl")
    page.wait_for_selector("#table tbody tr")
    assert page.locator("#table tbody tr").count() == 48
    page.keyboard.press("j")  # keyboard navigation: down one row, then open it
    page.keyboard.press("k")
    page.keyboard.press("Enter")
    page.wait_for_selector("#tab-timeline .turn")
    assert page.locator("#tab-timeline .turn").count() == 100  # the 100-turn episode
    page.screenshot(path=str(shots / "explorer-timeline.png"))
    page.keyboard.press("o")
    page.wait_for_selector('#tokens span.tok[data-mask="1"]')
    assert page.locator('#tokens span.tok[data-mask="0"]').count() > 0
    assert page.locator('#tokens span.tok[data-mask="1"]').first.inner_text().startswith("<")  # "<search>" bytes
    page.screenshot(path=str(shots / "explorer-tokens.png"))
    page.select_option("#colour", "version")
    page.wait_for_selector('#tokens span.tok[data-mask="1"]')
    page.keyboard.press("c")
    page.wait_for_selector("#cmp-b .turn")
    page.screenshot(path=str(shots / "explorer-compare.png"))
    page.fill("#q", "capital 4 98")
    page.wait_for_function("document.querySelectorAll('#table tbody tr').length === 2")


def test_dashboard_follows_a_growing_metrics_file(browser, shots, runs_root):
    import random

    from fixture_runs import metrics_row, summary

    live = runs_root / "live"
    live.mkdir()
    (live / "config.yaml").write_text("name: live\nmodel: ''\n")
    rng = random.Random(0)
    with (live / "metrics.jsonl").open("w") as f:
        for step in range(1, 4):
            f.write(json.dumps(metrics_row(step, 12, rng)) + "\n")
    (live / "eval_before").mkdir()
    (live / "eval_before" / "summary.json").write_text(json.dumps(summary(0.3)))
    served = Served(create_app(UIConfig(runs=[str(runs_root)])))

    def writer():  # a training run appending one step at a time, the last line torn for a moment
        for step in range(4, 13):
            time.sleep(0.3)
            line = json.dumps(metrics_row(step, 12, rng)) + "\n"
            with (live / "metrics.jsonl").open("a") as f:
                f.write(line[:10])
                f.flush()
                time.sleep(0.05)
                f.write(line[10:])

    try:
        page = _page(browser)
        page.goto(served.url + "/dashboard?run=0/live&run=0/train-small")
        page.wait_for_function("document.body.dataset.steps === '9'")  # 3 + the 6 of train-small
        thread = threading.Thread(target=writer)
        thread.start()
        page.wait_for_function("document.body.dataset.steps === '18'", timeout=30_000)
        thread.join()
        assert page.locator("svg.chart path.series").count() >= 14  # 7 charts x 2 runs at least
        assert "wiki-lead" in page.inner_text("#evals")
        page.screenshot(path=str(shots / "dashboard.png"), full_page=True)
    finally:
        served.stop()


@pytest.mark.parametrize("raw_path", [
    "/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py",
    "/api/explorer/rows?file=0/..%2f..%2f..%2fetc%2fpasswd", "/api/dashboard/metrics?file=0/../../../../etc/passwd",
])
def test_traversal_over_real_http(served_runs, raw_path):
    """Raw request lines (no client-side normalisation of '..') against the live server."""
    conn = http.client.HTTPConnection("127.0.0.1", served_runs.port, timeout=10)
    conn.putrequest("GET", raw_path, skip_host=True)
    conn.putheader("Host", f"127.0.0.1:{served_runs.port}")
    conn.endheaders()
    r = conn.getresponse()
    body = r.read().decode(errors="replace")
    assert r.status in (403, 404), (raw_path, r.status, body[:200])
    assert "create_app" not in body and "root:" not in body


@pytest.mark.slow
def test_explorer_first_page_on_10000_trajectories(browser, tmp_path, capsys):
    """Reports (does not assert) the explorer's first-page time on a 10,000-trajectory run."""
    from fixture_runs import write_train_run

    write_train_run(tmp_path / "big", steps=1250, per_step=8, long_turns=100)
    served = Served(create_app(UIConfig(runs=[str(tmp_path)], tokenizer="bytes")))
    try:
        page = _page(browser)
        times = []
        for _ in range(2):  # cold (the server indexes the file) and warm
            page.goto(served.url + "/explorer?file=0/big/trajectories.jsonl")
            page.wait_for_selector("#table tbody tr")
            times.append(page.evaluate("performance.now()"))
        assert page.locator("#table tbody tr").count() == 100
        page.click("#table th:nth-child(7)")  # sort by turns over all 10,000 rows
        page.wait_for_function("document.querySelector('#table tbody td:nth-child(7)').textContent === '100'")
        with capsys.disabled():
            print(f"\n10,000 trajectories: first page rendered {times[0]:.0f} ms after navigation (cold index), "
                  f"{times[1]:.0f} ms (warm); rows request {page.evaluate('document.body.dataset.rowsMs')} ms")
    finally:
        served.stop()
        shutil.rmtree(tmp_path / "big", ignore_errors=True)
