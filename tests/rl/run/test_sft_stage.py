"""`atrain` with sft.enabled on a tiny random HF model and the real corpus, tools and agent: the
shipped-model eval and the warm start land in the run folder, RL trains from <run>/sft/, a resumed
run reuses the warm start, and the report shows shipped / after SFT / after SFT + RL."""

from __future__ import annotations

import pytest

from asearcher.config import load_config
from asearcher.rl import launch
from asearcher.rl.config import TrainConfig
from asearcher.rl.launch import atrain
from asearcher.rl.run import sft_stage
from engines.tiny_hf import tiny_hf_folder  # tests/ is on sys.path (its conftest.py)

# Byte-level tokens: the expert's turns are ~100 tokens, prompts ~1.5k.
TINY = ["total_steps=1", "rollout.group_size=2", "rollout.batch_questions=1", "rollout.max_concurrent=2",
        "data.limit=4", "filter.enabled=false", "checkpoint.every_steps=0", "trainer.max_tokens_per_mb=8192",
        "agent.max_turns=2", "agent.max_new_tokens_per_turn=160", "agent.max_context_tokens=8192",
        "agent.max_observation_tokens=2048", "tools.topk=2", "tools.max_chars_per_hit=80", "engine.max_batch_size=4",
        "eval.questions=2", "eval.shipped_questions=1", "eval.concurrency=2", "eval.temperature=0.0",
        "sft.enabled=true", "sft.questions=4", "sft.batch_size=2", "sft.max_tokens_per_mb=8192"]


async def test_warm_start_then_rl_from_its_weights_and_resume_reuses_it(tmp_path, bm25_index_dir, monkeypatch):
    # A window that holds the ~1.5k-token prompts: the agent's budget is clipped to the model's window.
    model = tiny_hf_folder(tmp_path / "tiny", max_positions=8192)
    config = load_config(TrainConfig, None, [f"model={model}", f"out_dir={tmp_path}", *TINY])
    built_from = []
    real_build = launch.build_components

    def spy(c, **kwargs):
        built_from.append(c.model)
        return real_build(c, **kwargs)

    monkeypatch.setattr(launch, "build_components", spy)
    run = tmp_path / "run"
    result = await atrain(config, run, progress=False)

    sft_dir = run / "sft"
    assert (sft_dir / "sft.json").is_file() and (sft_dir / "config.json").is_file()
    assert not (run / "sft-work").exists()  # the finished warm start's checkpoints are gone
    assert built_from == [str(sft_dir)]
    assert set(result.evals) == {"shipped", "before", "after"} and result.steps == 1
    # eval.shipped_questions=1: the shipped model on the first question only; SFT and RL on both
    assert [len((run / f"eval_{s}" / "results.jsonl").read_text().splitlines())
            for s in ("shipped", "before", "after")] == [1, 2, 2]
    assert load_config(TrainConfig, run / "config.yaml").model == str(model)  # the recipe as given
    report = (run / "report.md").read_text()
    rows = [line for line in report.splitlines() if line.startswith("| ") and "| qa_test |" in line]
    assert [r.split(" | ")[0] for r in rows] == ["| shipped model (no training)", "| after SFT (RL step 0)",
                                                  "| after SFT + RL"], report

    async def no_second_warm_start(*a, **k):
        raise AssertionError("the warm start ran again on resume")

    monkeypatch.setattr(sft_stage, "awarm_start", no_second_warm_start)
    marker = (sft_dir / "sft.json").stat().st_mtime_ns
    config.total_steps = 2
    resumed = await atrain(config, run, resume=True, progress=False)
    assert resumed.steps == 2 and built_from[-1] == str(sft_dir)
    assert (sft_dir / "sft.json").stat().st_mtime_ns == marker
    assert set(resumed.evals) == {"shipped", "before", "after"}


async def test_given_parts_with_sft_enabled_is_refused(tmp_path):
    config = load_config(TrainConfig, None, ["sft.enabled=true", f"out_dir={tmp_path}"])
    with pytest.raises(ValueError, match="sft.enabled"):
        await atrain(config, tmp_path / "run", progress=False, parts=object())
