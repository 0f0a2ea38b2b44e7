"""BaseAgent with a ScriptedEngine (a fake LLM: the replies must be deterministic to check every
token's mask, logprob and version) and real search/access tools over a tiny BM25 index."""

from asearcher.agent import prompts
from asearcher.agent.base import BaseAgent
from asearcher.agent.config import AgentConfig
from asearcher.api import StopReason
from asearcher.engines.scripted import ScriptedEngine

URL = "https://en.wikipedia.org/wiki/Mona_Lisa"


def versioned(engine, replies):
    """Replies that bump engine.version before each one is sampled (turn k is sampled by version k)."""

    def make(k, text):
        def reply(_request):
            engine.version = k
            return text

        return reply

    return [make(k, t) for k, t in enumerate(replies)]


REPLIES = [
    "<think>Who painted it?</think>\n<search>Mona Lisa painter</search>",
    f"<think>Leonardo da Vinci, per the results.</think>\n<access>{URL}</access>",
    f"<think>Chunk 1 confirms it.</think>\n<access>{URL}</access> ignored after stop",
    "<think>Check once more.</think><search>  </search>",
    "<think>Done.</think>\n<answer>Leonardo da Vinci</answer>",
]


async def test_masks_versions_and_ids_over_five_turns(tools):
    engine = ScriptedEngine([])
    engine.replies = versioned(engine, REPLIES)
    traj = await BaseAgent(engine, tools, AgentConfig(max_turns=8)).arun("Who painted the Mona Lisa?", qid="q1")
    assert traj.answer == "Leonardo da Vinci" and traj.stop_reason == StopReason.ANSWERED
    assert [t.action for t in traj.turns] == ["search", "access", "access", "none", "answer"]
    (seg,) = traj.segments
    assert len(seg.token_ids) == len(seg.loss_mask) == len(seg.logprobs) == len(seg.versions)

    # Every request's input is a prefix of the final segment; each output follows its input exactly.
    reqs = engine.requests
    assert len(reqs) == 5
    outputs = [engine.tokenizer.encode(t.output) for t in traj.turns]
    expected_mask = [0] * len(seg.token_ids)
    expected_version = [-1] * len(seg.token_ids)
    for k, req in enumerate(reqs):
        start, end = len(req.input_ids), len(req.input_ids) + len(outputs[k])
        assert seg.token_ids[:start] == req.input_ids
        assert seg.token_ids[start:end] == outputs[k]
        expected_mask[start:end] = [1] * (end - start)
        expected_version[start:end] = [k] * (end - start)
    # No re-tokenisation drift: the final ids are the last request's input plus its output.
    assert seg.token_ids == reqs[-1].input_ids + outputs[-1]
    assert seg.loss_mask == expected_mask
    assert seg.versions == expected_version
    assert all((lp == -0.5) if m else (lp == 0.0) for lp, m in zip(seg.logprobs, seg.loss_mask, strict=True))
    assert "ignored after stop" not in engine.tokenizer.decode(seg.token_ids)


async def test_chunked_reading_and_invalid_turn_become_observations(tools):
    engine = ScriptedEngine(REPLIES)
    traj = await BaseAgent(engine, tools, AgentConfig(max_turns=8)).arun("Who painted the Mona Lisa?")
    search, read1, read2, bad, _ = traj.turns
    assert search.data["hits"][0]["title"] == "Mona Lisa" and search.observation.startswith("[1] Mona Lisa")
    assert (read1.data["chunk_index"], read2.data["chunk_index"]) == (0, 1)
    assert "chunk 1 of" in read1.observation and "chunk 2 of" in read2.observation
    assert bad.action == "none" and not bad.format_ok and "Empty query" in bad.observation
    assert not traj.format_ok
    # The model saw the error inside <information> on the next request, and the note-taking instruction after results.
    last_context = engine.tokenizer.decode(engine.requests[-1].input_ids)
    assert "<information>\nEmpty query in <search>" in last_context
    assert last_context.count("inside <think> </think>, then take one action") == 3


async def test_unknown_url_and_two_actions_continue_the_episode(tools):
    engine = ScriptedEngine([
        "<access>https://en.wikipedia.org/wiki/No_Such_Page</access>",
        "<think>x</think>",  # no action
        "<answer>Paris</answer>",
    ])
    traj = await BaseAgent(engine, tools, AgentConfig(max_turns=8)).arun("Where is the Louvre?")
    assert [t.action for t in traj.turns] == ["access", "none", "answer"]
    assert traj.turns[0].data["tool_ok"] is False and "No page found" in traj.turns[0].observation
    assert "No action found" in traj.turns[1].observation
    assert traj.answer == "Paris"


async def test_forced_answer_on_the_last_turn(tools):
    engine = ScriptedEngine(["<search>Louvre city</search>", "Paris</answer>"])
    traj = await BaseAgent(engine, tools, AgentConfig(max_turns=2)).arun("Where is the Louvre?")
    assert traj.answer == "Paris" and traj.stop_reason == StopReason.ANSWERED
    assert traj.turns[-1].data["forced"] is True
    forced_ids = engine.tokenizer.encode(prompts.FORCE_ANSWER)
    last_input = engine.requests[-1].input_ids
    assert last_input[-len(forced_ids):] == forced_ids
    seg = traj.segments[0]
    assert seg.loss_mask[len(last_input) - len(forced_ids): len(last_input)] == [0] * len(forced_ids)


async def test_turn_limit_without_answer(tools):
    engine = ScriptedEngine(["<search>Louvre</search>", "</answer>"])
    traj = await BaseAgent(engine, tools, AgentConfig(max_turns=2)).arun("Where is the Louvre?")
    assert traj.answer is None and traj.stop_reason == StopReason.TURN_LIMIT


async def test_token_budget_cuts_observations_and_forces_the_answer(tools):
    def reply(request):
        forced = engine.tokenizer.decode(request.input_ids).endswith(prompts.FORCE_ANSWER)
        return "Leonardo</answer>" if forced else f"<think>read on</think><access>{URL}</access>"

    engine = ScriptedEngine([reply], repeat_last=True)
    prompt_len = len(engine.tokenizer.chat_ids([{"role": "user", "content": prompts.BASE_PROMPT.format(question="Q?")}]))
    cfg = AgentConfig(max_turns=30, max_context_tokens=prompt_len + 500, force_answer_margin=150)
    traj = await BaseAgent(engine, tools, cfg).arun("Q?")
    seg = traj.segments[0]
    assert len(seg) <= cfg.max_context_tokens
    assert traj.answer == "Leonardo" and traj.turns[-1].data["forced"]
    assert 2 <= len(traj.turns) < 30
    assert any(t.data.get("observation_cut") for t in traj.turns[:-1])
    for req in engine.requests:  # the margin survived every observation
        assert cfg.max_context_tokens - len(req.input_ids) >= 1
