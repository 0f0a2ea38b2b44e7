"""ReasoningAgent with a ScriptedEngine (a fake LLM, so the prompts the agent builds can be checked
exactly) and real tools over a tiny BM25 index."""

from dataclasses import replace

from asearcher.agent.config import AgentConfig
from asearcher.agent.history import History
from asearcher.agent.prompts import select_prompt, write_prompt_file
from asearcher.agent.reasoning import ReasoningAgent
from asearcher.api import StopReason
from asearcher.engines.scripted import ScriptedEngine

URL = "https://en.wikipedia.org/wiki/Mona_Lisa"
TOO_EARLY = "It is too early to answer"  # in the `act` prompt only
MAY_ANSWER = "<answer> the answer, in a few words </answer>"  # in the `act_answer` prompt only


def scripted(acts, notes="<thought>NOTE: Leonardo painted it.</thought>"):
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


def act_prompts(engine):
    return [p for p in prompts_seen(engine) if "Do not answer the question here." not in p]


async def test_answers_before_the_answer_phase_are_refused(tools):
    engine = scripted([
        "<thought>A guess.</thought>\n<answer>Raphael</answer>",
        "SECRET-THOUGHT</think><thought>Search it.</thought>\n<search>Mona Lisa painter</search>",
        f"<thought>Read the page.</thought>\n<access>{URL}</access>",
        "<thought>Confirmed.</thought>\n<answer>Leonardo da Vinci</answer>",
    ])
    cfg = AgentConfig(kind="reasoning", current_date="2025.07.21")  # min_actions_before_answer: 4
    traj = await ReasoningAgent(engine, tools, cfg).arun("Who painted the Mona Lisa?")
    assert traj.answer == "Leonardo da Vinci" and traj.stop_reason == StopReason.ANSWERED
    assert [t.action for t in traj.turns] == ["answer", "search", "access", "answer"]
    assert "not accepted yet" in traj.turns[0].error and "(0 steps and 0 searches so far)" in traj.turns[0].error
    acts = act_prompts(engine)
    # Steps: refused answer 1, search 2, its reading 3, access 4, its reading 5: the phase opens for the last act.
    assert [TOO_EARLY in p for p in acts] == [True, True, True, False]
    assert [MAY_ANSWER in p for p in acts] == [False, False, False, True]
    assert 'Answer "Raphael" not accepted yet' in acts[1]
    assert all("Today is 2025.07.21." in p for p in acts)
    # Acting thoughts are kept, hidden thinking never is; reading notes are kept too.
    assert "<think>A guess.</think>\n\n<answer>Raphael</answer>" in acts[1]
    assert "<think>Search it.</think>\n\n<search>Mona Lisa painter</search>" in acts[2]
    assert not any("SECRET-THOUGHT" in p for p in prompts_seen(engine)[2:])
    assert "<think>NOTE: Leonardo painted it.</think>" in acts[-1]
    # One segment per LLM call (4 acts + 2 readings), prompt mask 0 then output mask 1.
    assert len(traj.segments) == len(engine.requests) == 6
    for seg, req in zip(traj.segments, engine.requests, strict=True):
        n = len(req.input_ids)
        assert seg.token_ids[:n] == req.input_ids
        assert seg.loss_mask == [0] * n + [1] * (len(seg) - n) and len(seg) > n


async def test_answer_phase_opens_after_enough_searches(tools):
    engine = scripted(["<search>Louvre</search>", "<search>Louvre city</search>", "<answer>Paris</answer>"])
    cfg = AgentConfig(kind="reasoning", min_actions_before_answer=100, answer_after_searches=2)
    traj = await ReasoningAgent(engine, tools, cfg).arun("Where is the Louvre?")
    assert traj.answer == "Paris" and [t.action for t in traj.turns] == ["search", "search", "answer"]
    assert [MAY_ANSWER in p for p in act_prompts(engine)] == [False, False, True]


async def test_history_keeps_acting_thoughts_within_its_budget(tools):
    acts = [f"<thought>THOUGHT-{k:02d} look further.</thought>\n<search>Louvre query {k}</search>" for k in range(8)]
    engine = scripted([*acts, "<answer>Paris</answer>"], notes="<thought>nothing new</thought>")
    cfg = AgentConfig(kind="reasoning", history_chars=900, max_turns=9, min_actions_before_answer=0)
    agent = ReasoningAgent(engine, tools, cfg)
    traj = await agent.arun("Where is the Louvre?")
    last = act_prompts(engine)[-1]
    history = last.split("History:\n", 1)[1].split("<|im_end|>", 1)[0]
    assert len(history.strip()) <= 900
    assert "THOUGHT-07 look further." in history and "<search>Louvre query 7</search>" in history
    assert "THOUGHT-00" not in history  # the oldest were dropped first
    assert traj.answer == "Paris"


