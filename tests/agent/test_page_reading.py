"""The base agent's page reading (ASearcher's): each part of a page shown once in a notes turn, then
replaced by its stub in a new segment. A ScriptedEngine (a fake LLM: the replies must be fixed to
check every token's mask and version) drives the real agent, search over a tiny BM25 index and the
real access tool over a page store."""

import json

import pytest

from asearcher.agent.base import BaseAgent
from asearcher.agent.config import AgentConfig
from asearcher.agent.prompt_import import RAW_FRAME
from asearcher.agent.prompts import PromptSet, select_prompt, write_prompt_file
from asearcher.api import StopReason
from asearcher.corpus.page_store import JsonlPageStore
from asearcher.engines.scripted import ScriptedEngine
from asearcher.tools import AccessTool, LocalPages, PageReader

URL = "https://example.org/wiki/Mona_Lisa"
PARTS = [
    "PART-ONE The Mona Lisa is a half-length portrait painted by Leonardo da Vinci in Florence, "
    "begun around 1503 and worked on for years afterwards. It shows a woman seated before an imaginary "
    "landscape, and is known for its sfumato and for the sitter's slight smile, much discussed since.",
    "PART-TWO It has hung in the Louvre in Paris since 1797, apart from wartime evacuations "
    "and a few loans to museums abroad. Today it sits behind bulletproof glass in the Salle des Etats, "
    "where millions of visitors a year queue for a glimpse of it across a wooden barrier.",
    "PART-THREE In 1911 it was stolen by Vincenzo Peruggia, an Italian handyman, and it was "
    "recovered two years later in Florence. The theft made the painting famous far beyond the art world, "
    "and newspapers printed its picture for months while the frame hung empty.",
]
NOTES = ["NOTE-A painter Leonardo.", "NOTE-B at the Louvre.", "NOTE-C stolen 1911."]
REPLIES = [
    "<think>Find the painter.</think>\n<search>Mona Lisa painter</search>",
    f"<think>Read the page.</think>\n<access>{URL}</access>",
    *(f"{n}</think>" for n in NOTES),
    "\n<answer>Leonardo da Vinci</answer>",
]


@pytest.fixture()
def page_tools(tools, tmp_path):
    """The conftest's search tool, and an access tool over one page of three ~300-char parts."""
    store = tmp_path / "page.jsonl"
    store.write_text(json.dumps({"url": URL, "title": "Mona Lisa", "text": "\n\n".join(PARTS)}) + "\n")
    reader = PageReader(chunk_chars=400, max_chunks=10, stub_chars=20)
    return {"search": tools["search"], "access": AccessTool(LocalPages(JsonlPageStore(store)), reader)}



@pytest.mark.parametrize("chat_turns", ["on", "off"])
async def test_three_parts_give_three_notes_turns_each_seeing_its_whole_part(page_tools, chat_turns, versioned):
    engine = ScriptedEngine([])
    engine.replies = versioned(engine, REPLIES)
    # max_observation_tokens far below a part: parts are bounded by the context budget only.
    cfg = AgentConfig(max_turns=10, max_observation_tokens=250, chat_turns=chat_turns)
    traj = await BaseAgent(engine, page_tools, cfg).arun("Who painted the Mona Lisa?", qid="q")
    assert traj.answer == "Leonardo da Vinci" and traj.stop_reason == StopReason.ANSWERED
    assert [t.action for t in traj.turns] == ["search", "access", "read", "read", "read", "answer"]
    reads = traj.turns[2:5]
    assert [t.data["chunk_index"] for t in reads] == [0, 1, 2] and all(t.format_ok for t in reads)
    assert [t.data["notes"] for t in reads] == NOTES
    assert [t.observation for t in reads] == PARTS

    seen = [engine.tokenizer.decode(r.input_ids) for r in engine.requests]
    for k in range(3):  # notes turn k sees part k whole, earlier parts only as stubs, earlier notes
        req = engine.requests[2 + k]
        assert req.stop == ["</think>"] and seen[2 + k].endswith("<think>\n")
        assert PARTS[k] in seen[2 + k]
        assert f"part {k + 1} of 3" in seen[2 + k]
        for j in range(k):
            assert PARTS[j] not in seen[2 + k]
            assert f"chunk {j + 1}/3 shown earlier: PART-" in seen[2 + k] and NOTES[j] in seen[2 + k]
    final = seen[5]  # the answer turn: stubs and notes of all three parts, none of their text
    assert all(p not in final for p in PARTS) and all(n + "</think>" in final for n in NOTES)
    assert final.endswith(NOTES[2] + "</think>")  # the model goes on writing after its last notes
    assert "access the same URL again" not in "".join(seen)  # the tool's header is not shown

    # One segment to start, one more per replaced part: request k is a prefix of the segment in use.
    segs = traj.segments
    assert len(segs) == 4
    in_use = [0, 0, 0, 1, 2, 3]
    outputs = [engine.tokenizer.encode(t.output) for t in traj.turns]
    for k, req in enumerate(engine.requests):
        seg, n = segs[in_use[k]], len(req.input_ids)
        assert seg.token_ids[:n] == req.input_ids
        assert seg.token_ids[n : n + len(outputs[k])] == outputs[k]
        assert seg.loss_mask[n : n + len(outputs[k])] == [1] * len(outputs[k])
        assert seg.versions[n : n + len(outputs[k])] == [k] * len(outputs[k])
    # Every sampled token is trained once: in the segment that held what the engine saw.
    assert sum(s.num_sampled for s in segs) == sum(map(len, outputs))
    for i, seg in enumerate(segs):
        sampled_here = [k for k in range(6) if in_use[k] == i]
        assert seg.num_sampled == sum(len(outputs[k]) for k in sampled_here)
        assert all(v == -1 for v, m in zip(seg.versions, seg.loss_mask, strict=True) if not m)
    # The shown-once span of segments 0-2 is exactly the part they showed.
    for i in range(3):
        ((start, end),) = segs[i].shown_once
        assert engine.tokenizer.decode(segs[i].token_ids[start:end]) == PARTS[i]
    assert segs[3].shown_once == []
    assert segs[3].token_ids == engine.requests[5].input_ids + outputs[5]


