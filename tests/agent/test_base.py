"""BaseAgent with a ScriptedEngine (a fake LLM: the replies must be deterministic to check every
token's mask, logprob and version) and real search/access tools over a tiny BM25 index. The
ScriptedEngine's ByteTokenizer has a ChatML template, so `chat_turns=auto` means chat turns here."""

import pytest

from asearcher.agent.base import BaseAgent
from asearcher.agent.config import AgentConfig
from asearcher.agent.prompts import select_prompt
from asearcher.api import StopReason
from asearcher.engines.scripted import ScriptedEngine
from asearcher.errors import UserError

URL = "https://en.wikipedia.org/wiki/Mona_Lisa"
PROMPT = select_prompt("base")
FORCE_INSTRUCTION = PROMPT.text("force_instruction")
FORCE_ANSWER = f"\n\n{FORCE_INSTRUCTION}\n<answer>"


def base_prompt(question):
    return PROMPT.render("user", question=question, validity=PROMPT.validity(True))



REPLIES = [
    "<think>Who painted it?</think>\n<search>Mona Lisa painter</search>",
    f"<think>Leonardo da Vinci, per the results.</think>\n<access>{URL}</access>",
    f"<think>Chunk 1 confirms it.</think>\n<access>{URL}</access> ignored after stop",
    "<think>Check once more.</think><search>  </search>",
    "<think>Done.</think>\n<answer>Leonardo da Vinci</answer>",
]


async def test_masks_versions_and_ids_over_five_turns(tools, versioned):
    engine = ScriptedEngine([])
    engine.replies = versioned(engine, REPLIES)
    traj = await BaseAgent(engine, tools, AgentConfig(max_turns=8, read_pages=False)).arun(
        "Who painted the Mona Lisa?", qid="q1")
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
    traj = await BaseAgent(engine, tools, AgentConfig(max_turns=8, read_pages=False)).arun("Who painted the Mona Lisa?")
    search, read1, read2, bad, _ = traj.turns
    assert search.data["hits"][0]["title"] == "Mona Lisa" and search.observation.startswith("[1] Mona Lisa")
    assert (read1.data["chunk_index"], read2.data["chunk_index"]) == (0, 1)
    assert "chunk 1 of" in read1.observation and "chunk 2 of" in read2.observation
    assert bad.action == "none" and not bad.format_ok and "Empty query" in bad.observation
    assert not traj.format_ok
    # The model saw the error inside <information> on the next request, and after each result a tail
    # naming every next action (none steered away from).
    last_context = engine.tokenizer.decode(engine.requests[-1].input_ids)
    assert "<information>\nEmpty query in <search>" in last_context
    assert last_context.count(PROMPT.text("obs_tail").strip()) == 3
    assert all(f"<{a}>" in PROMPT.text("obs_tail") for a in ("search", "access", "answer"))


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


async def test_forced_answer_on_the_last_turn_plain_text(tools):
    engine = ScriptedEngine(["<search>Louvre city</search>", "Paris</answer>"])
    traj = await BaseAgent(engine, tools, AgentConfig(max_turns=2, chat_turns="off")).arun("Where is the Louvre?")
    assert traj.answer == "Paris" and traj.stop_reason == StopReason.ANSWERED
    assert traj.turns[-1].data["forced"] is True
    forced_ids = engine.tokenizer.encode(FORCE_ANSWER)
    last_input = engine.requests[-1].input_ids
    assert last_input[-len(forced_ids):] == forced_ids
    seg = traj.segments[0]
    assert seg.loss_mask[len(last_input) - len(forced_ids): len(last_input)] == [0] * len(forced_ids)


async def test_turn_limit_without_answer(tools):
    engine = ScriptedEngine(["<search>Louvre</search>", "</answer>"])
    traj = await BaseAgent(engine, tools, AgentConfig(max_turns=2)).arun("Where is the Louvre?")
    assert traj.answer is None and traj.stop_reason == StopReason.TURN_LIMIT


