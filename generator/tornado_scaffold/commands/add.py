"""``add``: grow a generated project one page, API, socket or model at a time.

Each kind renders its files from ``parts/<kind>/`` (Jinja, with ``[[ ]]`` and ``[% %]``
as delimiters: the parts hold Tornado templates, which use ``{{ }}`` and ``{% %}``) and
registers its routes in the project's ``routes.py`` (``routes_file``, through libcst).
Routes go there, never into ``app.py``: the template writes ``routes.py`` once and
``update`` never touches it, and the added files are the project's own, so additions
and template updates never meet in one file.

Everything is checked and rendered in memory first; a refusal writes nothing. The
writes then record what they did, and a failure or an interrupt undoes it: new files
removed, ``routes.py`` put back as it was.
"""

from __future__ import annotations

import ast
import contextlib
import datetime
import difflib
import functools
import keyword
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tornado_scaffold import generated, interrupts, model_parts, project_code, routes_file, source
from tornado_scaffold.errors import ScaffoldError
from tornado_scaffold.routes_file import Route

ADDED_IN = "0.5.0"  # the first template release with routes.py, where `add` registers
PARTS = Path(__file__).resolve().parent.parent / "parts"
NAME_RULE = project_code.IDENTIFIER
MAX_NAME = project_code.MAX_IDENTIFIER
MAX_ROUTE = 64  # characters, for the same reason
# A route is a literal path: letters, digits and - . _ ~ /, no regular expression (a
# page's get() takes no arguments from the URL).
ROUTE_RULE = re.compile(r"/([A-Za-z0-9._~-]+/)*[A-Za-z0-9._~-]*\Z")
DOT_SEGMENT = re.compile(r"(^|/)\.\.?(/|$)")  # browsers resolve /./ and /../ away
# Modules every project has beside the optional ones (app.py, server.py...; the handlers
# the template writes): a name may not take theirs.
CORE_NAMES = {
    "app",
    "server",
    "workers",
    "modules",
    "routes",
    "access_log",
    "connections",
    "handlers",
    "templates",
    "static",
    "tests",
    "data",
    "base",
    "security",
    "health",
    "main_handler",
    "conftest",
}
OPTIONAL_MODULES = ("db", "auth", "chat", "echo", "blog", "migrations")


@dataclass(frozen=True)
class Kind:
    name: str
    summary: str
    route: str  # the default route, with {name}
    parts: tuple[tuple[str, str], ...]  # (part in parts/<kind>/, target with {name})
    item_route: bool = False  # also PATH/ID (an API's items)
    needs_database: bool = False
    api_route: str = ""  # with --api (a model's JSON API instead of its pages)
    api_parts: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()  # more to say in `add --list`

    def targets(self, name: str, api: bool = False, **values: str) -> dict[str, str]:
        parts = self.api_parts if api else self.parts
        return {target.format(name=name, **values): part for part, target in parts}

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.name,
            "summary": self.summary,
            "usage": f"tornado-scaffold add {self.name} NAME"
            + (" FIELD:TYPE... [--api]" if self.name == "model" else ""),
            "route": self.route,
            "files": [_shown_target(target) for _, target in self.parts],
            "changes": [routes_file.FILE],
            "needs": ["database"] if self.needs_database else [],
            **(
                {
                    "api_route": self.api_route,
                    "api_files": [_shown_target(target) for _, target in self.api_parts],
                    "types": {name: kind.summary for name, kind in model_parts.FIELD_TYPES.items()},
                }
                if self.api_parts
                else {}
            ),
            "notes": list(self.notes),
        }


def _shown_target(target: str) -> str:
    return target.replace("{revision_file}", "YYYY_MM_DD_REVISION_{name}.py")


