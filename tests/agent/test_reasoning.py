"""ReasoningAgent with a ScriptedEngine (a fake LLM, so the prompts the agent builds can be checked
exactly) and real tools over a tiny BM25 index."""

from asearcher.agent import prompts
from asearcher.agent.config import AgentConfig
from asearcher.agent.reasoning import ReasoningAgent
from asearcher.api import StopReason
from asearcher.engines.scripted import ScriptedEngine

URL = "https://en.wikipedia.org/wiki/Mona_Lisa"


def scripted(acts, notes="NOTE: Leonardo painted it."):
    """An engine answering read prompts with `notes` and act prompts with the next of `acts`."""
    queue = list(acts)

    def reply(request):
        prompt = engine.tokenizer.decode(request.input_ids)
        if "Do not answer the question here." in prompt:
            return notes
        return queue.pop(0) if len(queue) > 1 else queue[0]

    engine = ScriptedEngine([reply], repeat_last=True)
    return engine


def prompts_seen(engine):
    return [engine.tokenizer.decode(r.input_ids) for r in engine.requests]


async def test_early_answer_rejected_until_min_actions(tools):
    engine = scripted([
        "<answer>Raphael</answer>",
        "SECRET-THOUGHT</think><search>Mona Lisa painter</search>",
        f"<access>{URL}</access>",
        "<answer>Leonardo da Vinci</answer>",
    ])
    cfg = AgentConfig(kind="reasoning", min_actions_before_answer=2)
    traj = await ReasoningAgent(engine, tools, cfg).arun("Who painted the Mona Lisa?")
    assert traj.answer == "Leonardo da Vinci" and traj.stop_reason == StopReason.ANSWERED
    assert [t.action for t in traj.turns] == ["answer", "search", "access", "answer"]
    assert "rejected" in traj.turns[0].error and "0 done" in traj.turns[0].error
    seen = prompts_seen(engine)
    assert "at least 2 more action(s)" in seen[0]
    assert "Answer 'Raphael' rejected" in seen[1]
    assert prompts.PHASE_OPEN in seen[-1]
    # Hidden thinking never reaches later prompts; the notes do.
    assert not any("SECRET-THOUGHT" in p for p in seen[2:])
    assert "NOTE: Leonardo painted it." in seen[-1]
    # One segment per LLM call: 4 act calls + 2 read calls, each prompt mask 0 then output mask 1.
    assert len(traj.segments) == len(engine.requests) == 6
    for seg, req in zip(traj.segments, engine.requests, strict=True):
        n = len(req.input_ids)
        assert seg.token_ids[:n] == req.input_ids
        assert seg.loss_mask == [0] * n + [1] * (len(seg) - n) and len(seg) > n
        assert seg.versions[n:] == [0] * (len(seg) - n)


async def test_chunks_read_are_kept_only_as_stubs(tools):
    engine = scripted([f"<access>{URL}</access>", f"<access>{URL}</access>", "<answer>Leonardo</answer>"])
    traj = await ReasoningAgent(engine, tools, AgentConfig(kind="reasoning")).arun("Who painted the Mona Lisa?")
    assert [t.data.get("chunk_index") for t in traj.turns[:2]] == [0, 1]
    first_chunk_text = traj.turns[0].observation.split("\n\n", 1)[1]
    final_act_prompt = prompts_seen(engine)[-1]
    assert first_chunk_text not in final_act_prompt
    assert "chunk 1/" in final_act_prompt and "shown earlier" in final_act_prompt
    assert "chunk 2/" in final_act_prompt


async def test_turn_limit_forces_answer_phase_then_stops(tools):
    engine = scripted(["<search>Louvre</search>"])
    traj = await ReasoningAgent(engine, tools, AgentConfig(kind="reasoning", max_turns=3)).arun("Where is the Louvre?")
    assert len(traj.turns) == 3 and traj.answer is None and traj.stop_reason == StopReason.TURN_LIMIT
    assert prompts.PHASE_FORCE in prompts_seen(engine)[-1]
    # the forced turn's search was not run
    assert traj.num_searches == 3 and "tool_ok" not in traj.turns[-1].data


async def test_malformed_outputs_become_history_entries(tools):
    # (Two complete actions cannot come from an engine that honours stop strings: see test_parsing.)
    engine = scripted(["<think>x</think> just musing", "<search>", "<answer>Paris</answer>"])
    traj = await ReasoningAgent(engine, tools, AgentConfig(kind="reasoning")).arun("Where is the Louvre?")
    assert [t.action for t in traj.turns] == ["none", "none", "answer"]
    assert "No action found" in prompts_seen(engine)[1]
    assert "not closed" in prompts_seen(engine)[2]


def test_default_turn_limit_is_128():
    assert AgentConfig(kind="reasoning").turn_limit() == 128
