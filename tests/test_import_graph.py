"""The import graph of src/asearcher: no cycles, and rl/'s layers import downwards only.

Every module is parsed with `ast` (not imported): module-level and function-level imports count alike,
relative imports are resolved, and `from pkg import name` counts as importing `pkg.name` when that is a
module. Imports under `if TYPE_CHECKING:` count too: a cycle that only type checkers see is still one
to untangle. An edge goes to the deepest asearcher module named; a package's `__init__` is a module of
its own (importing `a.b.c` runs `a/__init__` and `a/b/__init__`, but they hold no imports that matter
here, so they are not added as edges).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "asearcher"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every absolute dotted name an import in `tree` names; `from a import b` gives "a\0b" (the caller
    decides whether that is the module a.b or the name b of module a)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.update(f"{base}\0{alias.name}" for alias in node.names)
    return names


def import_graph(root: Path = SRC, package: str = PACKAGE) -> dict[str, set[str]]:
    """module -> the modules of `package` it imports (resolved to modules that exist)."""
    files = {module_name(p, root): p for p in (root / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        names = imported_names(ast.parse(path.read_text(encoding="utf-8"), str(path)), mod,
                               path.name == "__init__.py")
        targets = set()
        for name in names:
            base, _, attr = name.partition("\0")
            if base.split(".")[0] != package:
                continue
            name = f"{base}.{attr}" if f"{base}.{attr}" in files else base  # a module, or a name in one
            while name and name not in files:  # `import a.b` of a namespace package -> a
                name = name.rpartition(".")[0]
            if name and name != mod:
                targets.add(name)
        graph[mod] = targets
    return graph


def find_cycle(graph: dict[str, Iterable[str]]) -> list[str] | None:
    """One cycle of `graph` as [a, b, ..., a], or None. Iterative DFS with white / grey / black colours."""
    colour: dict[str, int] = {}
    for start in sorted(graph):
        if colour.get(start):
            continue
        stack: list[tuple[str, list[str]]] = [(start, sorted(graph.get(start, ())))]
        path = [start]
        colour[start] = 1
        while stack:
            node, todo = stack[-1]
            if not todo:
                colour[node] = 2
                stack.pop()
                path.pop()
                continue
            nxt = todo.pop(0)
            if colour.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if not colour.get(nxt):
                colour[nxt] = 1
                path.append(nxt)
                stack.append((nxt, sorted(graph.get(nxt, ()))))
    return None


def test_find_cycle_on_synthetic_graphs():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"x": {"y"}, "y": {"y"}}) == ["y", "y"]
    # a diamond is not a cycle; a cycle reached through it is found
    assert find_cycle({"a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": set()}) is None
    assert find_cycle({"a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": {"c"}}) == ["d", "c", "d"]


def test_import_graph_resolves_relative_function_level_and_from_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import b\n")
    (pkg / "a.py").write_text("def f():\n    from pkg.sub.b import g\n    return g\n")
    (pkg / "sub" / "b.py").write_text("from ..a import f\nimport os\n")
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.a"] == {"pkg.sub.b"}
    assert graph["pkg.sub.b"] == {"pkg.a"}
    assert graph["pkg.sub"] == {"pkg.sub.b"}
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.b", "pkg.a"]


def test_src_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 100 and graph["asearcher.cli.train"]  # the walk found the package and its imports
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


# rl/'s layers, lowest first; a module may import its own layer and those below. config.py and
# interfaces.py are the composition root and the contracts, which every layer reads, and distributed/config.py
# is plain dataclasses that config.py composes.
RL_LAYERS = ["algo", "rollout|train", "run", "distributed", "launch"]
SHARED = {"asearcher.rl.config", "asearcher.rl.interfaces", "asearcher.rl.distributed.config", "asearcher.rl"}


def _rl_part(module: str) -> str | None:
    """"train" for asearcher.rl.train.trainer; None outside rl/ subpackages."""
    parts = module.split(".")
    return parts[2] if parts[:2] == ["asearcher", "rl"] and len(parts) > 3 else None


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if module in SHARED or parts[:2] != ["asearcher", "rl"] or len(parts) < 3:
        return None
    return next(i for i, names in enumerate(RL_LAYERS) if parts[2] in names.split("|"))


def test_rl_layers_import_downwards_only():
    graph = import_graph()
    upward = [f"{m} -> {t}" for m, ts in sorted(graph.items()) for t in sorted(ts)
              if _layer(m) is not None and _layer(t) is not None and _layer(t) > _layer(m)]
    assert not upward, "rl/ imports upwards:\n" + "\n".join(upward)
    # rollout and train sit side by side: neither imports the other
    side = [f"{m} -> {t}" for m, ts in sorted(graph.items()) for t in sorted(ts)
            if {_rl_part(m), _rl_part(t)} == {"rollout", "train"}]
    assert not side, "rollout/ and train/ import each other:\n" + "\n".join(side)


def test_only_rl_distributed_imports_ray_or_torch_distributed():
    """Below distributed/ (and through everything they import) no module imports Ray or torch.distributed."""
    files = {module_name(p, SRC): p for p in (SRC / PACKAGE / "rl").rglob("*.py")}
    graph = import_graph()
    heavy = {}
    for mod, path in files.items():
        names = imported_names(ast.parse(path.read_text(encoding="utf-8")), mod, path.name == "__init__.py")
        names = {n.replace("\0", ".") for n in names}
        hits = sorted(n for n in names if n == "ray" or n.startswith(("ray.", "torch.distributed")))
        if hits:
            heavy[mod] = hits
    assert all(m.startswith("asearcher.rl.distributed.") for m in heavy), heavy
    assert "asearcher.rl.distributed.torchrun" in heavy  # the scan sees them where they are
    for mod in files:
        if _layer(mod) is None or _layer(mod) >= RL_LAYERS.index("distributed"):
            continue
        seen, todo = set(), [mod]
        while todo:
            m = todo.pop()
            if m in seen:
                continue
            seen.add(m)
            todo.extend(graph.get(m, ()))
        reached = sorted(seen & set(heavy))
        assert not reached, f"{mod} reaches {reached}, which import Ray / torch.distributed"