KINDS = {
    kind.name: kind
    for kind in (
        Kind(
            "page",
            "a page in the site's layout: handler, template, route and test",
            "/{name}",
            (
                ("handler.py", "handlers/{name}.py"),
                ("page.html", "templates/{name}.html"),
                ("test.py", "tests/test_{name}.py"),
            ),
        ),
        Kind(
            "api",
            "a JSON API: GET the list and an item, POST to create; route and tests",
            "/api/{name}",
            (("handler.py", "handlers/{name}.py"), ("test.py", "tests/test_{name}.py")),
            item_route=True,
        ),
        Kind(
            "socket",
            "a WebSocket handler with an origin check and a message size limit, and a test",
            "/ws/{name}",
            (("handler.py", "handlers/{name}.py"), ("test.py", "tests/test_{name}.py")),
        ),
        Kind(
            "model",
            "a table, its model and its Alembic revision, with pages (list and add; an item, "
            "to edit or delete) or with --api a JSON API; routes and tests",
            "/{name}",
            (
                ("model.py", "db/{name}.py"),
                ("migration.py", "db/migrations/versions/{revision_file}"),
                ("handler.py", "handlers/{name}.py"),
                ("list.html", "templates/{name}/list.html"),
                ("item.html", "templates/{name}/item.html"),
                ("form.html", "templates/{name}/form.html"),
                ("test.py", "tests/test_{name}.py"),
            ),
            item_route=True,
            needs_database=True,
            api_route="/api/{name}",
            api_parts=(
                ("model.py", "db/{name}.py"),
                ("migration.py", "db/migrations/versions/{revision_file}"),
                ("handler_api.py", "handlers/{name}.py"),
                ("test_api.py", "tests/test_{name}.py"),
            ),
            notes=(
                "FIELD:TYPE, one or more: FIELD a lowercase identifier (not id or created), "
                "TYPE one of the types below; TYPE? (e.g. str?) may be left empty (NULL), "
                "except bool",
                "the revision follows the single head of db/migrations/versions: "
                "run .venv/bin/alembic upgrade head next",
            ),
        ),
    )
}


@dataclass(frozen=True)
class Added:
    kind: str
    name: str
    path: Path
    version: str  # the project's template version
    routes: list[str]  # the paths served, e.g. /about
    written: list[str]  # new files, relative to path
    changed: list[str]  # existing files changed
    diff: str  # of the changed files
    steps: list[str] = field(default_factory=list)  # shell commands to run next
    pretend: bool = False


def kinds() -> list[dict[str, Any]]:
    """What ``add`` knows, for ``add --list``."""
    return [kind.to_json() for kind in KINDS.values()]


def add(
    kind_name: str,
    name: str,
    path: Path = Path("."),
    *,
    route: str | None = None,
    pretend: bool = False,
    install: source.Installation | None = None,
    fields: Sequence[str] = (),
    api: bool = False,
    today: datetime.date | None = None,
) -> Added:
    """Add ``name`` of kind ``kind_name`` to the project at ``path``; with ``pretend``,
    only say what would be written and changed. A model takes its ``fields`` (FIELD:TYPE)
    and, with ``api``, gets a JSON API instead of pages."""
    install = install or source.installed()
    kind = KINDS[kind_name]
    root = path.resolve()
    project = generated.read(root, install.questions())
    generated.refuse_newer(project, install.version)
    if generated.parse_version(project.version) < generated.parse_version(ADDED_IN):
        raise ScaffoldError(
            f"{root} uses template {project.version}, from before `add` ({ADDED_IN}): "
            "run `tornado-scaffold update` first (it brings routes.py, where add registers)"
        )
    if kind.needs_database and not project.answers.get("database"):
        raise ScaffoldError(
            f"`add {kind.name}` needs the database module, which {root} does not have: "
            "add it with `tornado-scaffold update --data database=true` first"
        )
    check_name(name, install.computed().get("taken_names") or ())
    model_fields = model_parts.parse_fields(fields) if kind.name == "model" else []
    api = api and bool(kind.api_parts)
    default_route = kind.api_route if api else kind.route
    path_served = check_route(route if route is not None else default_route.format(name=name))
    handler = class_name(kind, name, api)
    routes = [Route(_pattern(path_served), handler, name, f"handlers.{name}")]
    if kind.item_route:
        routes.append(
            Route(_pattern(path_served) + "/([0-9]+)", handler, f"{name}_item", routes[0].module)
        )
    values: dict[str, str] = {}
    revision = down_revision = ""
    if kind.name == "model":
        revision, down_revision, values["revision_file"] = model_parts.next_revision(
            root, name, today or datetime.date.today()
        )
    targets = kind.targets(name, api, **values)
    code = project_code.read(root)
    refuse_collisions(root, kind, name, routes, code, targets)
    model = camel_case(name)
    if kind.name == "model":
        if keyword.iskeyword(model):  # true, false, none
            raise ScaffoldError(
                f"name {name!r} would name the model class {model}, a Python keyword: "
                "choose another"
            )
        model_parts.refuse_model_collisions(root, name, model)

    context = {
        "name": name,
        "title": name.replace("_", " ").capitalize(),
        "class_name": handler,
        "camel": camel_case(name),
        "route": path_served,
        "route_name": name,
        "project": project.answers,
    }
    if kind.name == "model":
        context |= model_parts.model_context(
            name, model, model_fields, revision, down_revision, today
        )
    written = {target: render(kind.name, part, context) for target, part in targets.items()}
    if kind.name == "model":
        model_parts.refuse_shadowing(written, model)
    routes_path = root / routes_file.FILE
    if routes_path.is_symlink() or (routes_path.exists() and not routes_path.is_file()):
        raise ScaffoldError(
            f"{routes_path} is not a plain file (a link or a folder): `add` changes it in "
            "place; put the file itself there"
        )
    try:
        before = _read(routes_path)
    except FileNotFoundError:
        raise ScaffoldError(
            f"{routes_path} is missing: `add` registers routes there; restore it from git "
            "(`git checkout -- routes.py`)"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ScaffoldError(f"cannot read {routes_path}: {error}: restore it from git") from None
    try:
        after = routes_file.add_routes(before, routes, project_code.top_level_names(root))
    except routes_file.NotFound as error:
        raise ScaffoldError(
            f"{routes_path}: {error}: `add` appends routes to a module-level "
            "`ROUTES = [...]`; restore that list (see the template's routes.py) or register "
            "the handler yourself"
        ) from None
    except routes_file.ParseError as error:
        raise ScaffoldError(
            f"{routes_path} is not valid Python ({type(error).__name__}): fix it first"
        ) from None
    bound = routes_file.bound_names(before) & {route.handler for route in routes}
    if bound:
        raise ScaffoldError(
            f"{routes_path} has a {bound.pop()} already: choose another name, or rename that one"
        )
    try:
        compile(after, routes_file.FILE, "exec")
    except SyntaxError:  # a shape of routes.py this tool does not know how to change
        raise ScaffoldError(
            f"{routes_path} could not be changed safely (it would not compile): register "
            "the handler there yourself"
        ) from None
    diff = "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            f"a/{routes_file.FILE}",
            f"b/{routes_file.FILE}",
        )
    )
    result = Added(
        kind=kind.name,
        name=name,
        path=root,
        version=project.version,
        routes=[path_served],
        written=list(written),
        changed=[routes_file.FILE],
        diff=diff,
        steps=next_steps(kind, name, path_served, project.answers, model_fields, api),
        pretend=pretend,
    )
    if not pretend:
        try:
            write(root, written, {routes_file.FILE: (before, after)})
        except OSError as error:  # after write() has put everything back
            raise ScaffoldError(
                f"cannot write {error.filename or root}: {error.strerror or error}: the project "
                "was left as it was"
            ) from None
    return result


