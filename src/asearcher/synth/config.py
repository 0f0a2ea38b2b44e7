"""Configuration of QA synthesis (`asearcher synth`) and of difficulty filtering (`asearcher synth filter`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from asearcher.config import cfg
from asearcher.engines.config import EngineConfig
from asearcher.errors import UserError


@dataclass
class RoleConfig:
    """Sampling settings of one model role (proposer or verifier)."""

    temperature: float = cfg(0.7, "Sampling temperature of this role's calls (0 = greedy).")
    max_new_tokens: int = cfg(512, "Most tokens generated per call.")

    def validate(self) -> None:
        if self.max_new_tokens < 1 or self.temperature < 0:
            raise UserError(
                f"max_new_tokens must be >= 1 and temperature >= 0 (got {self.max_new_tokens}, {self.temperature})"
            )


@dataclass
class SynthConfig:
    """How the QA-synthesis agent builds, edits and verifies one question per seed page."""

    max_edits: int = cfg(8, "Most edit steps (inject / fuzz / stop decisions) after the base question.")
    direct_samples: int = cfg(8, "Tool-free answers drawn per verification to measure difficulty (N).")
    hard_accuracy: float = cfg(
        0.0,
        "A question counts as hard when its tool-free accuracy is <= this. The proposer may stop only "
        "then, and a record is accepted only when its final question is hard.",
    )
    scoring: Literal["judge", "em", "cover_em"] = cfg(
        "judge",
        "How a tool-free answer is graded: 'judge' (exact match, else the verifier model as an LLM "
        "judge, as ASearcher does), 'em' or 'cover_em' (string metrics only, no judge calls).",
    )
    json_retries: int = cfg(2, "Extra tries when a model reply is not the JSON asked for; then the step fails.")
    facts_per_page: int = cfg(8, "Most facts kept from one page.")
    page_chars: int = cfg(3000, "Characters of a page shown to the model when extracting facts.")
    link_candidates: int = cfg(8, "Linked pages offered to the proposer at an inject step.")
    proposer: RoleConfig = cfg(RoleConfig(0.7, 512), "The proposing / reasoning model (ASearcher: QwQ-32B).")
    verifier: RoleConfig = cfg(
        RoleConfig(0.0, 256), "The instruct model: extracts facts, judges validity and answers (Qwen2.5-72B-Instruct)."
    )
    answer: RoleConfig = cfg(
        RoleConfig(0.6, 256), "Tool-free answering in the difficulty check (by the proposer model)."
    )
    engine: EngineConfig = cfg(EngineConfig(), "How the two models are built (see `asearcher eval --help`).")
    source: str = cfg("asearcher-synth", "Value of the `source` field of every written question.")

    def validate(self) -> None:
        if self.max_edits < 0 or self.direct_samples < 1 or self.json_retries < 0:
            raise UserError(
                f"max_edits >= 0, direct_samples >= 1 and json_retries >= 0 are required "
                f"(got {self.max_edits}, {self.direct_samples}, {self.json_retries})"
            )
        if not 0.0 <= self.hard_accuracy <= 1.0:
            raise UserError(f"hard_accuracy must be in [0, 1], got {self.hard_accuracy}")
        if self.facts_per_page < 1 or self.page_chars < 100 or self.link_candidates < 1:
            raise UserError("facts_per_page and link_candidates must be >= 1, page_chars >= 100")


# `asearcher synth` without --proposer runs the embedded SmolLM2-135M on llama.cpp: limits that keep a
# seed to minutes on a shared CPU (with the defaults above, one request of 512 tokens outlived the
# 300 s engine timeout four times over, ~20 min per call). One llama.cpp thread, as for `ask`: with
# all cores its threads spin-wait on each other on a shared machine. The --config file and key=value
# overrides win. The model is too small to be a data source anyway (docs/synth.md).
EMBEDDED_SYNTH_DEFAULTS = {
    "engine.n_threads": "1",
    "direct_samples": "2",
    "max_edits": "2",
    "json_retries": "1",
    "page_chars": "1500",
    "proposer.max_new_tokens": "128",
    "verifier.max_new_tokens": "96",
    "answer.max_new_tokens": "32",
}


@dataclass
class FilterConfig:
    """Difficulty filtering of questions by k rollouts each (the ASearcher paper's recipe)."""

    metric: Literal["judge", "em", "cover_em", "f1"] = cfg(
        "em", "Rollout score (from the eval runner's `scores`) that decides whether a rollout solved it."
    )
    solved_at: float = cfg(1.0, "A rollout solves its question when its metric is >= this.")
    max_solve_rate: float = cfg(0.5, "Drop questions solved in >= this fraction of rollouts ('too_easy').")
    max_trivial_searches: int = cfg(
        1, "Drop questions that some rollout solved with <= this many search calls ('few_searches'); -1 turns it off."
    )
    drop_unsolved: bool = cfg(True, "Drop questions no rollout solved ('never_solved').")

    def validate(self) -> None:
        if not 0.0 < self.max_solve_rate <= 1.0:
            raise UserError(f"max_solve_rate must be in (0, 1], got {self.max_solve_rate}")
