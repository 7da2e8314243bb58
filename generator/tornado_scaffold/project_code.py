"""What a generated project's Python code already holds, read statically (``ast``), never
imported: the routes it serves, the route names, the classes of its handlers. ``add``
refuses a name or a route that would collide with one of them.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# The names `add` gives modules, classes, routes and fields: lowercase identifiers, short
# enough that every generated line holding one fits in 100 columns.
IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*\Z")
MAX_IDENTIFIER = 32

# Folders that hold no routes of the application: its tests and what tools make.
SKIPPED = {"tests", ".git", ".venv", "venv", "build", "dist", "data", "node_modules"}
# What Tornado's Application serves itself once it has a static_path.
STATIC_ROUTES = (r"/static/(.*)", r"/(favicon\.ico)", r"/(robots\.txt)")
_CALLS = {"url", "URLSpec"}  # tornado.web.url / URLSpec, however imported


@dataclass
class Code:
    routes: list[tuple[str, str]] = field(default_factory=list)  # (pattern, file)
    route_names: dict[str, str] = field(default_factory=dict)  # name -> file
    classes: dict[str, str] = field(default_factory=dict)  # handlers' class -> file

    def route_matching(self, path: str) -> tuple[str, str] | None:
        """The (pattern, file) of a route that would answer ``path``, if any."""
        for pattern, where in self.routes:
            try:
                if re.fullmatch(pattern, path):
                    return pattern, where
            except re.error:
                continue
        return None

    def routes_answered_by(self, pattern: str) -> tuple[str, str] | None:
        """A literal route of the project that the new ``pattern`` would answer too."""
        for existing, where in self.routes:
            if not _has_regex(existing) and re.fullmatch(pattern, existing):
                return existing, where
        return None


def _has_regex(pattern: str) -> bool:
    return any(character in pattern for character in "()[]{}?*+|^$\\")


def _python_files(root: Path) -> Iterator[Path]:
    """The project's own Python files: not its tests, nor a virtual environment (a folder
    with a pyvenv.cfg, whatever its name), nor a folder this user may not read."""
    try:
        paths = sorted(root.iterdir())
    except OSError:
        return
    for path in paths:
        if path.name in SKIPPED or path.name.startswith("."):
            continue
        if path.is_dir():
            if not (path / "pyvenv.cfg").exists():
                yield from _python_files(path)
        elif path.suffix == ".py":
            yield path


def _literal(node: ast.AST) -> str | None:
    """A string literal's value; an f-string's with each {field} as one path segment."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                parts.append(re.escape(value.value))
            else:
                parts.append("[^/]+")
        return "".join(parts)
    return None


def read(root: Path) -> Code:
    """The routes, route names and handler classes of the project at ``root``."""
    code = Code(routes=[(pattern, "tornado") for pattern in STATIC_ROUTES])
    for path in _python_files(root):
        relative = path.relative_to(root).as_posix()
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=relative)
        except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
            continue  # not code this reads; Python will say what is wrong with it
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and relative.startswith("handlers/"):
                code.classes.setdefault(node.name, relative)
            if isinstance(node, ast.Call):
                function = node.func
                name = (
                    function.attr
                    if isinstance(function, ast.Attribute)
                    else (function.id if isinstance(function, ast.Name) else "")
                )
                if name in _CALLS and node.args:
                    pattern = _literal(node.args[0])
                    if pattern is not None:
                        code.routes.append((pattern, relative))
                    for keyword in node.keywords:
                        if keyword.arg == "name":
                            value = _literal(keyword.value)
                            if value is not None:
                                code.route_names.setdefault(value, relative)
            elif isinstance(node, ast.Tuple) and node.elts and relative == "routes.py":
                pattern = _literal(node.elts[0])
                if pattern is not None and pattern.startswith("/"):
                    code.routes.append((pattern, relative))
    return code


def top_level_names(root: Path) -> frozenset[str]:
    """The project's own importable top-level names (its packages and modules), which
    import sorting puts in a block of their own."""
    try:
        paths = list(root.iterdir())
    except OSError:
        return frozenset()
    return frozenset(
        path.stem
        for path in paths
        if (path.suffix == ".py" and path.is_file()) or (path / "__init__.py").is_file()
    )
