"""Prompts as data: every agent's texts are named templates in a YAML prompt file.

The package ships `builtin.yaml` (our own words); `agent.prompt=NAME` picks one of its prompts and
`agent.prompt_file=PATH` reads a file of the same shape instead (e.g. one written by
`asearcher prompts import` from a checkout of the ASearcher repository, so released checkpoints run
with the prompts they were trained with). `prompt_record` gives the selected prompt's name and the
hash of its texts, for eval summaries and training runs to record.

    p = select_prompt("base")                       # the base agent's default prompt
    text = p.render("user", question="Who painted the Mona Lisa?", validity=p.validity(True))
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from asearcher.errors import UserError

BUILTIN = Path(__file__).with_name("builtin.yaml")
FORMATS = ("chat", "raw")
# Observation styles, how tool results are laid out for the model (agent/observations.py): "native" is ours;
# "asearcher" is the layout of ASearcher's agents, which its checkpoints were trained on (set by
# `asearcher prompts import`).
STYLES = ("native", "asearcher")
# Texts each agent family needs, and the optional ones with their value when absent.
FAMILIES: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "append": (
        ("user", "obs_head", "obs_tail", "force_instruction"),
        {"system": "", "invalid_tail": "", "reply_open": "", "read_head": "", "read_tail": "", "notes_open": "<think>\n",
         "next_instruction": "Continue: write your next action.",
         "invalid_inst": "", "valid_inst": ""},
    ),
    "reasoning": (
        ("act", "act_answer", "answer_now", "read_results", "read_page", "rejected_answer", "empty_history"),
        {"system": "", "invalid_inst": "", "valid_inst": ""},
    ),
    "fc": (("system", "force_answer"), {"invalid_inst": "", "valid_inst": ""}),
    # Not an agent: the external summary model that may read page parts for one (agent/summary.py).
    "summary": (("user",), {"system": ""}),
}
FAMILY_OF = {"base": "append", "search-r1": "append", "reasoning": "reasoning", "fc": "fc", "summary": "summary"}
# With no agent.prompt, an agent uses the prompt of its own name.
DEFAULT_PROMPT = {kind: kind for kind in FAMILY_OF}


@dataclass(frozen=True)
class PromptSet:
    """One named prompt: the agents it suits, its format and its texts (missing optional texts filled).

    Attributes:
        name: the prompt's name in its file.
        agents: agent kinds it is written for ("base", "search-r1", "reasoning", "fc"), or "summary"
            for the external summary model's prompt.
        format: "chat" (rendered with the chat template) or "raw" (sent as it is).
        texts: template name -> text.
        source: the file it came from.
        style: how tool results are laid out for the model: "native" (ours) or "asearcher" (ASearcher's
            hits as "[Doc N](url):" blocks, its page-part stubs, its reasoning history; observations.py).
    """

    name: str
    agents: tuple[str, ...]
    format: Literal["chat", "raw"]
    texts: dict[str, str] = field(default_factory=dict)
    source: str = ""
    style: Literal["native", "asearcher"] = "native"

    def text(self, key: str) -> str:
        """The text `key` (a bug if missing: the file was validated for this agent)."""
        return self.texts[key]

    def render(self, key: str, **values: Any) -> str:
        """Text `key` with each `{name}` in `values` replaced; other braces stay literal."""
        return fill(self.texts[key], **values)

    def validity(self, valid: bool) -> str:
        """The text for {validity}: `valid_inst` when `valid`, else `invalid_inst`."""
        return self.texts.get("valid_inst" if valid else "invalid_inst", "")

    @property
    def sha256(self) -> str:
        """Hash of the format, the observation style and the texts (names and order of keys do not
        matter). The native style is left out, so hashes recorded before `style` existed still hold."""
        body: dict[str, Any] = {"format": self.format, "texts": self.texts}
        if self.style != "native":
            body["style"] = self.style
        blob = json.dumps(body, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def to_yaml_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"agents": list(self.agents), "format": self.format}
        if self.style != "native":
            out["style"] = self.style
        return out | {"texts": dict(self.texts)}


def fill(template: str, **values: Any) -> str:
    """Replace `{name}` for each given name (a placeholder with no value stays as it is)."""
    if not values:
        return template
    pattern = re.compile("|".join(re.escape("{" + k + "}") for k in values))
    return pattern.sub(lambda m: str(values[m.group(0)[1:-1]]), template)


def _parse_prompt(name: str, raw: Any, where: str) -> PromptSet:
    if not isinstance(raw, dict):
        raise UserError(f"{where}: prompt {name!r} must be a mapping with agents, format and texts")
    unknown = set(raw) - {"agents", "format", "style", "texts"}
    if unknown:
        raise UserError(f"{where}: prompt {name!r} has unknown key(s) {sorted(unknown)}")
    agents = raw.get("agents")
    if not isinstance(agents, list) or not agents or any(a not in FAMILY_OF for a in agents):
        raise UserError(f"{where}: prompt {name!r}: agents must be a list of {list(FAMILY_OF)}, got {agents!r}")
    fmt = raw.get("format", "chat")
    if fmt not in FORMATS:
        raise UserError(f"{where}: prompt {name!r}: format must be one of {list(FORMATS)}, got {fmt!r}")
    style = raw.get("style", "native")
    if style not in STYLES:
        raise UserError(f"{where}: prompt {name!r}: style must be one of {list(STYLES)}, got {style!r}")
    texts = raw.get("texts")
    if not isinstance(texts, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in texts.items()):
        raise UserError(f"{where}: prompt {name!r}: texts must map names to strings")
    families = {FAMILY_OF[a] for a in agents}
    if len(families) > 1:
        raise UserError(f"{where}: prompt {name!r} mixes agents of different shapes: {agents}")
    (family,) = families
    required, optional = FAMILIES[family]
    missing = [k for k in required if k not in texts]
    if missing:
        raise UserError(f"{where}: prompt {name!r} (for {agents}) lacks the text(s) {missing}")
    extra = set(texts) - set(required) - set(optional)
    if extra:
        raise UserError(f"{where}: prompt {name!r} has unknown text(s) {sorted(extra)}; known: {sorted(required + tuple(optional))}")
    if style != "native" and family not in ("append", "reasoning"):
        raise UserError(f"{where}: prompt {name!r}: style {style!r} is for the base, search-r1 and reasoning "
                        f"agents, not {agents}")
    if family == "fc" and fmt == "raw":
        raise UserError(f"{where}: prompt {name!r}: the fc agent needs format chat")
    return PromptSet(name, tuple(agents), fmt, {**optional, **texts}, where, style)


def load_prompt_file(path: str | Path) -> dict[str, PromptSet]:
    """All prompts of a prompt file, validated (UserError naming the file, prompt and key)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise UserError(f"cannot read prompt file {path}: {e.strerror or e}") from e
    except yaml.YAMLError as e:
        raise UserError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("prompts"), dict):
        raise UserError(f"{path}: a prompt file is a mapping with a 'prompts' mapping (name -> prompt)")
    if data.get("version", 1) != 1:
        raise UserError(f"{path}: unsupported prompt file version {data.get('version')!r} (this asearcher reads 1)")
    return {str(n): _parse_prompt(str(n), p, str(path)) for n, p in data["prompts"].items()}


