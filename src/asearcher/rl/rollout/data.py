"""Training questions for the rollout executor: epochs, seeded shuffling, and a position for checkpoints.

Any file `asearcher eval` reads works (the same loaders, `asearcher.eval.datasets`). The order of an
epoch depends only on (seed, epoch), so a resumed run that restores `state_dict()` draws exactly the
questions the uninterrupted run would have drawn.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any

from asearcher.api.qa import QAItem
from asearcher.errors import UserError
from asearcher.eval.datasets import load_qa

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Draw:
    """One question handed to the executor, with where it came from (for seeds and checkpoints)."""

    item: QAItem
    epoch: int
    index: int  # position within the epoch's order


class TrainData:
    """Cycles over `items` for `epochs` epochs; `next()` returns None once the last epoch is over."""

    def __init__(self, items: list[QAItem], epochs: int = 1, shuffle: bool = True, seed: int = 0) -> None:
        if not items:
            raise UserError("no training questions")
        self.items = items
        self.epochs = epochs
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.position = 0
        self._order = self._order_of(0)

    @classmethod
    def load(cls, spec: str, data_root: str = "", epochs: int = 1, shuffle: bool = True, seed: int = 0,
             limit: int = 0) -> TrainData:
        """Load a QA file / benchmark name; 'default' / 'facts' are the embedded corpus's training
        questions (corpus/qa.py, corpus/facts.py)."""
        from asearcher.corpus.tasks import embedded_qa_file

        spec = str(embedded_qa_file(spec, "train") or spec)
        items = load_qa(spec, data_root or None, limit=limit or None)
        return cls(items, epochs, shuffle, seed)

    def _order_of(self, epoch: int) -> list[int]:
        order = list(range(len(self.items)))
        if self.shuffle:
            random.Random(f"{self.seed}-{epoch}").shuffle(order)  # depends on (seed, epoch) only
        return order

    @property
    def exhausted(self) -> bool:
        return self.epoch >= self.epochs

    def next(self) -> Draw | None:
        """The next question, or None when every epoch is done. Check `epoch_ended()` after it."""
        if self.exhausted:
            return None
        draw = Draw(self.items[self._order[self.position]], self.epoch, self.position)
        self.position += 1
        if self.position >= len(self._order):
            self.end_epoch()
        return draw

    def end_epoch(self) -> None:
        """Start the next epoch now (also used when dynamic filtering ends an epoch early)."""
        logger.info("data epoch %d ended after %d of %d questions", self.epoch, self.position, len(self.items))
        self.epoch += 1
        self.position = 0
        if not self.exhausted:
            self._order = self._order_of(self.epoch)

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "position": self.position, "n_items": len(self.items), "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["n_items"] != len(self.items):
            raise UserError(f"the checkpoint's data had {state['n_items']} questions, the configured data has "
                            f"{len(self.items)}: resume with the same data.train / data.limit")
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        if not self.exhausted:
            self._order = self._order_of(self.epoch)
