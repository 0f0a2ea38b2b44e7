"""The external summary model for page reading (agent/summary.py): a second engine writes the notes
on page parts; the policy's context holds them as context (mask 0) and never the part itself.
ScriptedEngines stand in for both models (fakes: the replies must be fixed to know which engine
wrote what), over the real search and access tools."""

import pytest
from test_page_reading import PARTS, URL, page_tools  # noqa: F401  (page_tools is a fixture)

from asearcher.agent.config import AgentConfig
from asearcher.agent.factory import make_agent
from asearcher.api import StopReason
from asearcher.engines.scripted import ScriptedEngine
from asearcher.errors import UserError

QUESTION = "Who painted the Mona Lisa?"
NOTES = ["SUMMARY-A painter Leonardo.", "SUMMARY-B in the Louvre.", "SUMMARY-C stolen in 1911."]


@pytest.mark.parametrize("chat_turns", ["on", "off"])
async def test_base_agent_summary_model_writes_the_notes_as_context(page_tools, chat_turns, versioned):  # noqa: F811
    policy = ScriptedEngine([])
    policy.replies = versioned(policy, [
        "<think>Find the painter.</think>\n<search>Mona Lisa painter</search>",
        f"<think>Read the page.</think>\n<access>{URL}</access>",
        "\n<answer>Leonardo da Vinci</answer>",
    ])
    summary = ScriptedEngine(NOTES)
    cfg = AgentConfig(max_turns=10, max_observation_tokens=250, chat_turns=chat_turns)
    agent = make_agent("base", policy, page_tools, cfg, summary_engine=summary)
    traj = await agent.arun(QUESTION, qid="q")

    assert traj.answer == "Leonardo da Vinci" and traj.stop_reason == StopReason.ANSWERED
    assert [t.action for t in traj.turns] == ["search", "access", "read", "read", "read", "answer"]
    reads = traj.turns[2:5]
    assert [t.data["notes"] for t in reads] == NOTES
    assert {t.data["notes_by"] for t in reads} == {"summary"} and all(t.gen_tokens == 0 for t in reads)
    # The summary model saw each part whole, with the question; the policy made only its 3 calls.
    assert len(summary.requests) == 3 and len(policy.requests) == 3
    for k, req in enumerate(summary.requests):
        text = "".join(m["content"] for m in req.messages) if req.messages else summary.tokenizer.decode(req.input_ids)
        assert PARTS[k] in text and QUESTION in text and f"part {k + 1} of 3" in text
    # The policy's last context: every note where its own notes would be, no part's text.
    final = policy.tokenizer.decode(policy.requests[2].input_ids)
    assert all(n + "</think>" in final for n in NOTES) and not any(p[:40] in final for p in PARTS)
    assert final.endswith(NOTES[2] + "</think>")  # the policy goes on after the last notes

    # Nothing was replaced (the part never entered the policy's context): one segment, and its
    # sampled tokens (mask 1) are exactly the policy's own three outputs; the notes are mask 0.
    (seg,) = traj.segments
    assert seg.shown_once == []
    sampled = [t for t, m in zip(seg.token_ids, seg.loss_mask) if m]
    assert len(sampled) == sum(t.gen_tokens for t in traj.turns)
    assert not any(n in policy.tokenizer.decode(sampled) for n in NOTES)
    assert policy.tokenizer.decode(sampled).endswith("<answer>Leonardo da Vinci</answer>")


async def test_without_summary_model_the_policy_writes_the_notes(page_tools):  # noqa: F811
    policy = ScriptedEngine([
        f"<think>Read.</think>\n<access>{URL}</access>", "mine 1</think>", "mine 2</think>", "mine 3</think>",
        "\n<answer>Leonardo</answer>"])
    traj = await make_agent("base", policy, page_tools, AgentConfig(max_turns=10)).arun(QUESTION, qid="q")
    assert [t.data.get("notes_by") for t in traj.turns[1:4]] == ["policy"] * 3
    assert len(traj.segments) == 4  # each part replaced by its stub: the default reading is unchanged


async def test_reasoning_agent_summary_model_reads_pages_not_search_results(page_tools):  # noqa: F811
    policy = ScriptedEngine([
        "<thought>Search first.</thought><search>Mona Lisa painter</search>",
        "<thought>Results mention the page.</thought>",  # the policy reads the search results itself
        f"<thought>Open it.</thought><access>{URL}</access>",
        "<thought>Enough.</thought><answer>Leonardo da Vinci</answer>",
    ])
    summary = ScriptedEngine([NOTES[0]])
    cfg = AgentConfig(min_actions_before_answer=0, max_context_tokens=8192)
    traj = await make_agent("reasoning", policy, page_tools, cfg, summary_engine=summary).arun(QUESTION, qid="q")

    assert traj.answer == "Leonardo da Vinci"
    access = traj.turns[1]
    assert access.action == "access" and access.data["notes"] == NOTES[0] and access.data["notes_by"] == "summary"
    assert len(summary.requests) == 1 and len(policy.requests) == 4
    seen = summary.tokenizer.decode(summary.requests[0].input_ids)
    assert PARTS[0] in seen and QUESTION in seen
    assert NOTES[0] in policy.tokenizer.decode(policy.requests[3].input_ids)  # the notes are in the history
    # One segment per policy call; the summary model's call is not one of them (not policy-sampled).
    assert len(traj.segments) == 4 and not any(NOTES[0] in policy.tokenizer.decode(
        [t for t, m in zip(s.token_ids, s.loss_mask) if m]) for s in traj.segments)


@pytest.mark.parametrize("kind,cfg", [("fc", AgentConfig()), ("search-r1", AgentConfig()),
                                      ("base", AgentConfig(read_pages=False))])
def test_summary_model_refused_where_no_page_notes_are_written(page_tools, kind, cfg):  # noqa: F811
    with pytest.raises(UserError, match="--summary-model"):
        make_agent(kind, ScriptedEngine([]), page_tools, cfg, summary_engine=ScriptedEngine([]))


def test_summary_prompt_keys_are_checked():
    with pytest.raises(UserError, match="no prompt 'nope'"):
        AgentConfig(summary_prompt="nope").validate()
    with pytest.raises(UserError, match="summary_max_new_tokens"):
        AgentConfig(summary_max_new_tokens=0).validate()
