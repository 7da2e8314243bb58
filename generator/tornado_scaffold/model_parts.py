"""What `add model` knows beyond the other kinds: the field types and the FIELD:TYPE
arguments, the project's Alembic revisions (read with ``ast``, to follow the single head),
the tables and model classes it has already, and what the model's parts need to render.
"""

from __future__ import annotations

import ast
import datetime
import keyword
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tornado_scaffold import project_code, routes_file
from tornado_scaffold.errors import ScaffoldError
from tornado_scaffold.project_code import IDENTIFIER as NAME_RULE
from tornado_scaffold.project_code import MAX_IDENTIFIER as MAX_NAME


@dataclass(frozen=True)
class FieldType:
    """A TYPE of ``add model``'s FIELD:TYPE: its column and annotation, and for the tests it
    writes a value of that type (as a form sends it and as JSON), what is stored from it,
    and values it refuses. The samples are Python source."""

    summary: str
    python: str  # inside Mapped[...]
    column: str  # in mapped_column(...); its first name imported from sqlalchemy
    migration: str  # in the revision's sa.Column(...)
    form_sample: str
    json_sample: str
    stored: str  # the item's JSON for either sample
    form_bad: tuple[str, ...]
    json_bad: tuple[str, ...]
    # Another value, that an edit writes over the samples: as a form sends it, as JSON,
    # and the item's JSON for either.
    form_edit: str
    json_edit: str
    stored_edit: str


FIELD_TYPES = {
    "str": FieldType(
        "one line of text, up to 200 characters (String(200))",
        "str",
        "String(MAX_STR)",
        "sa.String(length=200)",
        '"Première <b>"',
        '"Première <b>"',
        '"Première <b>"',
        ('"x" * (MAX_STR + 1)', r'"one\ntwo"'),
        ("7", '"x" * (MAX_STR + 1)', r'"nul\x00"'),
        '"Second"',
        '"Second"',
        '"Second"',
    ),
    "text": FieldType(
        "text over lines, up to 10,000 characters (Text)",
        "str",
        "Text",
        "sa.Text()",
        r'"Line one\r\nLine two"',
        r'"Line one\nLine two"',
        r'"Line one\nLine two"',
        ('"x" * (MAX_TEXT + 1)',),
        ("7", '["a"]', '"x" * (MAX_TEXT + 1)'),
        r'"Other\r\ntext"',
        r'"Other\ntext"',
        r'"Other\ntext"',
    ),
    "int": FieldType(
        "a whole number, 32 bits (Integer)",
        "int",
        "Integer",
        "sa.Integer()",
        '"42"',
        "42",
        "42",
        ('"x"', '"1.5"', '"2147483648"'),
        ('"x"', "1.5", "True", "2**31"),
        '"-7"',
        "-7",
        "-7",
    ),
    "float": FieldType(
        "a floating-point number (Float)",
        "float",
        "Float",
        "sa.Float()",
        '"2.5"',
        "2.5",
        "2.5",
        ('"x"', '"nan"', '"inf"'),
        ('"x"', "True", "[1]"),
        '"-0.25"',
        "-0.25",
        "-0.25",
    ),
    "bool": FieldType(
        "true or false, a checkbox on the form (Boolean)",
        "bool",
        "Boolean",
        "sa.Boolean()",
        '"on"',
        "True",
        "True",
        (),
        ('"yes"', "1"),
        '""',
        "False",
        "False",
    ),
    "date": FieldType(
        "a calendar date, YYYY-MM-DD (Date)",
        "date",
        "Date",
        "sa.Date()",
        '"2026-12-03"',
        '"2026-12-03"',
        '"2026-12-03"',
        ('"2026-13-01"', '"tomorrow"'),
        ('"2026-02-30"', "20261203"),
        '"2027-01-31"',
        '"2027-01-31"',
        '"2027-01-31"',
    ),
    "datetime": FieldType(
        "a moment, ISO 8601, kept with its time zone in UTC (DateTime(timezone=True))",
        "datetime",
        "DateTime(timezone=True)",
        "sa.DateTime(timezone=True)",
        '"2026-12-03T10:30"',
        '"2026-12-03T11:30:00+01:00"',
        '"2026-12-03T10:30:00+00:00"',
        ('"yesterday"', '"2026-12-03T25:00"'),
        ('"yesterday"', "1764757800"),
        '"2027-01-31T23:59:30"',
        '"2027-01-31T23:59:30Z"',
        '"2027-01-31T23:59:30+00:00"',
    ),
}
MAX_FIELDS = 40  # fields of one model: beyond, write it by hand
# Fields a model has already, or that SQLAlchemy's declarative classes keep for themselves.
RESERVED_FIELDS = {"id", "created", "metadata", "registry", "to_json", "to_form"}
# Tables a model may not take: Alembic's own, and SQLite's.
RESERVED_TABLE = re.compile(r"alembic_version\Z|sqlite_")


