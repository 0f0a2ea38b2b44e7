"""The config machinery every component uses: defaults, YAML, dotted overrides, loud errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest

from asearcher.config import cfg, help_epilog, load_config, parse_overrides, save_config
from asearcher.errors import UserError


@dataclass
class Inner:
    lr: float = cfg(1e-5, "learning rate")
    kind: Literal["a", "b"] = cfg("a", "which kind")


@dataclass
class Outer:
    name: str = cfg("run", "run name")
    steps: int = cfg(10, "number of steps")
    tags: list[str] = cfg([], "free tags")
    inner: Inner = cfg(Inner(), "the inner part")


def test_defaults_file_then_overrides(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("steps: 20\ninner:\n  kind: b\n")
    c = load_config(Outer, path, ["inner.lr=3e-4", "tags=[x, y]"])
    assert (c.name, c.steps, c.tags) == ("run", 20, ["x", "y"])
    assert c.inner.kind == "b"
    assert c.inner.lr == pytest.approx(3e-4)  # YAML 1.1 reads 3e-4 as a string: still a float here


def test_mutable_defaults_are_not_shared():
    a, b = Outer(), Outer()
    a.tags.append("x")
    a.inner.lr = 1.0
    assert b.tags == [] and b.inner.lr == 1e-5


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["inner.bogus=1"], "inner.bogus"),
        (["bogus=1"], "bogus"),
        (["steps=ten"], "steps"),
        (["steps=1.5"], "steps"),
        (["inner.kind=c"], "inner.kind"),
        (["inner.lr=fast"], "inner.lr"),
        (["novalue"], "novalue"),
    ],
)
def test_bad_overrides_name_the_key(overrides, needle):
    with pytest.raises(UserError, match=needle):
        load_config(Outer, None, overrides)


def test_bad_file_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("inner:\n  nope: 1\n")
    with pytest.raises(UserError, match=r"bad\.yaml.*inner\.nope"):
        load_config(Outer, path)
    with pytest.raises(UserError, match="not found"):
        load_config(Outer, tmp_path / "missing.yaml")


def test_parse_overrides_nests_and_save_round_trips(tmp_path):
    assert parse_overrides(["a.b.c=1", "a.d=x"]) == {"a": {"b": {"c": 1}, "d": "x"}}
    c = load_config(Outer, None, ["steps=3"])
    save_config(c, tmp_path / "c.yaml")
    assert load_config(Outer, tmp_path / "c.yaml") == c


def test_help_epilog_lists_dotted_keys_with_help():
    text = help_epilog(Outer)
    assert "inner.lr = 1e-05" in text and "learning rate" in text and "steps = 10" in text


def test_literal_words_that_yaml_reads_as_booleans():
    """`trainer.autocast=off` / `fsdp.mode: off` arrive from YAML 1.1 as False: the word is meant."""
    from asearcher.config import load_config
    from asearcher.rl.config import TrainConfig

    c = load_config(TrainConfig, None, ["trainer.autocast=off", "fsdp.mode=off"])
    assert c.trainer.autocast == "off" and c.fsdp.mode == "off"
