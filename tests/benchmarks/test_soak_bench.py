"""benchmarks/soak.py for a few seconds: good and bad requests, no errors, RSS sampled, the docs section written."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"


def load_soak():
    sys.path.insert(0, str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("soak_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_short_soak_has_no_errors_and_writes_its_section(bm25_index_dir: Path, tmp_path: Path) -> None:
    soak = load_soak()
    result = soak.main(["--minutes", "0.1", "--window-s", "2", "--concurrency", "8", "--slowloris", "2",
                        "--index", str(bm25_index_dir), "--no-write", "--json", str(tmp_path / "soak.json")])
    assert result["requests"] > 50
    assert result["errors"] == 0 and result["server_errors"] == 0, [r["examples"] for r in result["rows"]]
    assert len(result["rows"]) == 3 and all(r["rss_mib"] > 50 for r in result["rows"])
    assert 0.35 < sum(x["weight"] for x in result["mix"] if not x["good"]) < 0.45
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Retrieval\n\nkept\n\n## Soak\n\nold\n")
    section = soak.render(result["machine"], result, soak.argparse.Namespace(minutes=0.1, concurrency=8, slowloris=2))
    soak.write_section(section, doc)
    text = doc.read_text()
    assert "kept" in text and "old" not in text and "| minute | req/s |" in text
