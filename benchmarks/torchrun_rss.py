"""Peak host memory of a torchrun start of the FSDP2 trainer on CPU, before and after meta-device loading.

    python benchmarks/torchrun_rss.py                          # 2 ranks, both paths, 0.5B random Qwen2
    python benchmarks/torchrun_rss.py --ranks 2 3 --modes meta --no-write

The model: a Qwen2.5-0.5B-shaped Qwen2 (494M parameters, tied embeddings) with random weights, built from
its config once and saved as float32 (1.98 GB; or --file-dtype bfloat16, as most published checkpoints)
safetensors under --model-dir; a byte-level tokenizer beside it (the trainer loads one; its size does not
matter here).

What is started: `torchrun --nproc-per-node N` of this file's worker. Every rank joins the gloo group and
builds the FSDP2 trainer (rl/distributed/fsdp_trainer.FSDPTrainer, float32 master weights), then waits
at a barrier so that every rank is measured once all are built:
  - full: every rank loads the whole model (rl/train/model.build_trainer_model) and then shards it: what
    `build_fsdp_trainer` did before meta-device loading, kept here as the reference;
  - broadcast: rank 0 loads the whole model, the other ranks build it on the meta device and receive their
    shards from rank 0 (the path `build_fsdp_trainer` takes for LoRA or a non-safetensors checkpoint);
  - meta: rl/distributed/torchrun.build_fsdp_trainer, the production path: every rank builds the model on
    the meta device and reads only its own shards' rows from the safetensors file.
`--src OLD/src` runs the ranks on another checkout's code (e.g. `git archive` of the commit before this
change, where `meta` is then the old build_fsdp_trainer: a check that `full` reproduces it).

Measured: each rank's peak RSS (VmHWM of /proc/self/status: it includes the pages of the safetensors file
mapped while loading) and its RSS once built; the parent samples every 20 ms the ranks' summed RSS and
summed anonymous RSS (RssAnon: memory the kernel cannot drop, unlike mapped file pages) and summed PSS
(a page mapped by several ranks counted once over them: the physical memory), whose peaks are the host
memory the start needed at one time. Results: benchmarks/results/torchrun_rss.json and the
"Meta-device loading" section of docs/benchmarks.md (written by hand from the printed table).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil  # a dependency of accelerate, which the project pins

ROOT = Path(__file__).resolve().parents[1]
QWEN2_0_5B = dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                  num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                  tie_word_embeddings=True)


def build_model(folder: Path, dtype: str) -> Path:
    """The random 0.5B Qwen2 saved in `dtype` and a tokenizer in `folder` (once; 2 GB on disk in float32)."""
    if (folder / "model.safetensors").is_file():
        return folder
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    sys.path.insert(0, str(ROOT / "tests"))
    from engines.tiny_hf import tiny_hf_tokenizer  # the tests' byte-level tokenizer: no download

    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(**QWEN2_0_5B)).to(getattr(torch, dtype))
    tmp = folder.with_name(folder.name + ".tmp")
    model.save_pretrained(tmp)
    tiny_hf_tokenizer().save_pretrained(tmp)
    tmp.rename(folder)
    return folder


def _proc_kib(field: str) -> int:
    return int(re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M).group(1))


def worker(model_dir: str, mode: str, out_dir: str) -> None:
    """One rank: build the FSDP2 trainer the `mode` way, wait for the others, write what it used."""
    import torch.distributed as dist

    from asearcher.rl.config import TrainConfig
    from asearcher.rl.distributed.fsdp_trainer import FSDPTrainer
    from asearcher.rl.distributed.torchrun import build_fsdp_trainer, init_distributed
    from asearcher.rl.train.model import build_trainer_model

    start = time.perf_counter()
    config = TrainConfig()
    if mode in ("full", "broadcast"):
        device = init_distributed(config.fsdp)
        args = (model_dir, config.trainer_dtype, config.lora, config.seed)
        if mode == "full" or dist.get_rank() == 0:
            model = build_trainer_model(*args, sharded=True)
        else:
            from asearcher.rl.train.model import build_meta_trainer_model

            model = build_meta_trainer_model(*args)
        trainer = FSDPTrainer(model, config.trainer, config.fsdp, device=device)
    else:
        trainer = build_fsdp_trainer(config, model_dir)
    built_s = time.perf_counter() - start
    dist.barrier()
    n_local = sum(p.to_local().numel() for p in trainer.model.parameters())
    rank = dist.get_rank()
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps({
        "rank": rank, "peak_rss_mib": _proc_kib("VmHWM") / 1024, "rss_built_mib": _proc_kib("VmRSS") / 1024,
        "anon_built_mib": _proc_kib("RssAnon") / 1024, "build_s": built_s, "local_params": n_local}))
    dist.barrier()
    dist.destroy_process_group()


def _ranks_of(launcher: psutil.Process) -> list[psutil.Process]:
    try:
        return launcher.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _memory(procs: list[psutil.Process]) -> tuple[int, int, int]:
    """Summed (RSS, RssAnon, PSS) in bytes of `procs` (those that still exist). PSS splits each shared page
    (a model file mapped by every rank) over the processes mapping it: the sum is the physical memory."""
    rss = anon = pss = 0
    for p in procs:
        try:
            status = Path(f"/proc/{p.pid}/status").read_text()
            rollup = Path(f"/proc/{p.pid}/smaps_rollup").read_text()
        except OSError:
            continue
        found = [re.search(rf"^{k}:\s+(\d+)", text, re.M)
                 for k, text in (("VmRSS", status), ("RssAnon", status), ("Pss", rollup))]
        if all(found):  # (an exiting process has no memory lines)
            rss, anon, pss = (total + int(m.group(1)) * 1024 for total, m in zip((rss, anon, pss), found))
    return rss, anon, pss


def run(model_dir: Path, mode: str, n_ranks: int, src: Path) -> dict:
    """One torchrun start; the ranks' reports plus the sampled peaks of their summed memory."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(n_ranks), "--master-port",
               str(port), __file__, "--worker", str(model_dir), mode, out]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        launcher, peaks = psutil.Process(proc.pid), (0, 0, 0)
        while proc.poll() is None:
            peaks = tuple(map(max, peaks, _memory(_ranks_of(launcher))))
            time.sleep(0.02)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"torchrun ({mode}, {n_ranks} ranks) failed:\n{proc.stderr.read()[-4000:]}")
        ranks = [json.loads((Path(out) / f"rank{r}.json").read_text()) for r in range(n_ranks)]
    return {"mode": mode, "ranks": n_ranks, "wall_s": wall, "per_rank": ranks,
            "sum_peak_rss_mib": sum(r["peak_rss_mib"] for r in ranks),
            "sampled_peak_rss_mib": peaks[0] / 2**20, "sampled_peak_anon_mib": peaks[1] / 2**20,
            "sampled_peak_pss_mib": peaks[2] / 2**20, "file_dtype": model_dir.name.rsplit("-", 1)[-1]}


