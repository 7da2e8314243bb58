"""The generated project's ``routes.py``, read and changed through its concrete syntax tree
(libcst): an import and the new lines of ``ROUTES`` go in, and every comment, blank line
and formatting choice of the user's survives.

What is written is what ``ruff format`` and ruff's import sorting would write (the project
lints with both): first-party imports sorted in their own block, one route per line in
an exploded list, a line too long for 100 columns split as ruff splits it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import libcst as cst

FILE = "routes.py"
LINE_LENGTH = 100  # the generated pyproject.toml's [tool.ruff] line-length
INDENT = "    "


@dataclass(frozen=True)
class Route:
    pattern: str  # a regular expression, written as a raw string literal
    handler: str  # the class name, imported from ``module``
    name: str  # for reverse_url()
    module: str  # e.g. "handlers.about"


ParseError = cst.ParserSyntaxError  # routes.py is not valid Python


class NotFound(Exception):
    """routes.py lacks what ``add`` registers into; ``str()`` says what was expected."""


def bound_names(source: str) -> set[str]:
    """The names routes.py binds at module level: its imports, classes, functions and
    assignments (a handler added under one of them would replace it)."""
    import ast

    names: set[str] = set()
    for statement in ast.parse(source).body:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).partition(".")[0] for a in statement.names)
        elif isinstance(statement, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(statement.name)
        elif isinstance(statement, (ast.Assign, ast.AnnAssign)):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            names.update(
                node.id for t in targets for node in ast.walk(t) if isinstance(node, ast.Name)
            )
    return names


def add_routes(
    source: str, routes: Sequence[Route], first_party: frozenset[str] = frozenset()
) -> str:
    """``source`` (routes.py) with ``routes`` appended to ``ROUTES`` and their handlers
    imported, among the imports of ``first_party`` modules (the project's own top-level
    names) if it has some. Raises NotFound when there is no module-level ``ROUTES = [...]``
    list."""
    module = cst.parse_module(source)
    body = list(module.body)
    index = _routes_statement(body)
    statement = body[index]
    assign = statement.body[0]  # type: ignore[attr-defined]
    routes_list = assign.value
    url = _url_function(body)
    if url is None:
        at = _first_import_index(body)
        tornado_import = _parse_statement("import tornado.web\n")
        if at < len(body):  # it takes the blank lines (or comments) above the one it precedes
            tornado_import = tornado_import.with_changes(leading_lines=body[at].leading_lines)
            body[at] = body[at].with_changes(leading_lines=())
        body.insert(at, tornado_import)
        index += 1
        url = "tornado.web.url"
    new_list = _appended(routes_list, [_route_text(url, route) for route in routes])
    body[index] = statement.with_deep_changes(assign, value=new_list)

    by_module: dict[str, list[str]] = {}
    for route in routes:
        names = by_module.setdefault(route.module, [])
        if route.handler not in names:
            names.append(route.handler)
    for module_name, names in sorted(by_module.items()):
        body = _with_import(body, module_name, sorted(names), first_party)
    return module.with_changes(body=body).code


def _routes_statement(body: list[cst.CSTNode]) -> int:
    for index, statement in enumerate(body):
        if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
            continue
        small = statement.body[0]
        if isinstance(small, cst.AnnAssign):
            target, value = small.target, small.value
        elif isinstance(small, cst.Assign) and len(small.targets) == 1:
            target, value = small.targets[0].target, small.value
        else:
            continue
        if isinstance(target, cst.Name) and target.value == "ROUTES":
            if not isinstance(value, cst.List):
                raise NotFound("ROUTES is assigned something other than a list [...]")
            return index
    raise NotFound("no module-level `ROUTES = [...]` list")


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return ""


def _imports(body: list[cst.CSTNode]) -> list[tuple[int, cst.Import | cst.ImportFrom]]:
    """The module's top-level import statements, with their index in ``body``."""
    found = []
    for index, statement in enumerate(body):
        if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1:
            small = statement.body[0]
            if isinstance(small, (cst.Import, cst.ImportFrom)):
                found.append((index, small))
    return found


def _url_function(body: list[cst.CSTNode]) -> str | None:
    """How this routes.py spells tornado.web.url: ``tornado.web.url``, ``url`` or
    ``web.url``, after its imports; None when it imports none of them."""
    for _, node in _imports(body):
        if isinstance(node, cst.Import):
            for alias in node.names:
                if _dotted(alias.name) == "tornado.web" and alias.asname is None:
                    return "tornado.web.url"
        elif _dotted(node.module or cst.Name("")) == "tornado.web" and not isinstance(
            node.names, cst.ImportStar
        ):
            for alias in node.names:
                if alias.name.value == "url" and alias.asname is None:
                    return "url"
        elif _dotted(node.module or cst.Name("")) == "tornado" and not isinstance(
            node.names, cst.ImportStar
        ):
            for alias in node.names:
                if alias.name.value == "web" and alias.asname is None:
                    return "web.url"
    return None


def _is_future(node: cst.Import | cst.ImportFrom) -> bool:
    return isinstance(node, cst.ImportFrom) and _dotted(node.module or cst.Name("")) == "__future__"


def _first_import_index(body: list[cst.CSTNode]) -> int:
    """Where a new first import goes: before the others, after ``from __future__``."""
    imports = _imports(body)
    futures = [index for index, node in imports if _is_future(node)]
    if futures:
        return futures[-1] + 1
    if imports:
        return imports[0][0]
    # After the module's docstring, if it has one.
    if body and isinstance(body[0], cst.SimpleStatementLine):
        first = body[0].body[0]
        if isinstance(first, cst.Expr) and isinstance(first.value, cst.SimpleString):
            return 1
    return 0


