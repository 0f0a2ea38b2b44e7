"""Schemathesis over the live server: every check, >= 1,000 requests, no 5xx, no schema violation.

Schemathesis reads the server's own /openapi.json and generates valid and invalid requests from
it (coverage and fuzzing phases), checking every reply against the document: status codes and
bodies as documented, invalid data refused with a 4xx, valid data accepted, unsupported methods
answered 405 with an Allow header. The server runs in this process (uvicorn on 127.0.0.1) over a
real BM25 index, so every request is searched for real; the app is wrapped to count requests
and 5xx replies on the server side.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from asearcher.corpus import JsonlPageStore
from asearcher.retrieval.bm25 import BM25Retriever
from asearcher.retrieval.server import create_app
from asearcher.retrieval.server_config import ServerConfig
from asearcher.retrieval.server_runner import ServerThread

from tiny_corpus import TINY

_CLI = "import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis())"


class StatusCounter:
    """ASGI wrapper counting HTTP requests by the status of their reply."""

    def __init__(self, app) -> None:
        self.app = app
        self.statuses: Counter[int] = Counter()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counting_send(message) -> None:
            if message["type"] == "http.response.start":
                self.statuses[message["status"]] += 1
            await send(message)

        await self.app(scope, receive, counting_send)


def _run_schemathesis(tmp_path: Path, max_examples: int) -> tuple[str, Counter[int]]:
    r = BM25Retriever()
    r.index(TINY)
    pages = tmp_path / "pages.jsonl"
    pages.write_text("".join(json.dumps({"url": p.url, "title": p.title, "text": p.text}) + "\n"
                             for p in TINY if p.url))
    config = ServerConfig(max_topk=20, max_queries=64, max_body_bytes=65_536)
    app = StatusCounter(create_app(r, JsonlPageStore(pages), config))
    with ServerThread(app, config=config) as url:
        done = subprocess.run(
            [sys.executable, "-c", _CLI, "run", f"{url}/openapi.json", "--checks", "all",
             "--max-examples", str(max_examples), "--phases", "coverage,fuzzing", "--workers", "1",
             "--seed", "20260517", "--continue-on-failure", "--warnings", "off"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path,
        )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    return output, app.statuses


def _check(output: str, statuses: Counter[int], min_requests: int) -> None:
    assert "No issues found" in output, output[-6000:]
    served = sum(statuses.values())
    assert served >= min_requests, (served, output[-3000:])
    assert not [s for s in statuses if s >= 500], statuses
    assert statuses[200] > 0 and statuses[422] > 0  # both valid and invalid requests were made


@pytest.mark.slow
def test_schemathesis_all_checks_over_a_thousand_requests(tmp_path: Path) -> None:
    output, statuses = _run_schemathesis(tmp_path, max_examples=500)
    _check(output, statuses, min_requests=1000)


def test_schemathesis_all_checks_fast_variant(tmp_path: Path) -> None:
    output, statuses = _run_schemathesis(tmp_path, max_examples=40)
    _check(output, statuses, min_requests=100)