@pytest.mark.parametrize("chat_turns", ["on", "off"])
async def test_token_budget_cuts_observations_and_forces_the_answer(tools, chat_turns):
    def reply(request):
        forced = engine.tokenizer.decode(request.input_ids).endswith(f"{FORCE_INSTRUCTION}{after}<answer>")
        return "Leonardo</answer>" if forced else f"<think>read on</think><access>{URL}</access>"

    after = "<|im_end|>\n<|im_start|>assistant\n" if chat_turns == "on" else "\n"
    engine = ScriptedEngine([reply], repeat_last=True)
    prompt_len = len(engine.tokenizer.chat_ids([{"role": "user", "content": base_prompt("Q?")}]))
    cfg = AgentConfig(max_turns=30, max_context_tokens=prompt_len + 500, force_answer_margin=150, chat_turns=chat_turns,
                      read_pages=False)
    traj = await BaseAgent(engine, tools, cfg).arun("Q?")
    seg = traj.segments[0]
    assert len(seg) <= cfg.max_context_tokens
    assert traj.answer == "Leonardo" and traj.turns[-1].data["forced"]
    assert 2 <= len(traj.turns) < 30
    assert any(t.data.get("observation_cut") for t in traj.turns[:-1])
    for req in engine.requests:  # the margin survived every observation
        assert cfg.max_context_tokens - len(req.input_ids) >= 1


def _masked_text(engine, seg, mask):
    return engine.tokenizer.decode([t for t, m in zip(seg.token_ids, seg.loss_mask, strict=True) if m == mask])


async def test_chat_turns_open_a_user_turn_per_observation(tools):
    engine = ScriptedEngine([
        "<search>Mona Lisa painter</search>",  # stopped at the closing tag: the agent closes the turn
        "No action here.<|im_end|>",  # the model closed its turn itself: no second <|im_end|>
        "<answer>Leonardo da Vinci</answer>",
    ])
    traj = await BaseAgent(engine, tools, AgentConfig(max_turns=8)).arun("Who painted the Mona Lisa?")
    assert [t.action for t in traj.turns] == ["search", "none", "answer"]
    assert [t.data["eos"] for t in traj.turns] == [False, True, False]
    seg, reqs = traj.segments[0], engine.requests
    text = engine.tokenizer.decode(seg.token_ids)
    assert text.count("<|im_start|>assistant\n") == 3 and text.count("<|im_end|>") == 5  # prompt's 1 + 2*2
    second = engine.tokenizer.decode(reqs[1].input_ids)
    assert "<search>Mona Lisa painter</search><|im_end|>\n<|im_start|>user\n<information>\n[1] Mona Lisa" in second
    assert second.endswith(PROMPT.text("obs_tail").strip() + "<|im_end|>\n<|im_start|>assistant\n")
    third = engine.tokenizer.decode(reqs[2].input_ids)
    assert "No action here.<|im_end|>\n<|im_start|>user\n<information>\nNo action found." in third
    assert third.endswith("</information><|im_end|>\n<|im_start|>assistant\n")
    # Token-in/token-out: every request is a prefix, the outputs are exactly the sampled ids (mask 1).
    outputs = [engine.tokenizer.encode(t.output) for t in traj.turns]
    assert seg.token_ids == reqs[-1].input_ids + outputs[-1]
    for req, out in zip(reqs, outputs, strict=True):
        n = len(req.input_ids)
        assert seg.token_ids[:n] == req.input_ids and seg.token_ids[n : n + len(out)] == out
        assert seg.loss_mask[n : n + len(out)] == [1] * len(out)
    assert sum(seg.loss_mask) == sum(map(len, outputs))
    assert _masked_text(engine, seg, 1) == "".join(t.output for t in traj.turns)


async def test_chat_turns_forced_answer_goes_in_the_user_turn(tools):
    engine = ScriptedEngine(["<search>Louvre city</search>", "\n Paris \nThe answer is: Paris.\nThe answer"])
    traj = await BaseAgent(engine, tools, AgentConfig(max_turns=2, chat_turns="on")).arun("Where is the Louvre?")
    assert traj.answer == "Paris" and traj.turns[-1].data["forced"]  # the first line: answers are short
    assert not traj.turns[-1].format_ok  # no </answer>
    last = engine.tokenizer.decode(engine.requests[-1].input_ids)
    assert last.endswith(f"\n\n{FORCE_INSTRUCTION}<|im_end|>\n<|im_start|>assistant\n<answer>")
    assert last.count("<|im_start|>user\n") == 2


