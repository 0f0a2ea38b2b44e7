"""`asearcher prompts list|show|import`. The import runs on a FIXTURE checkout written here: the file
layout and Python structure of the ASearcher repository (module constants, a PROMPT_TYPES dict, a
prompts class) with placeholder texts of our own; an agent then runs (ScriptedEngine, a fake LLM so
the prompt it is sent can be checked token for token) with an imported prompt."""

from __future__ import annotations

import textwrap

import pytest

from asearcher.agent.base import BaseAgent
from asearcher.agent.config import AgentConfig
from asearcher.agent.prompts import load_prompt_file, prompt_record
from asearcher.agent.reasoning import ReasoningAgent
from asearcher.api import Passage
from asearcher.cli import main
from asearcher.engines.scripted import ScriptedEngine
from asearcher.retrieval.bm25 import BM25Retriever
from asearcher.tools import RetrieverSearch, SearchTool

INVALID = "FIXTURE-INVALID: say so when the question cannot be answered."
VALID = "FIXTURE-VALID: give the likeliest answer. "
ACCESS_TEMPLATE = ("FIXTURE base prompt. Tools: <search> q </search> and <access> url </access>; results come in "
                   f"<information> </information>. {INVALID} \n\nUser: {{question}}\n\nAssistant: \n<think>\n")

TRAIN_PROMPTS = f'''\
ACCESS = "unused"
SEARCH_ACCESS_PROMPT_TEMPLATE={ACCESS_TEMPLATE!r}
SEARCH_ONLY_PROMPT_TEMPLATE="FIXTURE search-only: <search> q </search>. {INVALID} \\n\\nUser: {{question}}\\n\\nAssistant: \\n<think>\\n"
INVALID_PROMPT={INVALID!r}
VALID_PROMPT={VALID!r}
'''

EVAL_UTILS = '''\
import json

def make_prompt(question, prompt_type):
    return PROMPT_TYPES[prompt_type].format(question=question)

PROMPT_TYPES = {
    "asearcher-reasoning": "{question}",
    "asearcher": "FIXTURE eval prompt with <search> q </search> and <access> url </access>. {question}\\n<think>\\n",
    "local-rag": "FIXTURE rag prompt: <search> q </search>. Question: {question}",
}
'''

REASONING_AGENT = '''\
import re
from datetime import datetime

class ASearcherReasoningPrompts:
    THINK_AND_ACT_PROMPT_v1 = """FIXTURE-ACT-ANSWER. Date {current_date}. Q: {question}. H: {history}. <answer> a </answer> allowed."""
    THINK_AND_ACT_PROMPT = \\
"""FIXTURE-ACT. Date {current_date}. Q: {question}. H: {history}. Use <thought> </thought>."""
    THINK_AND_ANSWER_PROMPT = "FIXTURE-ANSWER-NOW. Q: {question}. H: {history}."
    READ_PAGE_PROMPT = "FIXTURE-READ-PAGE. Q: {question}. H: {history}. Page: {content}"
    READ_SEARCH_RESULTS_PROMPT = "FIXTURE-READ-RESULTS. Q: {question}. H: {history}. Results: {content}"
    COMPUTED = " ".join(["not", "a", "literal"])

def process_webpage(content):
    return content
'''


@pytest.fixture()
def tools(tmp_path):
    """A real search tool over a two-passage BM25 index."""
    retriever = BM25Retriever(workdir=tmp_path / "bm25")
    retriever.index([
        Passage(id="0", title="Mona Lisa", text="A portrait painted by Leonardo da Vinci.", url="https://w/Mona_Lisa"),
        Passage(id="1", title="Louvre", text="The Louvre is a museum in Paris.", url="https://w/Louvre"),
    ])
    return {"search": SearchTool(RetrieverSearch(retriever), topk=1)}


def write_checkout(root):
    """A fixture checkout in the ASearcher repository's layout."""
    for rel, text in {"ASearcher/train/prompts.py": TRAIN_PROMPTS, "evaluation/utils.py": EVAL_UTILS,
                      "agent/asearcher_reasoning.py": REASONING_AGENT, "README.md": "fixture\n"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text))
    return root