def _parse_statement(text: str) -> cst.SimpleStatementLine:
    statement = cst.parse_statement(text)
    assert isinstance(statement, cst.SimpleStatementLine)
    return statement


def _import_text(module_name: str, names: list[str]) -> str:
    line = f"from {module_name} import {', '.join(names)}\n"
    if len(line) - 1 <= LINE_LENGTH:
        return line
    inner = "".join(f"{INDENT}{name},\n" for name in names)
    return f"from {module_name} import (\n{inner})\n"


def _sort_key(module_name: str) -> tuple[str, str]:
    # ruff's isort: modules compared case-insensitively, then as written.
    return (module_name.lower(), module_name)


def _with_import(
    body: list[cst.CSTNode], module_name: str, names: list[str], first_party: frozenset[str]
) -> list[cst.CSTNode]:
    """``body`` importing ``names`` from ``module_name``: added to an existing import from
    that module, else placed among the ``from handlers...`` imports in sorted order, else
    after the last import as a block of its own."""
    body = list(body)
    imports = _imports(body)
    for index, node in imports:
        if (
            isinstance(node, cst.ImportFrom)
            and node.relative == ()
            and _dotted(node.module or cst.Name("")) == module_name
            and not isinstance(node.names, cst.ImportStar)
        ):
            present = [alias.name.value for alias in node.names]
            merged = sorted(set(present) | set(names))
            replacement = _parse_statement(_import_text(module_name, merged))
            body[index] = replacement.with_changes(leading_lines=body[index].leading_lines)
            return body
    ours = first_party | {module_name.partition(".")[0]}
    siblings = [
        (index, node)
        for index, node in imports
        if isinstance(node, cst.ImportFrom)
        and node.relative == ()
        and _dotted(node.module or cst.Name("")).partition(".")[0] in ours
    ]
    statement = _parse_statement(_import_text(module_name, names))
    if siblings:
        for index, node in siblings:
            if _sort_key(_dotted(node.module)) > _sort_key(module_name):  # type: ignore[arg-type]
                # Take the place (and the blank lines or comments above) of the one after.
                body.insert(index, statement.with_changes(leading_lines=body[index].leading_lines))
                body[index + 1] = body[index + 1].with_changes(leading_lines=())
                return body
        index = siblings[-1][0] + 1
        body.insert(index, statement)
        return body
    position = imports[-1][0] + 1 if imports else _first_import_index(body)
    body.insert(position, statement.with_changes(leading_lines=[cst.EmptyLine()]))
    after = position + 1
    if after < len(body) and not body[after].leading_lines:  # a blank line after the imports
        body[after] = body[after].with_changes(leading_lines=[cst.EmptyLine()])
    return body


def _route_text(url: str, route: Route) -> str:
    """One element of ROUTES as ruff format writes it at one indent."""
    args = [f'r"{route.pattern}"', route.handler, f'name="{route.name}"']
    flat = f"{url}({', '.join(args)})"
    if len(INDENT) + len(flat) + 1 <= LINE_LENGTH:  # the 1: its trailing comma
        return flat
    hugged = f"{INDENT * 2}{', '.join(args)}"
    if len(hugged) <= LINE_LENGTH:
        return f"{url}(\n{hugged}\n{INDENT})"
    inner = "".join(f"{INDENT * 2}{arg},\n" for arg in args)
    return f"{url}(\n{inner}{INDENT})"


def _newline(indent: str) -> cst.ParenthesizedWhitespace:
    return cst.ParenthesizedWhitespace(
        first_line=cst.TrailingWhitespace(),
        empty_lines=[],
        indent=True,
        last_line=cst.SimpleWhitespace(indent),
    )


def _appended(routes_list: cst.List, texts: list[str]) -> cst.List:
    """``routes_list`` with one element per text appended, one per line, exploded."""
    old = list(routes_list.elements)
    # What follows the last element up to the closing bracket (its comment, comment lines)
    # stays where it is, above the new lines.
    closing = routes_list.rbracket.whitespace_before
    if not isinstance(closing, cst.ParenthesizedWhitespace):
        closing = None
    elements: list[cst.Element] = []
    for number, element in enumerate(old):
        comma = element.comma
        after = comma.whitespace_after if isinstance(comma, cst.Comma) else None
        if isinstance(after, cst.ParenthesizedWhitespace):
            # Its line ends here; the next element (an old or a new one) starts indented.
            after = after.with_changes(last_line=cst.SimpleWhitespace(INDENT))
        else:
            after = _newline(INDENT)
        if number == len(old) - 1 and closing is not None:
            after = closing.with_changes(last_line=cst.SimpleWhitespace(INDENT))
        before = comma.whitespace_before if isinstance(comma, cst.Comma) else None
        elements.append(
            element.with_changes(comma=cst.Comma(before or cst.SimpleWhitespace(""), after))
        )
    for number, text in enumerate(texts):
        last = number == len(texts) - 1
        value = cst.parse_expression(text)
        comma = cst.Comma(whitespace_after=_newline("" if last else INDENT))
        elements.append(cst.Element(value=value, comma=comma))
    lbracket = routes_list.lbracket
    opening = lbracket.whitespace_after
    if isinstance(opening, cst.ParenthesizedWhitespace):
        opening = opening.with_changes(last_line=cst.SimpleWhitespace(INDENT))
    else:
        opening = _newline(INDENT)
    if not old and closing is not None:
        opening = opening.with_changes(empty_lines=[*opening.empty_lines, *closing.empty_lines])
    # The closing bracket on a line of its own, as the new last comma's newline leaves it.
    return routes_list.with_changes(
        elements=elements,
        lbracket=lbracket.with_changes(whitespace_after=opening),
        rbracket=routes_list.rbracket.with_changes(whitespace_before=cst.SimpleWhitespace("")),
    )