async def test_chat_turns_forced_on_the_first_turn_puts_the_instruction_in_the_question(tools):
    engine = ScriptedEngine(["Paris</answer>"])
    traj = await BaseAgent(engine, tools, AgentConfig(max_turns=1)).arun("Where is the Louvre?")
    assert traj.answer == "Paris"
    (req,) = engine.requests
    assert engine.tokenizer.decode(req.input_ids).endswith(
        f"Where is the Louvre?\n\n{FORCE_INSTRUCTION}<|im_end|>\n<|im_start|>assistant\n<answer>"
    )
    assert traj.segments[0].token_ids == req.input_ids + engine.tokenizer.encode("Paris</answer>")


async def test_prefilled_search_is_context_and_parsed_with_the_output(tools):
    engine = ScriptedEngine(["Mona Lisa painter</search>", "<answer>Leonardo da Vinci</answer>"])
    cfg = AgentConfig(max_turns=4, prefill_first_action=True)
    traj = await BaseAgent(engine, tools, cfg).arun("Who painted the Mona Lisa?")
    first, second = traj.turns
    assert (first.action, first.argument, first.format_ok) == ("search", "Mona Lisa painter", True)
    assert first.output == "Mona Lisa painter</search>" and first.data["prefill"] == "<search>"
    assert "prefill" not in second.data  # only the first reply is opened
    req = engine.requests[0]
    assert engine.tokenizer.decode(req.input_ids).endswith("<|im_start|>assistant\n<search>")
    seg = traj.segments[0]
    n = len(req.input_ids)
    assert seg.loss_mask[n - len("<search>") : n] == [0] * len("<search>")  # byte tokenizer: 1 id per char
    assert seg.token_ids == engine.requests[-1].input_ids + engine.tokenizer.encode(second.output)
    assert _masked_text(engine, seg, 1) == first.output + second.output


async def test_plain_text_context_for_a_tokenizer_without_chat_template(tools):
    from asearcher.engines.byte_tokenizer import ByteTokenizer

    class NoTemplate(ByteTokenizer):
        def chat_ids(self, messages, add_generation_prompt=True):
            raise ValueError("Cannot use chat template functions because tokenizer.chat_template is not set")

    engine = ScriptedEngine(["<search>Louvre</search>", "<answer>Paris</answer>"], tokenizer=NoTemplate())
    traj = await BaseAgent(engine, tools, AgentConfig(max_turns=4)).arun("Where is the Louvre?")
    assert traj.answer == "Paris"
    text = engine.tokenizer.decode(engine.requests[-1].input_ids)
    assert "<|im_start|>" not in text and "<|im_end|>" not in text
    assert text.startswith(base_prompt("Where is the Louvre?"))
    assert "<search>Louvre</search>\n\n<information>\n" in text
    with pytest.raises(UserError, match="chat_turns=on"):
        BaseAgent(engine, tools, AgentConfig(chat_turns="on"))


async def test_reply_ended_inside_an_action_tag_runs_it_but_a_token_limit_cut_does_not(tools):
    engine = ScriptedEngine(["<search>Mona Lisa painter<|im_end|>", "<search>Leonardo da Vinci and many more words", "x"])
    traj = await BaseAgent(engine, tools, AgentConfig(max_turns=3, max_new_tokens_per_turn=30)).arun("Q?")
    ended, cut = traj.turns[:2]
    assert (ended.action, ended.argument, ended.format_ok) == ("search", "Mona Lisa painter", False)
    assert ended.data["hits"] and ended.data["eos"]
    assert cut.action == "none" and "not closed" in cut.error  # finish_reason "length": truncated, not ended
    # The sampled <|im_end|> closed the turn: the agent did not add a second one.
    assert "painter<|im_end|>\n<|im_start|>user\n<information>" in engine.tokenizer.decode(engine.requests[1].input_ids)