def table(rows: list[dict]) -> str:
    lines = ["| file | path | ranks | peak RSS per rank (MiB) | sum of peaks (MiB) | sampled peak, all ranks: RSS / "
             "anon / PSS (MiB) | RSS once built per rank (MiB) | start (s) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        per = " / ".join(f"{x['peak_rss_mib']:.0f}" for x in r["per_rank"])
        built = " / ".join(f"{x['rss_built_mib']:.0f}" for x in r["per_rank"])
        lines.append(f"| {r['file_dtype']} | {r['mode']} | {r['ranks']} | {per} | {r['sum_peak_rss_mib']:.0f} | "
                     f"{r['sampled_peak_rss_mib']:.0f} / {r['sampled_peak_anon_mib']:.0f} / "
                     f"{r['sampled_peak_pss_mib']:.0f} | {built} | {r['wall_s']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(*sys.argv[2:5])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, default=Path(tempfile.gettempdir()),
                        help="Where the random model is built once (a subfolder named by its dtype) and read from.")
    parser.add_argument("--file-dtype", default="float32", choices=["float32", "bfloat16"],
                        help="Dtype of the saved weights (the trainer's master weights are float32 either way).")
    parser.add_argument("--ranks", type=int, nargs="+", default=[2], help="torchrun --nproc-per-node values.")
    parser.add_argument("--modes", nargs="+", default=["full", "broadcast", "meta"],
                        choices=["full", "broadcast", "meta"], help="Ways of building the ranks (see above).")
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="The asearcher source the ranks run.")
    parser.add_argument("--no-write", action="store_true", help="Print only; no benchmarks/results file.")
    args = parser.parse_args()
    model_dir = build_model(args.model_dir / f"asearcher-rss-qwen2-0.5b-{args.file_dtype}", args.file_dtype)
    rows = []
    for n in args.ranks:
        for mode in args.modes:
            rows.append(run(model_dir, mode, n, args.src.resolve()))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    print(table(rows))
    if not args.no_write:
        # Rows of earlier runs with other (path, ranks) are kept: one file for the whole table.
        out = ROOT / "benchmarks" / "results" / "torchrun_rss.json"
        kept = json.loads(out.read_text())["rows"] if out.is_file() else []
        stamp = {"date": time.strftime("%Y-%m-%d %H:%M"), "loadavg": os.getloadavg(), "src": str(args.src)}
        new = {(r["file_dtype"], r["mode"], r["ranks"]) for r in rows}
        rows = [r for r in kept if (r["file_dtype"], r["mode"], r["ranks"]) not in new] + [{**r, **stamp} for r in rows]
        out.write_text(json.dumps({"model": QWEN2_0_5B, "rows": rows}, indent=1) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
