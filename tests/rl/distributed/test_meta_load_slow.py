"""Meta-device loading under `torchrun --nproc-per-node 2` (gloo, CPU, fp32): `build_fsdp_trainer` on each
rank, rank 1 building its model on the meta device and receiving only its shards from rank 0. Its sharded
model must be the plainly loaded one: same logits, tied lm_head still tied, rotary buffers right, and one
training step equal to the single-process trainer's.

The workers (this file run by torchrun) write what they saw to JSON files that the pytest process checks.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve()
IDS = [[3, 17, 40, 2, 9, 81, 5, 33], [7, 7, 1, 60, 12, 4, 90, 11]]


def _spy_builders(seen: dict) -> None:
    """Record which builder `build_fsdp_trainer` used on this rank and whether its parameters were on meta."""
    from asearcher.rl.distributed import torchrun

    for name in ("build_trainer_model", "build_meta_trainer_model"):
        real = getattr(torchrun, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            model = _real(*args, **kwargs)
            seen["builder"], seen["built_on_meta"] = _name, all(p.is_meta for p in model.parameters())
            return model

        setattr(torchrun, name, spy)


def _check_model(folder: Path, lora: bool, out: Path) -> None:
    """One case on every rank: build the sharded trainer the production way, compare with a plain load."""
    import dataclasses

    from test_fsdp_trainer import _max_diff, _samples  # this folder is sys.path[0] under torchrun

    from asearcher.engines.embedded import load_causal_lm
    from asearcher.rl.config import TrainConfig
    from asearcher.rl.distributed.torchrun import build_fsdp_trainer
    from asearcher.rl.train.model import LoraConfig, build_trainer_model, export_model_weights
    from asearcher.rl.train.trainer import Trainer

    rank = torch.distributed.get_rank()
    config = TrainConfig()
    config.trainer = dataclasses.replace(config.trainer, lr=1e-2, max_tokens_per_mb=12)
    if lora:
        config.lora = LoraConfig(enabled=True, rank=4, alpha=8, target_modules=["q_proj", "v_proj"])
    seen: dict = {}
    _spy_builders(seen)
    trainer = build_fsdp_trainer(config, folder)
    plain, _ = load_causal_lm(folder, dtype="float32")
    ids = torch.tensor(IDS)
    with torch.no_grad():
        logits = trainer.model(ids).logits  # a collective: both ranks run it
        seen["logits_max_diff"] = float((logits - plain(ids).logits).abs().max())
    hf = trainer.model.get_base_model() if lora else trainer.model
    seen["tied"] = hf.lm_head.weight is hf.model.embed_tokens.weight
    seen["buffers_equal"] = all(torch.equal(b, dict(plain.named_buffers())[k.removeprefix("base_model.model.")])
                                for k, b in trainer.model.named_buffers())
    samples = _samples(plain)
    stats = trainer.step(samples)
    weights = trainer.export_weights()  # a collective; rank 0 gets the full merged weights
    if rank == 0:
        ref = Trainer(build_trainer_model(folder, "auto", config.lora, config.seed, sharded=True), config.trainer)
        ref_stats = ref.step(samples)
        seen["step_max_diff"] = _max_diff(weights, export_model_weights(ref.model))
        seen["grad_norm"] = [stats["grad_norm"], ref_stats["grad_norm"]]
        seen["exported_tied"] = torch.equal(weights["lm_head.weight"], weights["model.embed_tokens.weight"])
    out.write_text(json.dumps(seen))


def _worker(out_dir: Path) -> None:
    from engines.tiny_hf import tiny_hf_folder  # tests/ on sys.path via PYTHONPATH set by the test

    from asearcher.rl.distributed.torchrun import init_distributed

    init_distributed()
    rank = torch.distributed.get_rank()
    cases = [("tied", True, False), ("untied", False, False)]
    if importlib.util.find_spec("peft") is not None:
        cases.append(("tied_lora", True, True))
    for name, tied, lora in cases:
        folder = out_dir / name
        if rank == 0:
            torch.manual_seed(1)
            tiny_hf_folder(folder, tie_word_embeddings=tied)
        torch.distributed.barrier()
        _check_model(folder, lora, out_dir / f"{name}.rank{rank}.json")
    torch.distributed.destroy_process_group()


def test_two_ranks_meta_loaded_equal_a_plain_load(tmp_path):
    """Rank 1 builds on meta, rank 0 reads the file; both ranks' sharded model gives the plain model's logits
    (fp32 on CPU: the gathered weights are the file's exact values and the kernels are the same ones, so the
    difference is 0; 1e-6 leaves room for a reordered reduction only)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(HERE.parents[2]), os.environ.get("PYTHONPATH", "")])}
    with socket.socket() as s:  # torchrun's static rendezvous needs a real port (0 hangs)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(port),
           str(HERE), str(tmp_path)]
    proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    cases = sorted({p.name.split(".")[0] for p in tmp_path.glob("*.rank*.json")})
    assert {"tied", "untied"} <= set(cases)
    for case in cases:
        r0, r1 = (json.loads((tmp_path / f"{case}.rank{r}.json").read_text()) for r in (0, 1))
        assert (r0["builder"], r0["built_on_meta"]) == ("build_trainer_model", False), case
        assert (r1["builder"], r1["built_on_meta"]) == ("build_meta_trainer_model", True), case
        for r in (r0, r1):
            assert r["logits_max_diff"] < 1e-6, (case, r)
            assert r["tied"] is case.startswith("tied"), (case, r)
            assert r["buffers_equal"], (case, r)
        assert r0["step_max_diff"] < 2e-5, (case, r0)  # test_fsdp_trainer.py's fp32 tolerance (summed grads)
        assert r0["grad_norm"][0] == pytest.approx(r0["grad_norm"][1], rel=2e-4), (case, r0)
        assert r0["exported_tied"] is case.startswith("tied"), (case, r0)
    if "tied_lora" not in cases:
        pytest.skip("the LoRA case needs the optional peft package (the others passed)")


if __name__ == "__main__":  # torchrun worker: python test_meta_load_slow.py OUT_DIR
    _worker(Path(sys.argv[1]))
