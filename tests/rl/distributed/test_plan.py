"""`asearcher train --dry-run`'s launch plan (rl/distributed/plan.py, model_shape.py): the arithmetic of the
qwen2.5-7b-local-rag plan against figures computed by hand below, the model shapes against the published
parameter counts, config.json reading, and impossible plans refused with the key to change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asearcher.config import load_config
from asearcher.errors import UserError
from asearcher.rl.config import TrainConfig
from asearcher.rl.distributed.model_shape import KNOWN_SHAPES, model_shape, shape_from_config
from asearcher.rl.distributed.plan import GIB, make_launch_plan

RECIPES = Path(__file__).resolve().parents[3] / "src" / "asearcher" / "recipes"


def recipe(name: str, *overrides: str) -> TrainConfig:
    return load_config(TrainConfig, RECIPES / f"{name}.yaml", list(overrides))


def memory(plan, title_start: str) -> dict[str, float]:
    """{label up to its first ' (' or ':': bytes}, lines with the same label summed, plus 'total'."""
    group = next(g for g in plan.groups if g.title.startswith(title_start))
    out: dict[str, float] = {"total": group.total}
    for what, b in group.memory:
        key = what.split(" (")[0].split(":")[0]
        out[key] = out.get(key, 0) + b
    return out


def test_known_shapes_give_the_published_parameter_counts():
    # Qwen2.5-7B (config.json: 28 layers, hidden 3584, MLP 18944, 28 heads, 4 KV heads, vocab 152064, untied,
    # q/k/v biases): per layer q 3584*3584+3584 = 12,848,640; k and v 3584*512+512 = 1,835,520 each;
    # o 3584*3584 = 12,845,056; MLP 3*3584*18944 = 203,685,888; norms 2*3584 = 7,168 -> 233,057,792.
    # x 28 = 6,525,618,176; embedding + LM head 2*152064*3584 = 1,089,994,752; final norm 3,584
    # -> 7,615,616,512 (the model card: 7.61 B).
    assert KNOWN_SHAPES["qwen2.5-7b"].layer_params == 233_057_792
    assert KNOWN_SHAPES["qwen2.5-7b"].params == 7_615_616_512
    assert KNOWN_SHAPES["qwen2.5-14b"].params == 14_770_033_664  # model card: 14.7 B
    assert KNOWN_SHAPES["qwq-32b"].params == 32_763_876_352  # Qwen2.5-32B's shapes, model card: 32.5 B (31.0 B
    #                                                           non-embedding + 2 x 0.78 B embedding / LM head)
    # SmolLM2-135M: tied embedding 49152*576 = 28,311,552; layer 2*576*576 + 2*576*192 + 3*576*1536 + 2*576
    # = 3,540,096, x 30 = 106,202,880; + final norm 576 -> 134,515,008.
    assert KNOWN_SHAPES["smollm2-135m-instruct"].params == 134_515_008
    # KV cache per token, bf16: 2 x 28 layers x 4 KV heads x 128 x 2 bytes = 57,344 (56 KiB)
    assert KNOWN_SHAPES["qwen2.5-7b"].kv_bytes_per_token(2) == 57_344
    # QwQ-32B over t8: 8 KV heads / 8 = 1 per GPU: 2 x 64 x 1 x 128 x 2 = 32,768
    assert KNOWN_SHAPES["qwq-32b"].kv_bytes_per_token(2, tp=8) == 32_768


def test_qwen25_7b_plan_arithmetic_by_hand():
    plan = make_launch_plan(recipe("qwen2.5-7b-local-rag"))
    # 96 SGLang servers, t1: weights bf16 2 x 7,615,616,512 = 15,231,233,024 B per GPU. KV share: 0.9 x 80 GiB
    # = 77,309,411,328 B, minus the weights = 62,078,178,304 B, / 57,344 B per token = 1,082,557 tokens.
    server = memory(plan, "96 x rollout server (sglang")
    assert server["weights bf16"] == 15_231_233_024
    assert server["KV cache"] == pytest.approx(62_078_178_304, abs=1)
    assert "holds 1,082,557 tokens = 90 full episodes of 12000 tokens" in plan.render()
    # 2048 episodes in flight / 96 servers = 21.3 -> up to 22 per server
    assert "up to 22 episodes" in plan.render()
    # 32 FSDP2 ranks, fp32 master weights: 4 x 7,615,616,512 / 32 = 951,952,064 B each for weights and grads,
    # AdamW's two moments 1,903,904,128 B.
    trainer = memory(plan, "32 x FSDP2 trainer rank")
    assert trainer["weights fp32"] == trainer["gradients fp32"] == 951_952_064
    assert trainer["AdamW moments 2 x fp32"] == 1_903_904_128
    # gathered bf16: embeddings + LM head + final norm 1,089,998,336 params + 2 layers x 233,057,792
    # = 1,556,113,920 params x 2 bytes = 3,112,227,840 B.
    assert trainer["gathered for compute"] == 3_112_227_840
    # activations, no checkpointing: per token per layer 2 bytes x (6 x 3584 + 2 x 512 + 3 x 18944) = 158,720 B,
    # x 12000 tokens x 28 layers = 53,329,920,000 B. Logits: 12000 x 152064 x (2 + 4) = 10,948,608,000 B.
    assert trainer["activations"] == 53_329_920_000
    assert trainer["logits 12000 tokens x vocab 152064"] == 10_948_608_000
    # total 2 x 951,952,064 + 1,903,904,128 + 3,112,227,840 + 53,329,920,000 + 10,948,608,000 = 71,198,564,096 B
    # = 66.31 GiB of 80: fits, under the 90 % flag.
    assert trainer["total"] == 71_198_564_096
    assert "66.31 GiB  total per GPU" in plan.render()
    assert not any("FSDP2 trainer rank: ~" in w for w in plan.warnings)
    text = plan.render()
    assert "placement group: 32 bundles {CPU: 1, GPU: 1}" in text
    assert "the plan takes 128 GPUs and 129 CPUs" in text  # 96 + 32 GPUs; 96 + 32 + 1 rollout CPUs
    assert "disk: the trainer (rank 0) writes" in text and "NCCL broadcast" in text
    assert "shapes from built-in table (Qwen2.5-7B; folder not on this machine)" in text


def test_gradient_checkpointing_keeps_only_layer_inputs():
    # 14B with checkpointing: 48 layers x 12000 tokens x 5120 x 2 bytes = 5,898,240,000 B of layer inputs, plus
    # one layer recomputed: 12000 x 2 x (6 x 5120 + 2 x 1024 + 3 x 13824) = 12000 x 148,480 = 1,781,760,000 B.
    trainer = memory(make_launch_plan(recipe("qwen2.5-14b-local-rag")), "32 x FSDP2 trainer rank")
    assert trainer["activations"] == 5_898_240_000 + 1_781_760_000


@pytest.mark.parametrize("name, overrides, key", [
    ("qwq-32b-web", ["fsdp.gradient_checkpointing=false"], "fsdp.gradient_checkpointing"),
    ("qwen2.5-7b-local-rag", ["cluster.gpu_memory_gib=40", "fsdp.gradient_checkpointing=false"],
     "trainer.max_tokens_per_mb"),
    ("qwen2.5-7b-local-rag", ["cluster.gpu_memory_gib=16"], "agent.max_context_tokens"),
    ("qwen2.5-7b-local-rag", ["cluster.allocation=sglang.d32t3+d32"], r"t3 does not divide .* 28 attention heads"),
    ("qwen2.5-7b-local-rag", ["cluster.n_nodes=2", "cluster.allocation=sglang.d5t3+d1"], "cluster.n_nodes=2 holds only 4"),
    ("qwen2.5-7b-local-rag", ["cluster.n_nodes=2"], r"needs 128 GPUs .* cluster.n_nodes x cluster.gpus_per_node"),
    ("qwen2.5-7b-local-rag", ["cluster.backend=slurm"], "scripts/slurm_ray.sbatch"),
    ("qwen2.5-7b-local-rag", ["model=/models/Unknown-3B"], "model='/models/Unknown-3B': no config.json"),
])
def test_impossible_plans_name_the_key(name, overrides, key):
    with pytest.raises(UserError, match=key):
        make_launch_plan(recipe(name, *overrides))


def _write_config(folder: Path, **cfg) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def test_config_json_wins_over_the_table_and_missing_keys_are_named(tmp_path):
    # A folder named like a known model but holding other shapes: its config.json is what counts.
    folder = _write_config(tmp_path / "Qwen2.5-7B", model_type="llama", num_hidden_layers=2, hidden_size=64,
                           intermediate_size=128, num_attention_heads=4, num_key_value_heads=2, vocab_size=1000,
                           tie_word_embeddings=True)
    shape = model_shape(str(folder))
    assert shape.source == str(folder / "config.json")
    # layer: q 64x64 + k, v 64x32 each + o 64x64 + MLP 3x64x128 + norms 128 = 4096+4096+4096+24576+128 = 36,992;
    # x 2 + tied embedding 64,000 + final norm 64 = 138,048
    assert (shape.head_dim, shape.layer_params, shape.params) == (16, 36_992, 138_048)
    plan = make_launch_plan(load_config(TrainConfig, None, [f"model={folder}", f"out_dir={tmp_path}"]))
    assert f"shapes from {folder / 'config.json'}" in plan.render()
    (folder / "config.json").write_text(json.dumps({"hidden_size": 64}))
    with pytest.raises(UserError, match=r"config.json: no 'num_attention_heads'"):
        shape_from_config(folder / "config.json")


def test_files_it_reads_are_listed_with_whether_they_exist(tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text('{"question": "q", "answer": "a"}\n')
    plan = make_launch_plan(recipe("qwen2.5-7b-local-rag", f"data.train={data}"))
    files = {role: status for role, _, status in plan.files}
    assert files["training data"].startswith("exists") and files["model"] == "MISSING here"
    assert any("not on this machine: model /models/Qwen2.5-7B" in w for w in plan.warnings)
    assert any("'localhost' is the node the rollout actor lands on" in w for w in plan.warnings)


@pytest.mark.parametrize("where, expected", [
    (["engine.launch=true"], "1 x vllm server this run launches (engine.launch) for the model"),
    (["engine.servers=[http://10.0.0.5:8000,http://10.0.0.6:8000]"], "2 x vllm server you started (engine.servers)"),
])
def test_local_run_with_rollout_servers_plans_no_in_process_engine(where, expected):
    """Local training with engine.backend=vllm generates on servers: the plan holds no in-process engine's
    weights or KV cache in this process, and names the servers (docs/runbook.md, 'Local training with rollout
    servers')."""
    config = recipe("cpu-default", "engine.backend=vllm", "weight_sync=disk", *where)
    plan = make_launch_plan(config)
    text = plan.render()
    assert "local: generation on rollout servers (cluster.backend=local), no Ray" in text
    assert [g.title for g in plan.groups] == ["1 x this process (trainer, rollout)", expected]
    assert not any("engine" in what for what, _ in plan.groups[0].memory)
    in_process = make_launch_plan(recipe("cpu-default")).groups[0]
    assert in_process.title.startswith("1 x this process (in-process transformers engine")
    assert any(what.startswith("engine weights") for what, _ in in_process.memory)
