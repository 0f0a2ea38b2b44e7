"""The torchrun follower protocol is the PolicyTrainer interface: rank 0's RankZeroTrainer forwards
exactly its methods, and `follow` accepts exactly those (the two-rank run is in test_fsdp_trainer.py)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Protocol

from asearcher.rl.distributed.torchrun import FORWARDED, RankZeroTrainer
from asearcher.rl.interfaces import PolicyTrainer, WeightSource, protocol_methods


class _Base(Protocol):
    def a(self) -> None: ...


class _Derived(_Base, Protocol):
    x: int

    def b(self) -> None: ...

    def _private(self) -> None: ...


def test_protocol_methods_include_bases_and_skip_attributes_and_private_names():
    assert protocol_methods(_Derived) == ("a", "b")
    assert protocol_methods(WeightSource) == ("export_weights",)


def test_rank_zero_trainer_forwards_every_policy_trainer_method():
    assert FORWARDED == protocol_methods(PolicyTrainer)
    assert {"step", "export_weights", "save_checkpoint", "load_checkpoint"} <= set(FORWARDED)
    for name in FORWARDED:
        assert getattr(RankZeroTrainer, name).__name__ == name
    driver = RankZeroTrainer(SimpleNamespace(version=3))  # type: ignore[arg-type]
    assert isinstance(driver, PolicyTrainer) and driver.version == 3
