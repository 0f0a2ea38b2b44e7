"""Typed configuration: dataclasses whose field docs become `--help`, YAML recipes, dotted overrides.

Each component owns its config class next to its code (`retrieval/config.py`, ...); an experiment
config composes them. Rules (STYLE.md habit 9): unknown keys fail loudly naming the key path, the
resolved config is saved with every run, and a lookup never falls back silently to a default.

    @dataclass
    class ServerConfig:
        port: int = cfg(8000, "TCP port to listen on.")

    cfg_obj = load_config(ServerConfig, None, ["port=9000"])
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from asearcher.errors import UserError

T = TypeVar("T")


def cfg(default: Any, help: str, **kwargs: Any) -> Any:  # noqa: A002 - `help` reads best at call sites
    """A dataclass field with a help string; mutable defaults are copied per instance."""
    if isinstance(default, list | dict | set):
        return dataclasses.field(default_factory=lambda d=default: type(d)(d), metadata={"help": help}, **kwargs)
    if dataclasses.is_dataclass(default) and not isinstance(default, type):
        return dataclasses.field(default_factory=lambda d=default: dataclasses.replace(d), metadata={"help": help}, **kwargs)
    return dataclasses.field(default=default, metadata={"help": help}, **kwargs)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check/convert `value` to the annotated type `tp`; raise UserError naming `where`."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, where)
            except UserError as e:
                errors.append(str(e))
        raise UserError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is typing.Literal:
        if isinstance(value, bool):  # YAML 1.1 reads off/on/no/yes as booleans: take the word back
            words = {False: ("off", "no", "false"), True: ("on", "yes", "true")}[value]
            value = next((w for w in words if w in typing.get_args(tp)), value)
        if value not in typing.get_args(tp):
            raise UserError(f"{where}: {value!r} is not one of {list(typing.get_args(tp))}")
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise UserError(f"{where}: expected a mapping for {tp.__name__}, got {value!r}")
        return from_dict(tp, value, where)
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise UserError(f"{where}: expected a list, got {value!r}")
        (item_tp, *_) = typing.get_args(tp) or (Any,)
        return [_coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise UserError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise UserError(f"{where}: expected true/false, got {value!r}")
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):
        # YAML 1.1 reads "3e-4" (no dot) as a string; a float field still means a number.
        try:
            return float(value)
        except ValueError:
            raise UserError(f"{where}: expected float, got {value!r}") from None
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is str and isinstance(value, str):
        return value
    if tp in (int, float, str):
        raise UserError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build config `cls` from a mapping; unknown keys and wrong types raise UserError."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        prefix = f"{where}." if where else ""
        raise UserError(f"unknown config key(s) {', '.join(prefix + k for k in unknown)}; valid keys: {sorted(names)}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}" if where else k) for k, v in data.items()}
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()
    return obj


def to_dict(obj: Any) -> dict[str, Any]:
    """The config as plain data (for saving next to a run)."""
    return dataclasses.asdict(obj)


def dotted(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level of dotted keys, the names overrides use.

    >>> dotted({"a": 1, "b": {"c": 2}})
    {'a': 1, 'b.c': 2}
    """
    flat: dict[str, Any] = {}
    for k, v in d.items():
        flat.update(dotted(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return flat


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """`["a.b=3", "c=[1,2]"]` -> nested dict; values are parsed as YAML scalars/lists."""
    out: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise UserError(f"override {item!r} must look like key.sub=value")
        key, raw = item.split("=", 1)
        if not key:
            raise UserError(f"override {item!r} has an empty key")
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError as e:
            raise UserError(f"override {item!r}: cannot parse value: {e}") from None
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise UserError(f"override {item!r} conflicts with another override of {p}")
        node[parts[-1]] = value
    return out


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Defaults of `cls`, then the YAML file at `path`, then dotted `overrides`."""
    data = to_dict(cls())
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise UserError(f"config file not found: {p}")
        try:
            loaded = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise UserError(f"{p}: invalid YAML: {e}") from None
        if not isinstance(loaded, dict):
            raise UserError(f"{p}: the top level must be a mapping")
        # Check the file's own keys before merging so the error names the file.
        try:
            from_dict(cls, _merge(data, loaded))
        except UserError as e:
            raise UserError(f"{p}: {e}") from None
        data = _merge(data, loaded)
    if overrides:
        data = _merge(data, parse_overrides(overrides))
    return from_dict(cls, data)


def save_config(obj: Any, path: str | Path) -> None:
    """Write the resolved config as YAML."""
    Path(path).write_text(yaml.safe_dump(to_dict(obj), sort_keys=False))


def describe(cls: type, prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted key, default, help) for every field, recursing into nested configs; for --help."""
    rows = []
    hints = typing.get_type_hints(cls)
    default_obj = cls()
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        value = getattr(default_obj, f.name)
        if dataclasses.is_dataclass(hints[f.name]):
            rows.extend(describe(hints[f.name], key + "."))
        else:
            rows.append((key, repr(value), f.metadata.get("help", "")))
    return rows


def help_epilog(cls: type) -> str:
    """A `--help` epilog listing every config key with its default and doc."""
    lines = ["config keys (override with key=value):"]
    for key, default, text in describe(cls):
        lines.append(f"  {key} = {default}\n      {text}")
    return "\n".join(lines)