@dataclass(frozen=True)
class Field:
    """One FIELD:TYPE of ``add model``, with what the parts write for it."""

    name: str
    type: str
    nullable: bool

    @property
    def kind(self) -> FieldType:
        return FIELD_TYPES[self.type]

    @property
    def label(self) -> str:
        return self.name.replace("_", " ").capitalize()

    @property
    def required_in_form(self) -> bool:  # a checkbox left alone is False, never missing
        return not self.nullable and self.type != "bool"

    @property
    def model_line(self) -> str:
        """Its line in the model's class, as ``ruff format`` writes it."""
        annotation = f"Mapped[{self.kind.python}{' | None' if self.nullable else ''}]"
        line = f"    {self.name}: {annotation} = mapped_column({self.kind.column})"
        if len(line) <= routes_file.LINE_LENGTH:
            return line
        return f"    {self.name}: {annotation} = mapped_column(\n        {self.kind.column}\n    )"


def parse_fields(specs: Sequence[str]) -> list[Field]:
    """``add model``'s FIELD:TYPE arguments; a refusal naming the first bad one."""
    types = ", ".join(FIELD_TYPES)
    if not specs:
        raise ScaffoldError(
            f"give the model at least one field, FIELD:TYPE (e.g. title:str); TYPE: {types}"
        )
    if len(specs) > MAX_FIELDS:
        raise ScaffoldError(f"{len(specs)} fields: a model here has at most {MAX_FIELDS}")
    fields: list[Field] = []
    for spec in specs:
        shown = repr(spec[:80])
        name, colon, type_name = spec.partition(":")
        if not colon:
            raise ScaffoldError(f"field {shown} has no type: write FIELD:TYPE (e.g. title:str)")
        nullable = type_name.endswith("?")
        type_name = type_name.removesuffix("?")
        if not NAME_RULE.match(name) or len(name) > MAX_NAME:
            raise ScaffoldError(
                f"field {shown}: {name[:40]!r} is not a lowercase Python identifier of at most "
                f"{MAX_NAME} characters (letters a-z, digits and _, starting with a letter)"
            )
        if keyword.iskeyword(name):
            raise ScaffoldError(f"field {shown}: {name!r} is a Python keyword: choose another")
        if name in RESERVED_FIELDS:
            raise ScaffoldError(
                f"field {shown}: every model has {name!r} already (or SQLAlchemy keeps the "
                "name): choose another"
            )
        if type_name not in FIELD_TYPES:
            raise ScaffoldError(
                f"field {shown}: unknown type {type_name[:20]!r}: use one of {types}, "
                "with ? for a field that may be left empty (e.g. str?)"
            )
        if nullable and type_name == "bool":
            raise ScaffoldError(f"field {shown}: a bool is true or false, never empty: drop the ?")
        if any(field.name == name for field in fields):
            raise ScaffoldError(f"field {name!r} is given twice: give each field once")
        fields.append(Field(name, type_name, nullable))
    return fields


