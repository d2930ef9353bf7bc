"""Measure how far component knowledge is spread, and how the installer's packages import each other.

Run from the repository root: ``python tests/measure_architecture.py`` (standard library only, so it
runs on any checkout, old or new, and the numbers before and after a change compare).

Printed:

* per component key: the files under ``installer/`` that name it, outside the component's own package:
  as a string literal (the key itself, or a dotted path with it as one part, ``"gpu_operator.enabled"``),
  as a module name (``installer.components.<key>``), or as an attribute (``profile.<key>``); the total
  counts a file once;
* import arrows between the top-level subpackages of ``installer`` (``verbs -> bundle``): every
  ``import`` statement counts, lazy ones inside functions and ``TYPE_CHECKING`` ones included, since
  each is a dependency a reader has to know about. Modules directly under ``installer/`` count as their
  own package (``cli``, ``errors``). Import circles are left to the import-graph test.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "installer"
KEYS = ("microk8s", "gpu_operator", "rdma", "jupyterhub")


def _modules() -> list[tuple[Path, str, ast.Module]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(ROOT).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        found.append((path, ".".join(parts), ast.parse(path.read_text(encoding="utf-8"), str(path))))
    return found


def _top(module: str) -> str:
    """``installer.bundle.manifest`` -> ``bundle``; ``installer.cli`` -> ``cli``; ``installer`` -> ``installer``."""
    parts = module.split(".")
    if len(parts) < 2 or not ((PACKAGE / parts[1]).is_dir() or (PACKAGE / f"{parts[1]}.py").is_file()):
        return "installer"  # ``from installer import __version__``: a name, not a subpackage
    return parts[1]


def _imports(module: str, tree: ast.Module, is_package: bool) -> list[str]:
    targets = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            targets.append(name)
            targets += [f"{name}.{alias.name}" for alias in node.names]
    return [t for t in targets if t == "installer" or t.startswith("installer.")]


def _names_key(tree: ast.Module, key: str) -> set[str]:
    how = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value == key or key in node.value.split("."):
                how.add("literal")
        elif isinstance(node, ast.Attribute) and node.attr == key:
            how.add("attribute")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names]
            if isinstance(node, ast.ImportFrom):
                names.append(node.module or "")
                names += [f"{node.module}.{a.name}" for a in node.names]
            if any(f"components.{key}" in n or n == key for n in names):
                how.add("module")
    return how


def main() -> int:
    modules = _modules()
    print("Files under installer/ (outside the component's own package) naming each component")
    print(f"  {'component':<14}{'literal':>9}{'module':>8}{'attribute':>11}{'any':>6}")
    grand = 0
    for key in KEYS:
        own = PACKAGE / "components" / key
        counts: dict[str, int] = defaultdict(int)
        for path, _, tree in modules:
            if own in path.parents:
                continue
            how = _names_key(tree, key)
            for kind in how:
                counts[kind] += 1
            counts["any"] += bool(how)
        grand += counts["any"]
        print(f"  {key:<14}{counts['literal']:>9}{counts['module']:>8}{counts['attribute']:>11}{counts['any']:>6}")
    print(f"  {'total':<14}{'':>28}{grand:>6}")

    arrows: dict[tuple[str, str], int] = defaultdict(int)
    for path, module, tree in modules:
        source = _top(module)
        destinations = {_top(target) for target in _imports(module, tree, path.name == "__init__.py")}
        for destination in destinations - {source, "installer"}:
            arrows[(source, destination)] += 1
    print()
    print(f"Import arrows between installer's top-level packages: {len(arrows)} "
          f"({sum(arrows.values())} importing modules)")
    by_source: dict[str, list[str]] = defaultdict(list)
    for (source, destination), count in sorted(arrows.items()):
        by_source[source].append(f"{destination}({count})")
    for source in sorted(by_source):
        print(f"  {source:<14}-> {', '.join(by_source[source])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
