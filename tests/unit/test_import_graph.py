"""No import circle outside the wizard's screens (issue 12): the core is layered, the demo sits on top.

The graph is the one import-linter builds (grimp), over every module of ``installer``,
with function-level imports included and ``if TYPE_CHECKING:`` imports left out (those
never run). A circle is a strongly connected group of two or more modules; only groups
made entirely of ``installer.tui`` modules are allowed (screens and the app name each other).
"""

from __future__ import annotations

import grimp

ALLOWED_PREFIX = "installer.tui"


def circles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Every strongly connected group of 2+ modules (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start) & modules)))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child) & modules))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def test_the_finder_sees_a_circle() -> None:
    """The walk itself works: two modules importing each other are one circle."""
    graph = grimp.ImportGraph()
    for name in ("a", "a.x", "a.y", "a.z"):
        graph.add_module(name)
    graph.add_import(importer="a.x", imported="a.y")
    graph.add_import(importer="a.y", imported="a.x")
    graph.add_import(importer="a.z", imported="a.x")
    assert circles(graph, {"a.x", "a.y", "a.z"}) == [["a.x", "a.y"]]


def test_no_import_circle_outside_tui() -> None:
    """Each circle found is named with its modules, so the arrow to cut is easy to see."""
    graph = grimp.build_graph("installer", exclude_type_checking_imports=True, cache_dir=None)
    modules = {m for m in graph.modules if m.startswith("installer")}
    assert "installer.install_run" in modules
    bad = [group for group in circles(graph, modules)
           if not all(m == ALLOWED_PREFIX or m.startswith(ALLOWED_PREFIX + ".") for m in group)]
    assert not bad, "import circles outside installer.tui:\n" + "\n".join(" <-> ".join(g) for g in bad)