def sorted_import(module: str, names: Sequence[str]) -> str:
    """``from module import names`` as ruff's import sorting writes it: constants, then
    classes, then functions and variables, each sorted; split when too long."""

    def key(name: str) -> tuple[int, str, str]:
        if len(name) > 1 and name.isupper():
            group = 0
        elif name[:1].isupper():
            group = 1
        else:
            group = 2
        return (group, name.lower(), name)

    return routes_file._import_text(module, sorted(set(names), key=key)).rstrip("\n")


@dataclass(frozen=True)
class Revision:
    """An Alembic revision file of the project, read statically."""

    file: str
    revision: str
    down: tuple[str, ...]


def _literal_strings(node: ast.AST | None) -> tuple[str, ...] | None:
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, str)):
        return () if node.value is None else (node.value,)
    if isinstance(node, (ast.Tuple, ast.List)):
        items = [_literal_strings(item) for item in node.elts]
        if all(item is not None and len(item) == 1 for item in items):
            return tuple(item[0] for item in items)  # type: ignore[index]
    return None


def read_revisions(versions: Path) -> list[Revision]:
    """The revisions in ``versions`` (db/migrations/versions), read with ``ast``."""
    where = "db/migrations/versions"
    found = []
    for path in sorted(versions.glob("*.py")):
        relative = f"{where}/{path.name}"
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=relative)
        except (SyntaxError, UnicodeDecodeError, ValueError, OSError) as error:
            raise ScaffoldError(
                f"cannot read {relative} ({type(error).__name__}): fix it first"
            ) from None
        values: dict[str, ast.AST | None] = {}
        for statement in tree.body:
            if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
                values[statement.target.id] = statement.value
            elif isinstance(statement, ast.Assign):
                for target in statement.targets:
                    if isinstance(target, ast.Name):
                        values[target.id] = statement.value
        if "revision" not in values:
            continue  # not a revision (a helper module)
        revision = _literal_strings(values["revision"])
        down = _literal_strings(values.get("down_revision"))
        if revision is None or len(revision) != 1 or down is None:
            raise ScaffoldError(
                f"{relative}: revision and down_revision are not plain strings: "
                "`add model` reads them without running the file; write them as literals"
            )
        found.append(Revision(relative, revision[0], down))
    return found


def head_revisions(revisions: Sequence[Revision]) -> list[str]:
    """The ids of the revisions no other revision follows: Alembic's heads, sorted."""
    pointed = {down for revision in revisions for down in revision.down}
    return sorted({revision.revision for revision in revisions} - pointed)


def next_revision(root: Path, name: str, today: datetime.date) -> tuple[str, str, str]:
    """(revision id, the current head it follows, file name) of the model's revision."""
    versions = root / "db" / "migrations" / "versions"
    if not versions.is_dir():
        raise ScaffoldError(
            "db/migrations/versions is missing: `add model` writes its revision there; "
            "restore it from git"
        )
    revisions = read_revisions(versions)
    known = {revision.revision for revision in revisions}
    if len(known) != len(revisions):
        raise ScaffoldError(
            "db/migrations/versions holds one revision id twice: give each its own, then "
            "check with `alembic heads` (and `alembic merge heads` if there are several)"
        )
    heads = head_revisions(revisions)
    if len(heads) != 1:
        said = f"{len(heads)} heads ({', '.join(heads)})" if heads else "no head revision"
        raise ScaffoldError(
            f"db/migrations/versions has {said}: `add model` follows a single head; "
            "run `.venv/bin/alembic merge heads` (or restore the folder from git) first"
        )
    # Random, as Alembic makes them: never the number a later template release gives a
    # revision of its own (0003...), which would then be in the folder twice.
    revision = secrets.token_hex(6)
    while revision in known:
        revision = secrets.token_hex(6)
    # The folder's file names (alembic.ini's file_template): date, revision, slug.
    file = f"{today:%Y_%m_%d}_{revision}_{name}.py"
    return revision, heads[0], file


