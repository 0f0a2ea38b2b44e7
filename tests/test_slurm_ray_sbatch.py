"""scripts/slurm_ray.sbatch: Ray on every node of the allocation, then the same `asearcher train` command.
Slurm cannot run here, so `scontrol` and `srun` are stand-ins on PATH that record each call and answer as
Slurm would (a two-node allocation; every `srun` job succeeds at once)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "slurm_ray.sbatch"

SRUN = """#!/bin/bash
# Record the command (after srun's own options) as one line; answer `hostname --ip-address` for the head.
while [[ $1 == -* ]]; do case $1 in -w|--nodes|--ntasks) shift 2 ;; *) shift ;; esac; done
printf '%s\\n' "$*" >> "$LOG"
[[ $1 == hostname ]] && echo 10.0.0.1
exit 0
"""


def run_script(tmp_path: Path, *args: str) -> list[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text("#!/bin/bash\nprintf 'gpu-a\\ngpu-b\\n'\n")
    (bin_dir / "srun").write_text(SRUN)
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    log = tmp_path / "srun.log"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "LOG": str(log), "SLURM_JOB_NODELIST": "gpu-[a-b]",
           "SLURM_GPUS_ON_NODE": "8", "SLURM_CPUS_ON_NODE": "64"}
    proc = subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [" ".join(line.split()) for line in log.read_text().splitlines()]


def test_starts_ray_on_every_node_then_runs_the_recipe_against_it(tmp_path):
    calls = run_script(tmp_path, "qwq-32b-web", "out_dir=/shared/runs", "rollout.judge_url=http://j:8001/v1")
    # `ray start` runs in the background (srun ... &): its line may land anywhere after its launch.
    head = [i for i, c in enumerate(calls) if "ray start --head" in c]
    workers = [i for i, c in enumerate(calls) if "ray start --address" in c]
    checks = [i for i, c in enumerate(calls) if "ray.nodes()" in c]
    assert len(head) == len(workers) == 1 and len(checks) == 2
    assert "ray start --head --node-ip-address=10.0.0.1 --port=6379 --num-gpus=8 --num-cpus=64 --block" in calls[head[0]]
    assert "ray start --address=10.0.0.1:6379 --num-gpus=8 --num-cpus=64 --block" in calls[workers[0]]
    assert ">= 1" in calls[checks[0]] and ">= 2" in calls[checks[1]]  # the head first, then every node
    assert workers[0] > checks[0]  # workers start once the head answers
    train = [c for c in calls if "asearcher train" in c]
    assert len(train) == 1 and calls.index(train[0]) > checks[1]
    assert "asearcher train --config qwq-32b-web out_dir=/shared/runs rollout.judge_url=http://j:8001/v1" in train[0]
    assert train[0].endswith("cluster.backend=ray cluster.ray_address=10.0.0.1:6379 cluster.n_nodes=2 "
                             "cluster.gpus_per_node=8")


def test_resume_passes_the_run_folder(tmp_path):
    train = [c for c in run_script(tmp_path, "--resume", "/shared/runs/qwq-32b-web-1") if "asearcher train" in c]
    assert "asearcher train --resume /shared/runs/qwq-32b-web-1 cluster.backend=ray" in train[0]