def select_prompt(kind: str, name: str = "", file: str = "") -> PromptSet:
    """The prompt `name` (default: the agent's own) from `file` (default: the built-in file)."""
    path = Path(file) if file else BUILTIN
    table = load_prompt_file(path)
    if not name:
        suited = [p for p in table.values() if kind in p.agents]
        if file and len(suited) == 1:
            return suited[0]
        name = DEFAULT_PROMPT[kind]
    if name not in table:
        suited = sorted(n for n, p in table.items() if kind in p.agents)
        raise UserError(f"agent.prompt: no prompt {name!r} in {path}; prompts for the {kind!r} agent there: {suited}")
    chosen = table[name]
    if kind not in chosen.agents:
        raise UserError(f"agent.prompt: prompt {name!r} in {path} is written for {list(chosen.agents)}, not the {kind!r} agent")
    return chosen


def prompt_record(config: Any) -> dict[str, str]:
    """Name, file and text hash of the prompt an AgentConfig selects, for run records and summaries.

    >>> sorted(prompt_record(AgentConfig(kind="base")))        # doctest: +SKIP
    ['prompt', 'prompt_file', 'prompt_sha256']
    """
    p = select_prompt(config.kind, config.prompt, config.prompt_file)
    return {"prompt": p.name, "prompt_file": config.prompt_file or "builtin", "prompt_sha256": p.sha256}


def write_prompt_file(path: str | Path, prompts: dict[str, PromptSet], header: str = "") -> None:
    """Write `prompts` as a prompt file (texts as YAML block scalars where they span lines)."""
    body = {"version": 1, "prompts": {n: p.to_yaml_dict() for n, p in prompts.items()}}
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    text = yaml.dump(body, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=100)
    Path(path).write_text(comment + text, encoding="utf-8")


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings as `|` blocks, so a prompt file reads like the prompts."""


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    # Block style for long multi-line texts; it cannot hold trailing spaces or tabs on a line or
    # leading blank lines reliably, and short frames ("\n</information>\n") read better quoted.
    lines = data.split("\n")
    if len(data) > 80 and len(lines) > 1 and lines[0] and all(line == line.rstrip(" \t") for line in lines):
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style='"' if "\n" in data else None)


_BlockDumper.add_representer(str, _str_presenter)


def draw_valid_inst(config: Any, qid: str) -> bool:
    """Whether this episode's prompt gets `valid_inst` (probability `config.valid_inst_ratio`).

    With `config.seed` set the draw is a function of (seed, qid), so a rerun repeats it; ratios 0 and
    1 never draw.
    """
    ratio = config.valid_inst_ratio
    if ratio >= 1.0 or ratio <= 0.0:
        return ratio >= 1.0
    rng = random.Random(f"{config.seed}:{qid}") if config.seed is not None else random
    return rng.random() < ratio