def refuse_model_collisions(root: Path, name: str, model: str) -> None:
    """Refuse a table or a model class the project has already (read statically)."""
    if RESERVED_TABLE.match(name):
        raise ScaffoldError(f"table name {name!r} is kept by Alembic or SQLite: choose another")
    for path in project_code._python_files(root):
        relative = path.relative_to(root).as_posix()
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=relative)
        except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
            continue
        for node in ast.walk(tree):
            table = None
            if isinstance(node, ast.ClassDef):
                for statement in node.body:
                    target = None
                    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
                        target, value = statement.targets[0], statement.value
                    elif isinstance(statement, ast.AnnAssign):
                        target, value = statement.target, statement.value
                    if isinstance(target, ast.Name) and target.id == "__tablename__":
                        found = _literal_strings(value)
                        table = found[0] if found else None
                        if node.name == model:
                            raise ScaffoldError(
                                f"model class {model} exists already in {relative}: "
                                "choose another name"
                            )
            elif isinstance(node, ast.Call) and node.args:
                function = node.func
                called = (
                    function.attr
                    if isinstance(function, ast.Attribute)
                    else (function.id if isinstance(function, ast.Name) else "")
                )
                if called in ("Table", "create_table"):
                    found = _literal_strings(node.args[0])
                    table = found[0] if found else None
            if table == name:
                raise ScaffoldError(
                    f"table {name!r} exists already (in {relative}): choose another name"
                )


def refuse_shadowing(texts: dict[str, str], model: str) -> None:
    """Refuse a model class whose name a generated module binds twice (e.g. a model named
    like a class the handler imports)."""
    for target, text in texts.items():
        if not target.endswith(".py"):
            continue
        bound: list[str] = []
        for statement in ast.parse(text).body:
            if isinstance(statement, (ast.Import, ast.ImportFrom)):
                for alias in statement.names:
                    bound.append((alias.asname or alias.name).partition(".")[0])
            elif isinstance(statement, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                bound.append(statement.name)
            elif isinstance(statement, (ast.Assign, ast.AnnAssign)):  # DATE = re.compile...
                targets = (
                    statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                )
                bound += [
                    t.id for target in targets for t in ast.walk(target) if isinstance(t, ast.Name)
                ]
        if bound.count(model) > 1:
            raise ScaffoldError(
                f"model class {model} would clash with another {model} in {target}: "
                "choose another name"
            )


def model_context(
    name: str,
    model: str,
    fields: list[Field],
    revision: str,
    down_revision: str,
    today: datetime.date | None,
) -> dict[str, Any]:
    """What the model's parts need beyond the other kinds' context."""
    used = {field.kind.column.partition("(")[0] for field in fields} | {"DateTime"}
    handler_names = ["FIELDS", "MAX_INT", "MAX_STR", "MAX_TEXT", "MIN_INT", model, "clean", "utc"]
    # The tests import the model and the limits their samples use.
    samples = " ".join(" ".join([*field.kind.form_bad, *field.kind.json_bad]) for field in fields)
    limits = [limit for limit in ("MAX_STR", "MAX_TEXT") if limit in samples]
    return {
        "model": model,
        "fields": fields,
        "revision": revision,
        "down_revision": down_revision,
        "created": (today or datetime.date.today()).isoformat(),
        "sqlalchemy_imports": sorted(used, key=str.lower),
        "model_import": sorted_import(f"db.{name}", handler_names),
        "api_model_import": sorted_import(f"db.{name}", ["FIELDS", model, "clean"]),
        "test_import": sorted_import(f"db.{name}", [*limits, model]),
        "api_test_import": sorted_import(f"db.{name}", [*limits, model]),
    }


def json_text(sample: str) -> str:
    """A sample value (Python source) as JSON, for a shell command."""
    import json

    return json.dumps(ast.literal_eval(sample), ensure_ascii=False)
