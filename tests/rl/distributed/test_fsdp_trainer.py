"""FSDPTrainer (FSDP2) against the single-process Trainer: same samples, same weights after the updates.

The 2-rank test runs this file under `torchrun --nproc-per-node 2` (gloo on CPU, fp32): the workers write
their findings to a JSON file that the pytest process checks. The GPU test does the same with NCCL and
bf16 compute on 2 CUDA GPUs.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from asearcher.rl.distributed.fsdp_trainer import balance, merge_lora

HERE = Path(__file__).resolve()


# ---- pure helpers (one process) --------------------------------------------------------------


def test_balance_spreads_tokens_longest_first():
    shares = balance([11, 11, 11, 3, 2], 2)
    assert sorted(i for s in shares for i in s) == [0, 1, 2, 3, 4]
    loads = [sum([11, 11, 11, 3, 2][i] for i in s) for s in shares]
    assert loads == [22, 16]
    assert balance([5], 3) == [[0], [], []]  # a rank may get nothing (it runs dummy passes)


def test_merge_lora_equals_peft_merge():
    peft = pytest.importorskip("peft")
    from asearcher.rl.distributed.fsdp_trainer import lora_scalings
    from asearcher.rl.train.model import export_model_weights

    model = peft.get_peft_model(_model(), peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                          init_lora_weights=False))
    expected = export_model_weights(model)  # peft's own merge
    got = merge_lora(model.state_dict(), lora_scalings(model))
    assert set(got) == set(expected)
    for k in expected:
        torch.testing.assert_close(got[k], expected[k], atol=1e-6, rtol=1e-5)
    assert not torch.equal(got["model.layers.0.self_attn.q_proj.weight"],
                           model.state_dict()["base_model.model.model.layers.0.self_attn.q_proj.base_layer.weight"])


def test_materialise_gives_a_meta_model_storage_and_its_buffers_back(tmp_path):
    from asearcher.rl.distributed.fsdp_trainer import is_on_meta, materialise
    from asearcher.rl.train.model import LoraConfig, build_meta_trainer_model, build_trainer_model
    from engines.tiny_hf import tiny_hf_folder

    folder = tiny_hf_folder(tmp_path / "tiny", tie_word_embeddings=True)
    loaded = build_trainer_model(folder, "auto", LoraConfig(), seed=0, sharded=True)
    model = build_meta_trainer_model(folder, "auto", LoraConfig(), seed=0)
    assert is_on_meta(model) and not is_on_meta(loaded)
    buffers = {k: b.clone() for k, b in model.named_buffers()}
    materialise(model, torch.device("cpu"), buffers)  # what FSDPTrainer does after fully_shard
    assert not is_on_meta(model) and model.lm_head.weight is model.model.embed_tokens.weight
    for name, buf in model.named_buffers():
        assert torch.equal(buf, buffers[name]), name  # to_empty's garbage replaced
    model.load_state_dict(loaded.state_dict())  # (FSDPTrainer: rank 0's broadcast)
    ids = torch.tensor([[3, 17, 40, 2, 9, 81]])
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, loaded(ids).logits, rtol=0, atol=0)  # same fp32 ops


EXPORT_CHECK = """
import json, sys
from pathlib import Path
import torch
from transformers import AutoModelForCausalLM, Qwen2Config, Qwen2ForCausalLM
from asearcher.rl.distributed.fsdp_trainer import write_hf_checkpoint

out, tied = Path(sys.argv[1]), sys.argv[2] == "True"
torch.manual_seed(0)
model = Qwen2ForCausalLM(Qwen2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                     num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=tied))
folder = write_hf_checkpoint(model.state_dict(), model.config, out / "hf", max_shard_size="20KB")
assert (folder / "model.safetensors.index.json").is_file() and len(list(folder.glob("*.safetensors"))) > 1
back = AutoModelForCausalLM.from_pretrained(folder)
got, ref = back.state_dict(), model.state_dict()
assert set(got) == set(ref), sorted(set(got) ^ set(ref))[:5]
diff = max(float((got[k].float() - ref[k].float()).abs().max()) for k in ref)
half = AutoModelForCausalLM.from_pretrained(write_hf_checkpoint(ref, model.config, out / "bf", dtype=torch.bfloat16))
print(json.dumps({"max_diff": diff, "tied": back.lm_head.weight is back.model.embed_tokens.weight,
                  "bf16": half.dtype == torch.bfloat16}))
