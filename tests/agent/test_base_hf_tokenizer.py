"""The no-drift guarantee with a real BPE tokenizer (SmolLM2's, read from the embedded GGUF), where
encode(a) + encode(b) != encode(a + b) is common. The engine is a ScriptedEngine (a fake LLM, for
deterministic replies) tokenising with that tokenizer."""

import pytest

from asearcher.agent.base import BaseAgent
from asearcher.agent.config import AgentConfig
from asearcher.engines.scripted import ScriptedEngine

URL = "https://en.wikipedia.org/wiki/Mona_Lisa"


@pytest.mark.slow  # loading the tokenizer out of the GGUF takes ~10-30 s on 2 busy cores
async def test_five_turn_ids_equal_engine_inputs_plus_outputs_with_bpe(tools):
    from asearcher.engines.embedded import embedded_model_path, load_tokenizer

    tok = load_tokenizer(embedded_model_path())
    engine = ScriptedEngine([
        "<think>Who painted it?</think>\n<search>Mona Lisa painter</search>",
        f"<think>Leonardo, it seems.</think>\n<access>{URL}</access>",
        f"<think>Chunk one agrees.</think>\n<access>{URL}</access>",
        "<think>Sure now.</think><search>Leonardo da Vinci birth</search>",
        "<think>Done.</think>\n<answer>Leonardo da Vinci</answer>",
    ], tokenizer=tok)
    traj = await BaseAgent(engine, tools, AgentConfig(max_turns=8, read_pages=False)).arun("Who painted the Mona Lisa?")
    assert traj.answer == "Leonardo da Vinci" and len(traj.turns) == 5
    seg, last = traj.segments[0], engine.requests[-1]
    outputs = [tok.encode(t.output) for t in traj.turns]
    assert seg.token_ids == last.input_ids + outputs[-1]
    for req, out in zip(engine.requests, outputs, strict=True):
        n = len(req.input_ids)
        assert seg.token_ids[n : n + len(out)] == out and seg.loss_mask[n : n + len(out)] == [1] * len(out)
    assert sum(seg.loss_mask) == sum(len(o) for o in outputs)


@pytest.mark.slow  # as above
async def test_page_reading_segments_stay_token_exact_with_bpe(tools):
    from asearcher.engines.embedded import embedded_model_path, load_tokenizer

    tok = load_tokenizer(embedded_model_path())
    engine = ScriptedEngine([
        f"<think>Read it.</think>\n<access>{URL}</access>",
        "Leonardo painted it.</think>", "It hangs in the Louvre.</think>", "Stolen in 1911.</think>",
        "\n<answer>Leonardo da Vinci</answer>",
    ], tokenizer=tok)
    traj = await BaseAgent(engine, tools, AgentConfig(max_turns=8)).arun("Who painted the Mona Lisa?")
    assert [t.action for t in traj.turns] == ["access", "read", "read", "read", "answer"]
    segs, reqs = traj.segments, engine.requests
    outputs = [tok.encode(t.output) for t in traj.turns]
    in_use = [0, 0, 1, 2, 3]  # the conftest's Mona Lisa page has 3 parts of <= 200 chars
    assert len(segs) == 4
    for k, (req, out) in enumerate(zip(reqs, outputs, strict=True)):
        seg, n = segs[in_use[k]], len(req.input_ids)
        assert seg.token_ids[:n] == req.input_ids  # what the engine saw, id for id
        assert seg.token_ids[n : n + len(out)] == out and seg.loss_mask[n : n + len(out)] == [1] * len(out)
    assert sum(s.num_sampled for s in segs) == sum(map(len, outputs))
