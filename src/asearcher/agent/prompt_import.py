"""`asearcher prompts import`: read the prompt definitions of a checkout of the ASearcher repository
into a prompt file, so its released checkpoints run with the prompts they were trained and
evaluated with. Nothing of ASearcher's is shipped with asearcher: the texts come from the user's own
checkout at import time.

The Python files are parsed, never run (`ast`): only string constants are read.

    ASearcher/train/prompts.py          SEARCH_ACCESS_PROMPT_TEMPLATE, SEARCH_ONLY_PROMPT_TEMPLATE,
                                        INVALID_PROMPT, VALID_PROMPT (training, base models)
    evaluation/utils.py                 PROMPT_TYPES = {name: template} (evaluation)
    agent/asearcher_reasoning.py        class ASearcherReasoningPrompts (evaluation, QwQ agent)
    ASearcher/train/reasoning_agent.py  class ASearcherReasoningPrompts (training, QwQ agent)

Each may also sit under AReaL/ (older checkouts). The observation frames are ASearcher's format
contract, set here: results and page parts inside <information> </information>, every reply opened
with "<think>\\n" (the templates' trailing "<think>\\n" becomes `reply_open`), a page part headed
">>>> Page k >>>>". The invalid-question sentence becomes {validity}, so `agent.valid_inst_ratio`
swaps in VALID_PROMPT exactly as ASearcher's training does. Every imported prompt has style
"asearcher": the agents then lay out tool results as ASearcher's agents do (observations.py).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asearcher.agent.prompts import PromptSet
from asearcher.errors import UserError

BASE_FILE = "ASearcher/train/prompts.py"
EVAL_FILE = "evaluation/utils.py"
REASONING_FILES = {"eval": "agent/asearcher_reasoning.py", "train": "ASearcher/train/reasoning_agent.py"}
PREFIXES = ("", "AReaL/")
REASONING_CLASS = "ASearcherReasoningPrompts"
# ASearcher's reasoning template names -> ours; placeholders renamed to ours.
REASONING_TEXTS = {
    "THINK_AND_ACT_PROMPT": "act",
    "THINK_AND_ACT_PROMPT_v1": "act_answer",
    "THINK_AND_ANSWER_PROMPT": "answer_now",
    "READ_SEARCH_RESULTS_PROMPT": "read_results",
    "READ_PAGE_PROMPT": "read_page",
}
RENAMES = {"{current_date}": "{date}"}
# The append-only frame of ASearcher's base-model agent (its format contract, not prompt prose).
RAW_FRAME = {
    "reply_open": "<think>\n",
    "obs_head": "\n\n<information>\n",
    "obs_tail": "\n</information>\n",
    "invalid_tail": "\n</information>\n",
    "read_head": "\n\n<information>\n>>>> Page {part} >>>>\n\n",
    "read_tail": "\n</information>\n",
    "notes_open": "<think>\n",
}
# Texts ASearcher has no counterpart for (it stops at the budget; refuses answers silently).
OUR_TEXTS = {
    "force_instruction": "No more searching is possible. Based on what you found, give your best final answer now.",
    "rejected_answer": 'Answer "{answer}" not accepted yet: answering opens after {required} steps or {searches} '
                       "searches ({done} steps and {searched} searches so far). Keep searching.",
    "empty_history": "",
}


@dataclass
class ImportReport:
    """What an import found: prompts by name, the files read, and what was skipped and why."""

    prompts: dict[str, PromptSet] = field(default_factory=dict)
    read: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _strings(body: list[ast.stmt]) -> dict[str, Any]:
    """Names assigned a string, or a dict of strings, in `body` (other assignments ignored)."""
    out: dict[str, Any] = {}
    for node in body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        try:
            value = ast.literal_eval(node.value)
        except (ValueError, SyntaxError, TypeError):
            continue  # computed at run time: not a prompt definition we can read
        if isinstance(value, str) or (isinstance(value, dict) and all(isinstance(v, str) for v in value.values())):
            out[node.targets[0].id] = value
    return out


def _parse(path: Path) -> ast.Module:
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as e:
        raise UserError(f"{path}:{e.lineno}: cannot parse as Python: {e.msg}") from e


def _find(root: Path, rel: str) -> Path | None:
    return next((root / p / rel for p in PREFIXES if (root / p / rel).is_file()), None)


def _base_prompt(name: str, template: str, invalid: str, valid: str, agents: list[str]) -> PromptSet:
    """An append-only prompt from a completion template (ASearcher's raw format)."""
    user = template.replace(invalid, "{validity}") if invalid and invalid in template else template
    texts = {**RAW_FRAME, "force_instruction": OUR_TEXTS["force_instruction"], "invalid_inst": invalid,
             "valid_inst": valid}
    if user.endswith(RAW_FRAME["reply_open"]):
        user = user[: -len(RAW_FRAME["reply_open"])]
    else:
        texts["reply_open"] = ""
    return PromptSet(name, tuple(agents), "raw", {"user": user, **texts}, style="asearcher")


def _import_base(root: Path, report: ImportReport) -> tuple[str, str]:
    path = _find(root, BASE_FILE)
    if path is None:
        return "", ""
    report.read.append(str(path))
    found = _strings(_parse(path).body)
    invalid, valid = str(found.get("INVALID_PROMPT", "")), str(found.get("VALID_PROMPT", ""))
    for const, name, agents in (("SEARCH_ACCESS_PROMPT_TEMPLATE", "asearcher-train-search-access", ["base"]),
                                ("SEARCH_ONLY_PROMPT_TEMPLATE", "asearcher-train-search-only", ["search-r1"])):
        if isinstance(found.get(const), str):
            report.prompts[name] = _base_prompt(name, found[const], invalid, valid, agents)
        else:
            report.skipped.append(f"{path}: no string constant {const}")
    return invalid, valid


def _import_eval(root: Path, report: ImportReport, invalid: str, valid: str) -> None:
    path = _find(root, EVAL_FILE)
    if path is None:
        return
    report.read.append(str(path))
    table = _strings(_parse(path).body).get("PROMPT_TYPES")
    if not isinstance(table, dict):
        report.skipped.append(f"{path}: no PROMPT_TYPES dict of strings")
        return
    for key, template in table.items():
        if "{question}" not in template or "<search>" not in template:
            report.skipped.append(f"{path}: PROMPT_TYPES[{key!r}] is not an append-only agent's prompt")
            continue
        agents = ["base"] if "<access>" in template else ["search-r1"]
        name = f"asearcher-eval-{key}"
        report.prompts[name] = _base_prompt(name, template, invalid, valid, agents)


def _import_reasoning(root: Path, report: ImportReport) -> None:
    for stage, rel in REASONING_FILES.items():
        path = _find(root, rel)
        if path is None:
            continue
        report.read.append(str(path))
        cls = next((n for n in _parse(path).body if isinstance(n, ast.ClassDef) and n.name == REASONING_CLASS), None)
        found = _strings(cls.body) if cls is not None else {}
        missing = [k for k in REASONING_TEXTS if not isinstance(found.get(k), str)]
        if missing:
            report.skipped.append(f"{path}: class {REASONING_CLASS} lacks {missing}")
            continue
        texts = {ours: _renamed(found[theirs]) for theirs, ours in REASONING_TEXTS.items()}
        texts |= {k: OUR_TEXTS[k] for k in ("rejected_answer", "empty_history")}
        name = f"asearcher-{stage}-reasoning"
        report.prompts[name] = PromptSet(name, ("reasoning",), "chat", texts, style="asearcher")


def _renamed(text: str) -> str:
    for theirs, ours in RENAMES.items():
        text = text.replace(theirs, ours)
    return text


def import_asearcher(checkout: str | Path) -> ImportReport:
    """Read every prompt definition found in an ASearcher checkout (module docstring)."""
    root = Path(checkout)
    if not root.is_dir():
        raise UserError(f"{root}: not a folder (give the path of a checkout of the ASearcher repository)")
    report = ImportReport()
    invalid, valid = _import_base(root, report)
    _import_eval(root, report, invalid, valid)
    _import_reasoning(root, report)
    if not report.prompts:
        looked = [BASE_FILE, EVAL_FILE, *REASONING_FILES.values()]
        raise UserError(f"{root}: no ASearcher prompt definitions found; looked for {looked} (also under AReaL/)"
                        + (f"; skipped: {report.skipped}" if report.skipped else ""))
    return report
