"""`asearcher train --config R --dry-run` for every shipped recipe: exit 0, a plan printed, nothing started
(no Ray, vLLM or SGLang imported, no run folder written)."""

from __future__ import annotations

import subprocess
import sys

from asearcher.cli.train import RECIPES

CODE = """
import contextlib, io, sys
from asearcher.cli import main
for name in sys.argv[1:-1]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["train", "--config", name, "--dry-run", f"out_dir={sys.argv[-1]}"])
    text = out.getvalue()
    assert rc == 0, (name, rc)
    assert text.startswith(f"launch plan of {name} (dry run"), text[:300]
    print(name, "ok", text.count("GiB  total per"))
heavy = sorted(m for m in ("ray", "vllm", "sglang") if m in sys.modules)
assert not heavy, heavy
"""


def test_every_shipped_recipe_dry_runs_and_starts_nothing(tmp_path):
    names = sorted(r.stem for r in RECIPES.glob("*.yaml"))
    assert {"cpu-default", "qwen2.5-7b-local-rag", "qwen2.5-14b-local-rag", "qwq-32b-web"} <= set(names)
    out = tmp_path / "runs"
    proc = subprocess.run([sys.executable, "-c", CODE, *names, str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert [line.split()[0] for line in lines] == names
    # the GPU recipes size two GPU actor kinds (servers, trainer ranks); cpu-default one process
    assert {line.split()[0]: int(line.split()[2]) for line in lines}["qwq-32b-web"] == 2
    assert not out.exists()  # no run folder


def test_impossible_plan_exits_2_naming_the_key():
    proc = subprocess.run([sys.executable, "-m", "asearcher.cli", "train", "--config", "qwq-32b-web", "--dry-run",
                           "fsdp.gradient_checkpointing=false"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "fsdp.gradient_checkpointing" in proc.stderr and "cluster.gpu_memory_gib=80" in proc.stderr
    assert "Traceback" not in proc.stderr