async def test_raw_prompt_opens_every_reply_inside_think(page_tools):
    replies = [
        "Look it up.</think>\n<search>Mona Lisa</search>",
        f"Results name it.</think>\n<access>{URL}</access>",
        "N1</think>", "N2</think>", "N3</think>",
        "\n<answer>Leonardo da Vinci</answer>",
    ]
    engine = ScriptedEngine(replies)
    traj = await BaseAgent(engine, page_tools, AgentConfig(max_turns=10, prompt="base-raw")).arun("Who painted it?")
    assert traj.answer == "Leonardo da Vinci" and traj.format_ok
    first = engine.tokenizer.decode(engine.requests[0].input_ids)
    assert "<|im_start|>" not in first and first.endswith("Assistant:\n<think>\n")
    assert "Who painted it?" in first and "gives the most likely answer" in first  # valid_inst_ratio 1.0
    second = engine.tokenizer.decode(engine.requests[1].input_ids)
    assert second.endswith("</information>\n\n<think>\n")
    assert traj.turns[0].data["thought"] == "Look it up." and traj.turns[0].data["prefill"] == "\n<think>\n"


async def test_turn_limit_during_reading_drops_the_rest_and_forces_the_answer(page_tools):
    engine = ScriptedEngine([*REPLIES[:3], "Leonardo</answer>"])
    traj = await BaseAgent(engine, page_tools, AgentConfig(max_turns=4)).arun("Who painted the Mona Lisa?")
    assert [t.action for t in traj.turns] == ["search", "access", "read", "answer"]
    assert traj.answer == "Leonardo" and traj.turns[-1].data["forced"]
    last = engine.tokenizer.decode(engine.requests[-1].input_ids)
    assert last.endswith(NOTES[0] + "</think><|im_end|>\n<|im_start|>user\n"
                         "No more searching is possible. Based on what you found, give your best final answer now."
                         "<|im_end|>\n<|im_start|>assistant\n<answer>")
    assert PARTS[0] not in last and PARTS[1] not in last


async def test_unclosed_notes_are_closed_as_context_and_flagged(page_tools):
    engine = ScriptedEngine([f"<access>{URL}</access>", "x" * 100, "y</think>", "z</think>", "<answer>L</answer>"])
    cfg = AgentConfig(max_turns=8, max_new_tokens_per_turn=60)
    traj = await BaseAgent(engine, page_tools, cfg).arun("Q?")
    first_read = traj.turns[1]
    assert first_read.action == "read" and not first_read.format_ok and "not closed" in first_read.error
    nxt = engine.tokenizer.decode(engine.requests[2].input_ids)
    assert "x" * 60 + "</think>" in nxt  # the cut notes closed by an injected tag, mask 0
    seg = traj.segments[1]
    close_at = engine.tokenizer.decode(seg.token_ids).index("x" * 60 + "</think>") + 60
    assert seg.loss_mask[close_at : close_at + len("</think>")] == [0] * len("</think>")