def test_history_budget_rule():
    h = History(budget_chars=10, empty="(none)")
    assert h.render() == "(none)"
    h.add(0, "act", "aaaa")
    h.add(1, "act", "bbbb")
    h.add(2, "act", "cccc")
    assert h.render() == "bbbbcccc"  # whole newest entries that fit 10 chars
    h.add(3, "act", "0123456789XYZ")
    assert h.render() == "3456789XYZ"  # the newest alone is too long: its end


async def test_each_call_may_use_the_context_left_after_its_prompt(tools):
    engine = scripted(["<search>Louvre</search>", "<answer>Paris</answer>"])
    cfg = AgentConfig(kind="reasoning", max_context_tokens=9000, min_actions_before_answer=0)
    await ReasoningAgent(engine, tools, cfg).arun("Where is the Louvre?")
    for req in engine.requests:
        assert req.max_new_tokens == 9000 - len(req.input_ids)
    assert AgentConfig(kind="reasoning").context_limit() == 31_000
    assert AgentConfig(kind="reasoning", max_new_tokens_per_turn=64).new_tokens_limit(100) == 64
    assert AgentConfig(kind="base").new_tokens_limit(100) == 512


async def test_chunks_read_are_kept_only_as_stubs(tools):
    engine = scripted([f"<access>{URL}</access>", f"<access>{URL}</access>", "<answer>Leonardo</answer>"])
    cfg = AgentConfig(kind="reasoning", min_actions_before_answer=0)
    traj = await ReasoningAgent(engine, tools, cfg).arun("Who painted the Mona Lisa?")
    assert [t.data.get("chunk_index") for t in traj.turns[:2]] == [0, 1]
    first_chunk_text = traj.turns[0].observation.split("\n\n", 1)[1]
    final_act_prompt = act_prompts(engine)[-1]
    assert first_chunk_text not in final_act_prompt
    assert "chunk 1/" in final_act_prompt and "shown earlier" in final_act_prompt
    assert "chunk 2/" in final_act_prompt


async def test_turn_limit_forces_the_answer_prompt_then_stops(tools):
    engine = scripted(["<search>Louvre</search>"])
    traj = await ReasoningAgent(engine, tools, AgentConfig(kind="reasoning", max_turns=3)).arun("Where is the Louvre?")
    assert len(traj.turns) == 3 and traj.answer is None and traj.stop_reason == StopReason.TURN_LIMIT
    assert "Searching is over." in act_prompts(engine)[-1]
    # the forced turn's search was not run
    assert traj.num_searches == 3 and "tool_ok" not in traj.turns[-1].data


async def test_malformed_outputs_become_history_entries(tools):
    # (Two complete actions cannot come from an engine that honours stop strings: see test_parsing.)
    engine = scripted(["<think>x</think> just musing", "<search>", "<answer>Paris</answer>"])
    cfg = AgentConfig(kind="reasoning", min_actions_before_answer=0)
    traj = await ReasoningAgent(engine, tools, cfg).arun("Where is the Louvre?")
    assert [t.action for t in traj.turns] == ["none", "none", "answer"]
    assert "No action found" in act_prompts(engine)[1]
    assert "not closed" in act_prompts(engine)[2]


def test_default_turn_limit_is_128():
    assert AgentConfig(kind="reasoning").turn_limit() == 128


async def test_asearcher_style_prompt_reads_and_keeps_a_page_part_as_asearcher(tools, tmp_path):
    # Our reasoning texts with style "asearcher". Expected blocks written by hand from ASearcher's
    # reasoning agent (agent/asearcher_reasoning.py): the reading call gets "\n\n<information>" + P +
    # "\n</information>\n\n" with P = ">>>> Page 1 >>>>\n\n" + part; the history keeps
    # "\n\n<information>\n" + P[:100] + "...\n\n</information>\n\n"; the history opens with the question.
    write_prompt_file(tmp_path / "p.yaml", {"r": replace(select_prompt("reasoning"), name="r", style="asearcher")})
    engine = scripted([f"<thought>Read the page.</thought>\n<access>{URL}</access>",
                       "<thought>Done.</thought>\n<answer>Leonardo da Vinci</answer>"])
    cfg = AgentConfig(kind="reasoning", prompt_file=str(tmp_path / "p.yaml"), min_actions_before_answer=2)
    traj = await ReasoningAgent(engine, tools, cfg).arun("Who painted the Mona Lisa?")
    assert traj.answer == "Leonardo da Vinci"
    stored = await tools["access"].backends[0].aget(URL)
    part = tools["access"].reader.chunk_page(stored)[0].text
    page = ">>>> Page 1 >>>>\n\n" + part
    act_block = f"<think>Read the page.</think>\n\n<access>{URL}</access>"
    read = [p for p in prompts_seen(engine) if "Do not answer the question here." in p]
    assert len(read) == 1 and "\n\n<information>" + page + "\n</information>\n\n" in read[0]
    assert "Who painted the Mona Lisa?" + act_block in read[0]  # the history as the reading call sees it
    kept = ("Who painted the Mona Lisa?" + act_block + "\n\n<information>\n" + page[:100]
            + "...\n\n</information>\n\n<think>NOTE: Leonardo painted it.</think>")
    assert kept in act_prompts(engine)[-1]