async def test_import_then_run_the_base_agent_with_the_imported_prompt(tmp_path, capsys, tools):
    checkout, out = write_checkout(tmp_path / "ASearcher"), tmp_path / "imported.yaml"
    assert main(["prompts", "import", str(checkout), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in ("asearcher-train-search-access", "asearcher-train-search-only", "asearcher-eval-asearcher",
                 "asearcher-eval-local-rag", "asearcher-eval-reasoning"):
        assert f"imported {name}" in printed
    assert "skipped:" in printed and "'asearcher-reasoning'" in printed  # "{question}" alone: not a prompt
    table = load_prompt_file(out)
    p = table["asearcher-train-search-access"]
    assert (p.format, p.agents, p.text("reply_open")) == ("raw", ("base",), "<think>\n")
    assert {q.style for q in table.values()} == {"asearcher"}  # every imported prompt lays results out as ASearcher
    assert p.text("invalid_inst") == INVALID and "{validity}" in p.text("user")
    assert table["asearcher-train-search-only"].agents == ("search-r1",)

    engine = ScriptedEngine([
        "I should search.</think>\n<search>Mona Lisa painter</search>",
        "Leonardo, per the results.</think>\n<answer>Leonardo da Vinci</answer>",
    ])
    cfg = AgentConfig(max_turns=4, prompt_file=str(out), prompt="asearcher-train-search-access")
    traj = await BaseAgent(engine, tools, cfg).arun("Who painted the Mona Lisa?")
    assert traj.answer == "Leonardo da Vinci" and traj.format_ok and traj.metadata["valid_inst"] is True
    # Exactly what ASearcher's training sends: its template with the valid instruction swapped in.
    expected = ACCESS_TEMPLATE.format(question="Who painted the Mona Lisa?").replace(INVALID, VALID)
    first, second = (engine.tokenizer.decode(r.input_ids) for r in engine.requests)
    assert first == expected
    # The results as ASearcher's agent lays them out (agent/asearcher.py, read by hand): "\n\n", then
    # "<information>\n" + "[Doc 1](url):\n" + the document's contents + "\n</information>", then "\n<think>\n".
    assert second == (expected + "I should search.</think>\n<search>Mona Lisa painter</search>"
                      '\n\n<information>\n[Doc 1](https://w/Mona_Lisa):\n"Mona Lisa"\n'
                      "A portrait painted by Leonardo da Vinci.\n</information>\n<think>\n")
    record = prompt_record(cfg)
    assert record == {"prompt": "asearcher-train-search-access", "prompt_file": str(out), "prompt_sha256": p.sha256}

    # valid_inst_ratio 0: the invalid-question instruction stays, as ASearcher without the swap.
    engine = ScriptedEngine(["<answer>x</answer>"])
    await BaseAgent(engine, tools, AgentConfig(prompt_file=str(out), prompt=p.name, valid_inst_ratio=0.0)).arun("Q?")
    assert engine.tokenizer.decode(engine.requests[0].input_ids) == ACCESS_TEMPLATE.format(question="Q?")


async def test_imported_reasoning_prompt_runs_the_reasoning_agent(tmp_path, tools):
    out = tmp_path / "p.yaml"
    assert main(["prompts", "import", str(write_checkout(tmp_path / "co")), "--out", str(out)]) == 0
    engine = ScriptedEngine(["<thought>look</thought>\n<search>Louvre</search>", "<thought>noted</thought>",
                             "<thought>sure</thought><answer>Paris</answer>"])
    cfg = AgentConfig(kind="reasoning", prompt_file=str(out), prompt="asearcher-eval-reasoning",
                      current_date="2025.07.21", min_actions_before_answer=2)
    traj = await ReasoningAgent(engine, tools, cfg).arun("Where is the Louvre?")
    assert traj.answer == "Paris"
    act, read, act2 = (engine.tokenizer.decode(r.input_ids) for r in engine.requests)
    # ASearcher's reasoning history (agent/asearcher_reasoning.py, read by hand) opens with the question
    # and glues the blocks: the act, the results kept with "..." after each document, the reading notes.
    assert "FIXTURE-ACT. Date 2025.07.21. Q: Where is the Louvre?. H: Where is the Louvre?. Use" in act
    act_block = "<think>look</think>\n\n<search>Louvre</search>"
    assert ("FIXTURE-READ-RESULTS. Q: Where is the Louvre?. H: Where is the Louvre?" + act_block + ". Results: "
            '\n\n<information>\n[Doc 1](https://w/Louvre):\n"Louvre"\nThe Louvre is a museum in Paris.'
            "\n</information>\n\n") in read
    assert ("FIXTURE-ACT-ANSWER. Date 2025.07.21. Q: Where is the Louvre?. H: Where is the Louvre?" + act_block
            + '\n\n<information>[Doc 1](https://w/Louvre):\n"Louvre"\nThe Louvre is a museum in Paris....'
            "\n</information>\n\n<think>noted</think>. <answer> a </answer> allowed.") in act2


def test_list_show_and_bad_input(tmp_path, capsys):
    assert main(["prompts", "list"]) == 0
    listed = capsys.readouterr().out
    assert "base-raw" in listed and "(default for base)" in listed and "(default for reasoning)" in listed
    assert "style: native" in listed and "style: asearcher" not in listed  # our prompts, our layout
    assert main(["prompts", "show", "base-raw"]) == 0
    shown = capsys.readouterr().out
    assert "format: raw" in shown and "--- reply_open ---" in shown
    assert main(["prompts", "show", "nope"]) == 2
    assert "no prompt 'nope'" in capsys.readouterr().err
    assert main(["prompts", "import", str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["prompts", "import", str(tmp_path / "empty"), "--out", str(tmp_path / "x.yaml")]) == 2
    assert "no ASearcher prompt definitions found" in capsys.readouterr().err
    out = tmp_path / "taken.yaml"
    out.write_text("keep me")
    assert main(["prompts", "import", str(write_checkout(tmp_path / "co")), "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err and out.read_text() == "keep me"

