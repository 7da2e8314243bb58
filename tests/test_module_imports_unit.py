"""The generator's modules import each other without a circle: each one can be read (and
tested) knowing only the modules below it. Imports inside functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import PACKAGE

# cli.main runs entry.main for console scripts installed before entry.py existed (an
# editable install keeps its script): the one import up the stack, and only at run time.
KEPT = {("cli", "entry")}


def imports(path: Path) -> set[str]:
    """The package's modules that the module at ``path`` imports, named from the package."""
    modules = {
        p.relative_to(PACKAGE).with_suffix("").as_posix().replace("/", ".")
        for p in PACKAGE.rglob("*.py")
    }
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in names:
            local = name.removeprefix("tornado_scaffold.")
            if name.startswith("tornado_scaffold.") and local in modules:
                found.add(local)
    return found


def graph() -> dict[str, set[str]]:
    edges = {}
    for path in PACKAGE.rglob("*.py"):
        name = path.relative_to(PACKAGE).with_suffix("").as_posix().replace("/", ".")
        edges[name] = {other for other in imports(path) if (name, other) not in KEPT} - {name}
    return edges


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Each import circle, as the path that closes it."""
    found, done = [], set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            found.append([*path[path.index(name) :], name])
            return
        if name in done:
            return
        for other in sorted(edges.get(name, ())):
            visit(other, [*path, name])
        done.add(name)

    for name in sorted(edges):
        visit(name, [])
    return found


def test_the_walk_sees_imports_inside_functions():
    edges = graph()
    assert "commands.new" in edges["cli"]  # imported inside the `new` command
    assert {"history", "source"} <= edges["release"]
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_no_module_imports_one_that_imports_it_back():
    assert circles(graph()) == []