"""


@pytest.mark.parametrize("tied", [False, True])
def test_hf_export_reloads_sharded_and_tied(tmp_path, tied):
    # Run in a fresh interpreter: after tests/retrieval in the full suite, this process built a
    # Qwen2 with tie_word_embeddings=True whose lm_head was NOT tied (and from_pretrained left it on
    # meta) -- transformers process state we have not pinned down (closing note of session 4), not
    # the export format this test checks.
    check = subprocess.run([sys.executable, "-c", EXPORT_CHECK, str(tmp_path), str(tied)],
                           capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stderr[-3000:]
    assert json.loads(check.stdout.strip().splitlines()[-1]) == {"max_diff": 0.0, "tied": tied, "bf16": True}


# ---- the model and data both sides use --------------------------------------------------------


def _model(cls_name: str = "Qwen2") -> torch.nn.Module:
    import transformers

    torch.manual_seed(0)
    config = getattr(transformers, f"{cls_name}Config")(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64)
    return getattr(transformers, f"{cls_name}ForCausalLM")(config)


def _samples(model, lengths=(11, 11, 11, 8)) -> list:
    """Trajectories of the given lengths (context 4 + sampled + context 2 + sampled), behaviour logprobs
    from `model` shifted by 0.1 (slightly off-policy), advantages of both signs."""
    from asearcher.api.trajectory import Segment, Trajectory
    from asearcher.rl.algo.advantages import TrainSample, broadcast
    from asearcher.rl.algo.logprobs import packed_logprobs

    g = torch.Generator().manual_seed(3)
    out = []
    for i, n in enumerate(lengths):
        seg = Segment()
        a = (n - 6) // 2
        seg.append_context(torch.randint(0, 64, (4,), generator=g).tolist())
        seg.append_sampled(torch.randint(0, 64, (a,), generator=g).tolist(), [0.0] * a, [0] * a)
        seg.append_context([5, 6])
        seg.append_sampled(torch.randint(0, 64, (n - 6 - a,), generator=g).tolist(), [0.0] * (n - 6 - a),
                           [0] * (n - 6 - a))
        ids = torch.tensor(seg.token_ids)
        with torch.no_grad():
            lp = packed_logprobs(model, ids, torch.arange(len(ids)), torch.tensor([0, len(ids)])).logp
        seg.logprobs = [float(x) - 0.1 if m else 0.0 for x, m in zip(lp, seg.loss_mask)]
        t = Trajectory(qid=f"q{i}", question="", segments=[seg], reward=1.0)
        adv = 1.0 if i % 2 == 0 else -0.5
        out.append(TrainSample(t, adv, broadcast(t, adv)))
    return out


# ---- the worker (run by torchrun) ---------------------------------------------------------------


def _max_diff(a: dict, b: dict) -> float:
    assert set(a) == set(b), (sorted(set(a) ^ set(b)))[:5]
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def _worker(out_dir: Path, device_kind: str) -> None:
    """Both ranks: FSDP runs; rank 0 also the single-process reference, and writes results.json."""
    from asearcher.rl.distributed.fsdp_trainer import FSDPConfig, FSDPTrainer
    from asearcher.rl.distributed.torchrun import RankZeroTrainer, follow, init_distributed
    from asearcher.rl.train.model import LoraConfig, apply_lora, export_model_weights
    from asearcher.rl.train.trainer import Trainer, TrainerConfig

    gpu = device_kind == "cuda"
    fsdp = FSDPConfig(param_dtype="bfloat16" if gpu else "float32", gradient_checkpointing=True)
    device = init_distributed(fsdp)
    rank = torch.distributed.get_rank()
    # Budget 12: one sequence per micro-batch. Lengths 11, 11, 11, 8: rank 0 gets two 11s, rank 1 11 and 8.
    # The LoRA batch adds a 9: rank 1 then has 3 micro-batches, rank 0 2 and a dummy pass.
    tcfg = TrainerConfig(lr=1e-2, max_tokens_per_mb=12, max_grad_norm=0.5)
    samples = _samples(_model())
    res: dict = {}

    def reference(model, n_steps=2, s=samples):
        ref = Trainer(model, dataclasses.replace(tcfg, autocast="bfloat16" if gpu else "off"))
        return [ref.step(s) for _ in range(n_steps)], ref

    # 1. full fine-tuning, rank 0 driving rank 1 (the torchrun protocol), export, checkpoint
    trainer = FSDPTrainer(_model(), tcfg, fsdp, device=device)
    if rank == 0:
        driver = RankZeroTrainer(trainer)
        stats = [driver.step(samples) for _ in range(2)]
        synced = driver.export_weights()
        driver.save_checkpoint(out_dir / "run", 2, {"version": driver.version, "note": "x"}, [], 1)
        driver.step(samples)
        after3 = driver.export_weights()
        driver.stop()
        ref_stats, ref = reference(_model())
        expected = export_model_weights(ref.model)
        res["full_weights_max_diff"] = _max_diff(synced, expected)
        res["moved"] = _max_diff(expected, export_model_weights(_model()))
        res["stats"] = [{k: (s.get(k), r.get(k)) for k in ("grad_norm", "loss", "clip_frac", "imp_weight_mean", "lag_max",
                                                   "logp_diff/mean_abs", "logp_diff/n_tokens")}
                        for s, r in zip(stats, ref_stats)]
        res["n_micro_batches"] = stats[0]["n_micro_batches"]
        ref.step(samples)
        res["step3_max_diff"] = _max_diff(after3, export_model_weights(ref.model))
    else:
        follow(trainer)
    trainer.export_hf(out_dir / "hf")  # a collective outside the PolicyTrainer protocol: both ranks call it
    if rank == 0:
        from transformers import AutoModelForCausalLM

        reloaded = AutoModelForCausalLM.from_pretrained(out_dir / "hf", dtype=torch.float32)
        res["export_max_diff"] = _max_diff(export_model_weights(reloaded), after3)
        res["export_files"] = sorted(p.name for p in (out_dir / "hf").iterdir())

    # 2. resume: a fresh sharded trainer loads the step-2 checkpoint; its step 3 equals the uninterrupted one
    resumed = FSDPTrainer(_model(), tcfg, fsdp, device=device)
    state = resumed.load_checkpoint(out_dir / "run" / "checkpoints" / "step-000002").state
    resumed.step(samples)
    after3_resumed = resumed.export_weights()
    if rank == 0:
        res["resume_version"] = (state["version"], state["note"])
        res["resume_max_diff"] = _max_diff(after3_resumed, after3)

    # 3. LoRA, both ranks calling step (the Ray launcher's way); an odd batch makes rank 1 run a dummy pass.
    # Without the optional peft package this part is left out (and _check says so by skipping its checks).
    if importlib.util.find_spec("peft") is None:
        if rank == 0:
            (out_dir / "results.json").write_text(json.dumps(res))
        torch.distributed.destroy_process_group()
        return
    lora = LoraConfig(enabled=True, rank=4, alpha=8, target_modules=["q_proj", "v_proj"])
    lora_samples = _samples(_model(), lengths=(11, 11, 11, 8, 9))
    base = _model()
    torch.manual_seed(100 + rank)  # different adapter inits per rank: rank 0's must be broadcast
    lt = FSDPTrainer(apply_lora(base, lora), tcfg, fsdp, device=device)
    lstats = [lt.step(lora_samples) for _ in range(2)]
    lsynced = lt.export_weights()
    if rank == 0:
        base = _model()
        torch.manual_seed(100)
        ref_stats, ref = reference(apply_lora(base, lora), s=lora_samples)
        res["lora_weights_max_diff"] = _max_diff(lsynced, export_model_weights(ref.model))
        res["lora_grad_norm"] = [(s["grad_norm"], r["grad_norm"]) for s, r in zip(lstats, ref_stats)]
        res["lora_n_micro_batches"] = lstats[0]["n_micro_batches"]
        (out_dir / "results.json").write_text(json.dumps(res))
    torch.distributed.destroy_process_group()


def _run_torchrun(tmp_path: Path, device_kind: str, timeout: int) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    with socket.socket() as s:  # torchrun's static rendezvous needs a real port (0 hangs)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(port),
           str(HERE), str(tmp_path), device_kind]
    proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return json.loads((tmp_path / "results.json").read_text())


def _check(res: dict, tol: float) -> None:
    assert res["moved"] > 1e-3  # the updates changed the weights: the comparison below is not vacuous
    assert res["full_weights_max_diff"] < tol, res
    for step in res["stats"]:
        for key, (got, want) in step.items():
            assert got == pytest.approx(want, rel=tol * 10, abs=tol), (key, got, want)
    assert res["stats"][0]["logp_diff/mean_abs"][0] == pytest.approx(0.1, abs=1e-4)  # the 0.1 shift of _samples
    assert res["n_micro_batches"] == 4  # 4 sequences of > 6 tokens, budget 12: one each, over both ranks
    assert res["step3_max_diff"] < tol, res
    assert res["export_max_diff"] < tol, res
    assert "config.json" in res["export_files"] and "model.safetensors" in res["export_files"]
    assert res["resume_version"] == [2, "x"]
    assert res["resume_max_diff"] < tol, res
    if "lora_weights_max_diff" not in res:
        pytest.skip("the LoRA part needs the optional peft package (the rest passed)")
    assert res["lora_weights_max_diff"] < tol, res
    for got, want in res["lora_grad_norm"]:
        assert got == pytest.approx(want, rel=tol * 10)
    assert res["lora_n_micro_batches"] == 5


@pytest.mark.slow
def test_two_ranks_on_cpu_match_the_single_process_trainer(tmp_path):
    """2 processes, gloo, fp32: 2 steps equal Trainer's (weights, grad norm, loss stats); the HF export
    reloads to those weights; a checkpoint resumes to the uninterrupted step 3; LoRA (merged) the same."""
    res = _run_torchrun(tmp_path, "cpu", timeout=600)
    _check(res, tol=2e-5)


@pytest.mark.gpu
@pytest.mark.slow
def test_two_ranks_on_gpus_nccl_bf16(tmp_path):
    """The same on 2 CUDA GPUs: NCCL, bf16 compute with fp32 master weights and reduction, against the
    single-process trainer with bf16 autocast (looser tolerance: bf16 rounding differs between the two)."""
    if torch.cuda.device_count() < 2:
        pytest.skip("needs 2 CUDA GPUs")
    res = _run_torchrun(tmp_path, "cuda", timeout=600)
    _check(res, tol=5e-2)


if __name__ == "__main__":  # torchrun worker: python test_fsdp_trainer.py OUT_DIR cpu|cuda
    _worker(Path(sys.argv[1]), sys.argv[2])