def _read(path: Path) -> str:
    """A text file as it is, line endings included (a CRLF routes.py stays CRLF)."""
    with open(path, encoding="utf-8", newline="") as stream:
        return stream.read()


def camel_case(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_") if part)


def class_name(kind: Kind, name: str, api: bool = False) -> str:
    suffix = {"page": "Handler", "api": "ApiHandler", "socket": "SocketHandler"}
    return camel_case(name) + ("ApiHandler" if api else suffix.get(kind.name, "Handler"))


def check_name(name: str, taken: Sequence[str]) -> None:
    """Refuse a name that cannot be a module, class and route name of the project."""
    if not NAME_RULE.match(name):
        raise ScaffoldError(
            f"name {name!r} is not a lowercase Python identifier: use letters a-z, digits "
            "and _, starting with a letter (e.g. about_us)"
        )
    if len(name) > MAX_NAME:
        raise ScaffoldError(f"name {name!r} is longer than {MAX_NAME} characters: shorten it")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise ScaffoldError(f"name {name!r} is a Python keyword: choose another")
    if name in taken:
        raise ScaffoldError(
            f"name {name!r} is a package the project installs: a module of that name would "
            "shadow it; choose another"
        )
    if name in CORE_NAMES or name in OPTIONAL_MODULES:
        raise ScaffoldError(
            f"name {name!r} is taken by the project's own {name!r} module: choose another"
        )


def check_route(route: str) -> str:
    if not ROUTE_RULE.match(route):
        raise ScaffoldError(
            f"route {route!r} is not a path: start it with / and use letters, digits, "
            "- . _ ~ and / (e.g. --route /about-us)"
        )
    if DOT_SEGMENT.search(route):
        raise ScaffoldError(
            f"route {route!r} has a . or .. segment, which browsers resolve away: drop it"
        )
    if len(route) > MAX_ROUTE:
        raise ScaffoldError(f"route {route[:20]!r}... is longer than {MAX_ROUTE} characters")
    if route != "/" and route.endswith("/"):
        raise ScaffoldError(f"route {route!r} ends with /: drop it (e.g. {route.rstrip('/')})")
    return route


def _pattern(path: str) -> str:
    # A literal path as a regular expression: only the dot means something else there.
    return path.replace(".", r"\.")


def refuse_collisions(
    root: Path,
    kind: Kind,
    name: str,
    routes: list[Route],
    code: project_code.Code,
    targets: dict[str, str],
) -> None:
    for target in targets:
        if (root / target).exists() or (root / target).is_symlink():
            raise ScaffoldError(f"{target} exists already: choose another name")
    if (root / name).exists() or (root / f"{name}.py").exists():
        raise ScaffoldError(
            f"name {name!r} is taken by the project's {name} module: choose another"
        )
    where = code.classes.get(routes[0].handler)
    if where is not None:
        raise ScaffoldError(
            f"class {routes[0].handler} exists already in {where}: choose another name"
        )
    for route in routes:
        where = code.route_names.get(route.name)
        if where is not None:
            raise ScaffoldError(
                f"route name {route.name!r} is taken in {where} (reverse_url names are unique): "
                "choose another name"
            )
    first = routes[0].pattern.replace(r"\.", ".")
    for path in [first] + ([f"{first}/1"] if kind.item_route else []):
        found = code.route_matching(path)
        if found is not None:
            pattern, where = found
            raise ScaffoldError(
                f"route {first} is served already ({pattern!r} in {where}): "
                "choose another name or --route"
            )
    for route in routes:
        found = code.routes_answered_by(route.pattern)
        if found is not None:
            raise ScaffoldError(
                f"route {first} would answer {found[0]} too (in {found[1]}): choose another --route"
            )


@functools.cache
def _environment() -> Any:
    """The parts' Jinja environment, made once: it keeps each part compiled."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(PARTS),
        block_start_string="[%",
        block_end_string="%]",
        variable_start_string="[[",
        variable_end_string="]]",
        comment_start_string="[#",
        comment_end_string="#]",
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # Python and Tornado templates; the values are checked names
    )


def render(kind: str, part: str, context: dict[str, Any]) -> str:
    environment = _environment()
    text = environment.get_template(f"{kind}/{part}.jinja").render(context)
    if part.endswith(".py"):
        ast.parse(text)  # a part that renders broken code is this tool's bug: fail here
    return text


def next_steps(
    kind: Kind,
    name: str,
    route: str,
    answers: dict[str, Any],
    fields: Sequence[model_parts.Field] = (),
    api: bool = False,
) -> list[str]:
    port = answers.get("port", 8888)
    steps = [f".venv/bin/python -W error -m pytest tests/test_{name}.py  # its tests"]
    if kind.name == "model":
        steps.insert(0, ".venv/bin/alembic upgrade head  # creates the table in the database")
        if api:
            body = ", ".join(
                f'"{field.name}": {model_parts.json_text(field.kind.json_sample)}'
                for field in fields
                if not field.nullable
            )
            steps.append(
                f"curl -H 'Content-Type: application/json' -d '{{{body}}}' "
                f"http://localhost:{port}{route}  # with the app running"
            )
        else:
            steps.append(f".venv/bin/python app.py  # then open http://localhost:{port}{route}")
    elif kind.name == "page":
        steps.append(f".venv/bin/python app.py  # then open http://localhost:{port}{route}")
    elif kind.name == "api":
        steps.append(
            f"curl -H 'Content-Type: application/json' -d '{{\"title\": \"First\"}}' "
            f"http://localhost:{port}{route}  # with the app running"
        )
    steps.append(f'git add -A . && git commit -m "Add {kind.name} {name}"')
    return steps


def write(root: Path, new: dict[str, str], changed: dict[str, tuple[str, str]]) -> None:
    """Write ``new`` files (none may exist) and ``changed`` ones (path: (before, after));
    on any failure or interrupt, undo what was done and raise."""
    made_files: list[Path] = []
    made_folders: list[Path] = []
    replaced: dict[Path, str] = {}
    try:
        for relative, text in new.items():
            target = root / relative
            for folder in reversed(target.parents):
                if folder.is_relative_to(root) and not folder.exists():
                    with interrupts.deferred():
                        folder.mkdir()
                        made_folders.append(folder)
            with interrupts.deferred(), open(target, "x", encoding="utf-8", newline="\n") as out:
                made_files.append(target)
                out.write(text)
        for relative, (before, after) in changed.items():
            target = root / relative
            if _read(target) != before:
                raise ScaffoldError(f"{relative} changed while `add` ran: run it again")
            with interrupts.deferred():
                _replace(target, after)
                replaced[target] = before
        interrupts.checkpoint()
    except BaseException:
        with interrupts.deferred():
            for target, before in replaced.items():
                with contextlib.suppress(OSError):
                    _replace(target, before)
            for target in reversed(made_files):
                with contextlib.suppress(OSError):
                    target.unlink()
            for folder in reversed(made_folders):
                with contextlib.suppress(OSError):
                    folder.rmdir()
        raise


def _replace(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` in one step (a new file renamed over it), keeping its mode."""
    mode = target.stat().st_mode & 0o7777
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