async def test_notes_ended_by_the_model_close_its_turn_once(page_tools):
    # Chat turns: notes that end with the end-of-turn token close the reply; the next part opens a
    # user turn without a second <|im_end|>, and the action turn after the last part opens a new reply.
    engine = ScriptedEngine([f"<access>{URL}</access>", "N1<|im_end|>", "N2</think>", "N3<|im_end|>",
                             "<answer>Leonardo</answer>"])
    traj = await BaseAgent(engine, page_tools, AgentConfig(max_turns=8, chat_turns="on")).arun("Q?")
    assert [t.action for t in traj.turns] == ["access", "read", "read", "read", "answer"]
    assert [t.data["eos"] for t in traj.turns[1:4]] == [True, False, True]
    second_part = engine.tokenizer.decode(engine.requests[2].input_ids)
    assert "N1<|im_end|>\n<|im_start|>user\n<information>\nPage Mona Lisa" in second_part
    answer_turn = engine.tokenizer.decode(engine.requests[4].input_ids)
    next_instruction = select_prompt("base").text("next_instruction")
    assert answer_turn.endswith(f"N3<|im_end|>\n<|im_start|>user\n{next_instruction}<|im_end|>\n<|im_start|>assistant\n")
    assert traj.answer == "Leonardo" and not traj.turns[1].format_ok  # notes not closed by </think>
    assert "<|im_end|><|im_end|>" not in answer_turn


async def test_asearcher_style_prompt_lays_out_hits_parts_and_stubs_as_asearcher(page_tools, tmp_path):
    # A raw prompt with ASearcher's frame (what `prompts import` writes) and style "asearcher". The
    # expected context was written by hand from ASearcher's base agent (agent/asearcher.py): a hit is
    # "[Doc k](url):\n" + its contents; a page part is "<information>\n>>>> Page k >>>>\n\n" + part, and
    # after its notes only part[:100] stays in that frame; every observation is followed by "\n<think>\n".
    texts = {"user": "Question: {question}\n", **RAW_FRAME, "force_instruction": "Answer now."}
    write_prompt_file(tmp_path / "p.yaml", {"asr": PromptSet("asr", ("base",), "raw", texts, style="asearcher")})
    replies = ["Look it up.</think>\n<search>Leonardo polymath</search>",
               f"Read it.</think>\n<access>{URL}</access>", "N1</think>", "N2</think>", "N3</think>",
               "\n<answer>Leonardo da Vinci</answer>"]
    engine = ScriptedEngine(replies)
    cfg = AgentConfig(max_turns=10, prompt_file=str(tmp_path / "p.yaml"), prompt="asr")
    traj = await BaseAgent(engine, page_tools, cfg).arun("Who painted the Mona Lisa?")
    assert traj.answer == "Leonardo da Vinci" and [t.data["notes"] for t in traj.turns[2:5]] == ["N1", "N2", "N3"]
    leonardo = "Leonardo da Vinci was an Italian polymath born in Vinci in 1452."  # conftest's page 2, whole
    hits = f'[Doc 1](https://en.wikipedia.org/wiki/Leonardo_da_Vinci):\n"Leonardo da Vinci"\n{leonardo}'
    assert traj.turns[0].data["hits"][0]["text"] == leonardo
    start = ("Question: Who painted the Mona Lisa?\n<think>\nLook it up.</think>\n<search>Leonardo polymath</search>"
             "\n\n<information>\n" + hits)
    seen = [engine.tokenizer.decode(r.input_ids) for r in engine.requests]
    assert seen[1].startswith(start) and seen[1].endswith("\n</information>\n<think>\n")
    after_access = seen[1] + f"Read it.</think>\n<access>{URL}</access>"
    assert seen[2] == after_access + f"\n\n<information>\n>>>> Page 1 >>>>\n\n{PARTS[0]}\n</information>\n<think>\n"
    stubs = "".join(f"\n\n<information>\n>>>> Page {k} >>>>\n\n{PARTS[k - 1][:100]}\n</information>\n<think>\nN{k}</think>"
                    for k in (1, 2, 3))
    assert seen[5] == after_access + stubs  # the answer turn: the model goes on after its last notes
