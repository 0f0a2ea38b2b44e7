"""Training questions for the rollout executor: epochs, seeded shuffling, and a position for checkpoints.

Any file `asearcher eval` reads works (the same loaders, `asearcher.eval.datasets`). The order of an
epoch depends only on (seed, epoch), so a resumed run that restores `state_dict()` draws exactly the
questions the uninterrupted run would have drawn.

Difficulty-aware sampling (`skip_window` > 0): the executor reports each finished group's rewards
(`record`). A question whose last `skip_window` groups were all uninformative -- every sample
scored the same, so the group baseline leaves no gradient and dynamic filtering would drop it --
is skipped for the next `revisit_after` epochs, then drawn again (the policy may have moved).
Example (window 1, revisit_after 1): a question solved by all 4 samples in epoch 0 is not drawn in
epoch 1 and is drawn again in epoch 2. A group is "mixed" when max - min > `tolerance`.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any

from asearcher.api.qa import QAItem
from asearcher.errors import UserError
from asearcher.eval.datasets import load_qa
from asearcher.rl.rollout.filtering import all_equal

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Draw:
    """One question handed to the executor, with where it came from (for seeds and checkpoints)."""

    item: QAItem
    epoch: int
    index: int  # position within the epoch's order


class TrainData:
    """Cycles over `items` for `epochs` epochs; `next()` returns None once the last epoch is over."""

    def __init__(self, items: list[QAItem], epochs: int = 1, shuffle: bool = True, seed: int = 0, *,
                 skip_window: int = 0, revisit_after: int = 1, tolerance: float = 1e-6) -> None:
        if not items:
            raise UserError("no training questions")
        if skip_window < 0 or revisit_after < 1:
            raise UserError(f"data.skip_window must be >= 0 and data.revisit_after >= 1, got {skip_window}, "
                            f"{revisit_after}")
        self.items = items
        self.epochs = epochs
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.position = 0
        self._order = self._order_of(0)
        self.skip_window = skip_window
        self.revisit_after = revisit_after
        self.tolerance = tolerance
        self.outcomes: dict[str, list[str]] = {}  # qid -> "mixed" / "all_correct" / "all_wrong", oldest first
        self.skip_until: dict[str, int] = {}  # qid -> first epoch in which it is drawn again
        self.skipped = 0  # draws skipped so far (a metric)

    @classmethod
    def from_config(cls, config: Any, tolerance: float = 1e-6) -> TrainData:
        """From a `DataConfig` (rl/config.py); `tolerance` is dynamic filtering's (`filter.tolerance`),
        so a group the filter drops as all-equal is the group the sampler counts as all-equal."""
        return cls.load(config.train, config.data_root, config.epochs, config.shuffle, config.seed, config.limit,
                        skip_window=config.skip_window, revisit_after=config.revisit_after, tolerance=tolerance)

    @classmethod
    def load(cls, spec: str, data_root: str = "", epochs: int = 1, shuffle: bool = True, seed: int = 0,
             limit: int = 0, **sampling: Any) -> TrainData:
        """Load a QA file / benchmark name; 'default' / 'facts' are the embedded corpus's training
        questions (corpus/qa.py, corpus/facts.py)."""
        from asearcher.corpus.tasks import embedded_qa_file

        spec = str(embedded_qa_file(spec, "train") or spec)
        items = load_qa(spec, data_root or None, limit=limit or None)
        return cls(items, epochs, shuffle, seed, **sampling)  # skip_window / revisit_after / tolerance: checked there

    def _order_of(self, epoch: int) -> list[int]:
        order = list(range(len(self.items)))
        if self.shuffle:
            random.Random(f"{self.seed}-{epoch}").shuffle(order)  # depends on (seed, epoch) only
        return order

    @property
    def exhausted(self) -> bool:
        return self.epoch >= self.epochs

    def next(self) -> Draw | None:
        """The next question not being skipped, or None when every epoch is done."""
        while not self.exhausted:
            draw = Draw(self.items[self._order[self.position]], self.epoch, self.position)
            self.position += 1
            if self.position >= len(self._order):
                self.end_epoch()
            if self.skip_until.get(draw.item.id, 0) <= draw.epoch:
                return draw
            self.skipped += 1
        return None

    def record(self, draw: Draw, rewards: list[float]) -> str:
        """Note the rewards of a finished group of `draw`; returns its outcome (module docstring)."""
        if not all_equal(rewards, self.tolerance):
            outcome = "mixed"
        else:
            outcome = "all_correct" if rewards[0] >= 0.5 else "all_wrong"
        if self.skip_window <= 0:
            return outcome
        recent = (self.outcomes.get(draw.item.id, []) + [outcome])[-self.skip_window:]
        self.outcomes[draw.item.id] = recent
        if len(recent) == self.skip_window and "mixed" not in recent:
            self.skip_until[draw.item.id] = draw.epoch + self.revisit_after + 1
        return outcome

    def end_epoch(self) -> None:
        """Start the next epoch now (also used when dynamic filtering ends an epoch early)."""
        logger.info("data epoch %d ended after %d of %d questions", self.epoch, self.position, len(self.items))
        self.epoch += 1
        self.position = 0
        if not self.exhausted:
            self._order = self._order_of(self.epoch)

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "position": self.position, "n_items": len(self.items), "seed": self.seed,
                "outcomes": self.outcomes, "skip_until": self.skip_until, "skipped": self.skipped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["n_items"] != len(self.items):
            raise UserError(f"the checkpoint's data had {state['n_items']} questions, the configured data has "
                            f"{len(self.items)}: resume with the same data.train / data.limit")
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        # Checkpoints from before difficulty-aware sampling have no history: start with none.
        self.outcomes = {k: list(v) for k, v in state.get("outcomes", {}).items()}
        self.skip_until = {k: int(v) for k, v in state.get("skip_until", {}).items()}
        self.skipped = int(state.get("skipped", 0))
        if not self.exhausted:
            self._order = self._order_of(self.epoch)
