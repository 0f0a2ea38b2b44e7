"""Size limits of the house style (shared STYLE.md, habit 10): no source file over 500 lines, no
function over 80, so that every piece of the system can be read in one sitting."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "asearcher"
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80


def oversized(root: Path) -> list[str]:
    """'path: N lines' for files and 'path:line name: N lines' for functions past the limits."""
    found = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(root.parent)
        if (n := text.count("\n")) > MAX_FILE_LINES:
            found.append(f"{rel}: {n} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if (n := node.end_lineno - node.lineno + 1) > MAX_FUNCTION_LINES:
                    found.append(f"{rel}:{node.lineno} {node.name}: {n} lines")
    return found


def test_no_file_or_function_past_the_limits():
    assert oversized(SRC) == []


def test_the_check_finds_a_long_file_and_a_long_function(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    (pkg / "long_function.py").write_text(f"def f():\n{body}")
    (pkg / "long_file.py").write_text("x = 1\n" * (MAX_FILE_LINES + 1))
    assert oversized(pkg) == [f"pkg/long_file.py: {MAX_FILE_LINES + 1} lines",
                              f"pkg/long_function.py:1 f: {MAX_FUNCTION_LINES + 1} lines"]
