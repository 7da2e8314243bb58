"""The ``tornado-scaffold`` command line: the only module that prints.

Each command parses its options, calls its module in ``commands/`` and prints the
result it returns; a refusal or an interrupt becomes one ``error:`` line on stderr and
an exit code (2 refused, 1 conflicts or behind, 128 + the signal number when
interrupted: 130 for Ctrl-C). Start-up stays fast: Copier (about half a second to
import) is imported only by the commands that render, never for ``--help``,
``--version`` or shell completion.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
import typer.core

from tornado_scaffold import __version__, interrupts
from tornado_scaffold.errors import ScaffoldError


class _Command(typer.core.TyperCommand):
    """Usage lines as every other tool writes them: `new [OPTIONS] DEST`, not Typer's
    `{DEST}` for a required argument."""

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        return [
            piece[1:-1] if piece.startswith("{") and piece.endswith("}") else piece
            for piece in super().collect_usage_pieces(ctx)
        ]


app = typer.Typer(
    name="tornado-scaffold",
    help=(
        "Generate ready-to-run Tornado projects from a Copier template, "
        "and keep them up to date.\n\n"
        "Examples:\n\n"
        "\b\n"  # keep the lines below as they are (no re-wrapping)
        "  tornado-scaffold new my-app              # asks the questions\n"
        "  tornado-scaffold new my-app --defaults --data websocket=true\n"
        "  tornado-scaffold new my-app --answers-file answers.yml\n"
        "  tornado-scaffold questions --json        # every answer key\n"
        "  tornado-scaffold update --pretend        # preview an update\n"
        "  tornado-scaffold check                   # exit 1 when behind"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# Where `new` tells users to make the project's virtual environment (python3: stock Debian
# and Ubuntu have no `python`); later steps run its programs by path, activated or not.
VENV_PIP = ".venv/bin/pip"
VENV_PYTHON = ".venv/bin/python"
VENV_ALEMBIC = ".venv/bin/alembic"

DataOption = Annotated[
    list[str] | None,
    typer.Option(
        "--data",
        "-d",
        metavar="KEY=VALUE",
        help="Set an answer (repeatable); lists as [a, b] or a,b; see `questions`.",
    ),
]


@contextlib.contextmanager
def _reported(interrupted: str) -> Iterator[None]:
    """A refusal or an interrupt: one line on stderr and its exit code, no traceback."""
    try:
        yield
    except KeyboardInterrupt as interrupt:  # Ctrl-C, or SIGTERM/SIGHUP through main()
        # A Ctrl-C read as a key at a prompt comes here without the signal handler, which
        # would have ignored later signals: once the prompt gives the terminal back, an
        # impatient second Ctrl-C is a SIGINT that would cut this line short.
        interrupts.ignore()
        _fail(f"interrupted: {interrupted}", getattr(interrupt, "exit_code", 130))
    except Exception as error:
        # What the signal broke: a closed terminal, or an import it cut short (Python 3.11
        # wraps an exception raised in a class's ``__set_name__`` in a RuntimeError).
        if interrupts.received is not None:
            _fail(f"interrupted: {interrupted}", 128 + interrupts.received)
        if isinstance(error, ScaffoldError):
            _fail(str(error), error.exit_code)
        raise


_said_interrupted = False


def _fail(message: str, code: int) -> None:
    global _said_interrupted
    _said_interrupted = _said_interrupted or message.startswith("interrupted")
    typer.secho(f"error: {' '.join(message.split())}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tornado-scaffold {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Generate ready-to-run Tornado projects and keep them up to date."""


@app.command("new", cls=_Command)
def new_project(
    dest: Annotated[
        Path,
        typer.Argument(metavar="DEST", help="Folder to create (must be missing or empty)."),
    ],
    defaults: Annotated[
        bool, typer.Option("--defaults", help="Ask nothing: defaults for every answer not given.")
    ] = False,
    answers_file: Annotated[
        Path | None,
        typer.Option(
            "--answers-file", "-a", help="YAML answers (e.g. a .copier-answers.yml); asks nothing."
        ),
    ] = None,
    data: DataOption = None,
    pretend: Annotated[
        bool,
        typer.Option("--pretend", help="Ask and check the answers, list the files; write nothing."),
    ] = False,
    vcs_ref: Annotated[
        str | None,
        typer.Option(
            "--vcs-ref",
            metavar="VERSION",
            help="Template version to use (default: this tool's); a wrong one lists them.",
        ),
    ] = None,
) -> None:
    """Create a new Tornado project in DEST.

    Interactive when stdin is a terminal; with --defaults or --answers-file it asks
    nothing, and --data KEY=VALUE overrides single answers.

    Examples:

      tornado-scaffold new chat --defaults --data websocket=true

      tornado-scaffold new shop --data project_name="Shop" --data port=8000
    """
    with _reported("nothing was written"):
        from tornado_scaffold.commands.new import new

        created = new(
            dest,
            answers_file=answers_file,
            data=data or [],
            defaults=defaults,
            can_ask=sys.stdin.isatty(),
            pretend=pretend,
            vcs_ref=vcs_ref,
        )
    done = "Would create" if created.pretend else "Created"
    typer.echo(f"{done} {created.path} (template {created.version}), {len(created.files)} files:")
    typer.echo("\n".join(f"  {name}" for name in created.files))
    if created.pretend:
        typer.echo("Nothing was written (--pretend).")
        return
    for note in created.notes:
        typer.echo(f"note: {note}")
    typer.echo("")
    typer.echo("Next steps:")
    for step in created.steps:  # a shell script to copy: each comment above its command
        if step.why:
            typer.echo(f"  # {step.why}")
        typer.echo(f"  {step.command}")
    for sentence in created.advice:
        typer.echo(f"\n{sentence}")


@app.command("questions", cls=_Command)
def list_questions(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """List the questions (answer keys) with their types, defaults and choices."""
    with _reported("nothing was changed"):
        from tornado_scaffold.commands.questions import questions

        asked = questions()
    keys = [q.key for q in asked]
    if as_json:
        typer.echo(json.dumps([q.to_json(keys) for q in asked], indent=2))
        return
    for q in asked:
        default = "(required)" if q.required else f"default: {q.default_text(keys)}"
        typer.echo(f"{q.key}  [{q.type_label}]  {default}")
        typer.echo(f"    {q.help}")
        if q.choices:
            typer.echo(f"    choices: {', '.join(q.choices)}")
        if when := q.when_text(keys):
            typer.echo(f"    asked only when {when}")


ProjectArgument = Annotated[
    Path,
    typer.Argument(
        metavar="PATH", help="The generated project (a git repository).", show_default="."
    ),
]


@app.command("update", cls=_Command)
def update_project(
    path: ProjectArgument = Path("."),
    data: DataOption = None,
    pretend: Annotated[
        bool,
        typer.Option(
            "--pretend", help="Show what would change and what would conflict; write nothing."
        ),
    ] = False,
) -> None:
    """Bring a generated project to this tornado-scaffold's template version.

    Works offline for projects made by any earlier release. Your edits are kept; new
    questions take their defaults unless set with --data, and --data changes an answer
    (e.g. --data websocket=true adds the WebSocket module). The project must be a clean
    git repository. Exit status: 0 updated (or nothing to do), 1 conflicts left with
    <<<<<<< markers (--pretend: would be), 2 refused (nothing changed).

    Examples:

      tornado-scaffold update --pretend

      tornado-scaffold update path/to/project --data websocket=true
    """
    with _reported("the project was left unchanged"):
        from tornado_scaffold.commands.update import update

        done = update(path, data or [], pretend=pretend)
    if done.nothing_to_do:
        typer.echo(f"{done.path} is already at template {done.to_version}: nothing to update")
        return
    if done.changes and done.from_version == done.to_version:
        what = f"at template {done.to_version} with " + ", ".join(
            f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in done.changes.items()
        )
    else:
        what = f"from template {done.from_version} to {done.to_version}"
    if done.pretend:
        typer.echo(f"Would update {done.path} {what} (nothing was written):")
        typer.echo(done.status or "  (no changes)")
        if done.stat:
            typer.echo(done.stat)
        if done.requirements_changed:
            typer.echo("\nThe requirements would change: install them again after the update.")
        if done.heads:
            typer.echo(
                f"\nThe database's revisions would have {len(done.heads)} heads "
                f"({', '.join(done.heads)}): merge them with `alembic merge heads` after it."
            )
        elif done.revisions:
            typer.echo("\nThe database's revisions would change: `alembic upgrade head` after it.")
        if done.conflicts:
            typer.echo("\nWould conflict:")
            typer.echo("\n".join(f"  {name}" for name in done.conflicts))
            raise typer.Exit(1)
        return
    typer.echo(f"Updated {done.path} {what}:")
    typer.echo(done.status or "  (no changes)")
    if done.removed:
        typer.echo("\nRemoved by the template (get one back with `git checkout HEAD -- FILE`):")
        typer.echo("\n".join(f"  {name}" for name in done.removed))
    if done.conflicts:
        typer.echo("\nConflicts (left with <<<<<<< markers):")
        typer.echo("\n".join(f"  {name}" for name in done.conflicts))
        _fail(
            f"update left conflicts in {', '.join(done.conflicts)}: resolve the markers, "
            "`git add` the files, run the tests, then commit",
            1,
        )
    typer.echo("\nNext steps:")
    if done.path != Path.cwd().resolve():
        typer.echo(f"  cd {shlex.quote(str(done.path))}")
    typer.echo("  git diff                   # review what the update changed")
    if done.requirements_changed:
        typer.echo(
            f"  {VENV_PIP} install -r requirements-dev.txt  # the requirements changed: "
            "install them first"
        )
    if done.heads:
        typer.echo(
            f'  {VENV_ALEMBIC} merge heads -m "merge heads"  # the revisions have '
            f"{len(done.heads)} heads now ({', '.join(done.heads)}): make them one"
        )
    typer.echo(f"  {VENV_PYTHON} -W error -m pytest  # run the project's tests")
    if done.revisions or done.heads:
        typer.echo(
            f"  {VENV_ALEMBIC} upgrade head  # new database revisions: apply them to the database"
        )
    typer.echo(f'  git add -A . && git commit -m "Update to tornado-scaffold {done.to_version}"')


add_app = typer.Typer(
    help=(
        "Add a page, an API, a socket or a model to a generated project: its handler, "
        "template and tests, and its route in routes.py.\n\n"
        "Examples:\n\n"
        "\b\n"
        "  tornado-scaffold add page about          # GET /about in the site's layout\n"
        "  tornado-scaffold add api notes           # JSON at /api/notes\n"
        "  tornado-scaffold add socket live --route /live/ws\n"
        "  tornado-scaffold add model notes title:str body:text due:date?\n"
        "  tornado-scaffold add model notes title:str --api  # JSON at /api/notes\n"
        "  tornado-scaffold add page about --pretend  # show it, write nothing\n"
        "  tornado-scaffold add --list --json       # what add knows, for scripts"
    ),
    no_args_is_help=False,
    invoke_without_command=True,
)
app.add_typer(add_app, name="add")

ProjectOption = Annotated[
    Path,
    typer.Option(
        "--project", "-p", metavar="PATH", help="The generated project.", show_default="."
    ),
]
RouteOption = Annotated[
    str | None,
    typer.Option("--route", metavar="PATH", help="Serve it at PATH instead (e.g. /about-us)."),
]
PretendOption = Annotated[
    bool, typer.Option("--pretend", help="Print what would be written and changed; write nothing.")
]
NameArgument = Annotated[
    str, typer.Argument(metavar="NAME", help="A lowercase Python identifier, e.g. about_us.")
]


@add_app.callback()
def _add(
    ctx: typer.Context,
    as_list: Annotated[bool, typer.Option("--list", help="List what add can add.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="With --list: JSON for scripts.")] = False,
) -> None:
    if ctx.invoked_subcommand is not None:
        if as_list or as_json:
            _fail("--list and --json go before nothing else: `tornado-scaffold add --list`", 2)
        return
    if not as_list:
        if as_json:
            _fail("--json goes with --list: `tornado-scaffold add --list --json`", 2)
        typer.echo(ctx.get_help())
        raise typer.Exit()
    from tornado_scaffold.commands.add import kinds

    known = kinds()
    if as_json:
        typer.echo(json.dumps(known, indent=2))
        return
    for kind in known:
        typer.echo(f"{kind['usage']}")
        typer.echo(f"    {kind['summary']}")
        typer.echo(f"    route: {kind['route']}; writes {', '.join(kind['files'])}")
        if "api_route" in kind:
            typer.echo(
                f"    with --api: route {kind['api_route']}; writes {', '.join(kind['api_files'])}"
            )
        if kind["needs"]:
            typer.echo(f"    needs: {', '.join(kind['needs'])}")
        for note in kind["notes"]:
            typer.echo(f"    {note}")
        for name, summary in kind.get("types", {}).items():
            typer.echo(f"      {name + ':':<10}{summary}")


def _added(kind: str, name: str, project: Path, route: str | None, pretend: bool, **extra) -> None:
    with _reported("the project was left unchanged"):
        from tornado_scaffold.commands.add import add

        done = add(kind, name, project, route=route, pretend=pretend, **extra)
    head = "Would add" if done.pretend else "Added"
    typer.echo(f"{head} {done.kind} {done.name} at {', '.join(done.routes)} to {done.path}:")
    wrote, changed = ("would write", "would change") if done.pretend else ("wrote", "changed")
    width = len(changed) + 1
    for written in done.written:
        typer.echo(f"  {wrote:<{width}}{written}")
    for edited in done.changed:
        typer.echo(f"  {changed:<{width}}{edited}")
    if done.pretend:
        typer.echo("")
        typer.echo(done.diff.rstrip("\n"))
        typer.echo("\nNothing was written (--pretend).")
        return
    typer.echo("\nNext steps:")
    if done.path != Path.cwd().resolve():
        typer.echo(f"  cd {shlex.quote(str(done.path))}")
    for step in done.steps:
        typer.echo(f"  {step}")


@add_app.command("page", cls=_Command)
def add_page(
    name: NameArgument,
    route: RouteOption = None,
    pretend: PretendOption = False,
    project: ProjectOption = Path("."),
) -> None:
    """A page: handlers/NAME.py, templates/NAME.html, tests/test_NAME.py, GET /NAME."""
    _added("page", name, project, route, pretend)


@add_app.command("api", cls=_Command)
def add_api(
    name: NameArgument,
    route: RouteOption = None,
    pretend: PretendOption = False,
    project: ProjectOption = Path("."),
) -> None:
    """A JSON API: handlers/NAME.py, tests/test_NAME.py; GET, POST /api/NAME, GET /api/NAME/ID."""
    _added("api", name, project, route, pretend)


@add_app.command("socket", cls=_Command)
def add_socket(
    name: NameArgument,
    route: RouteOption = None,
    pretend: PretendOption = False,
    project: ProjectOption = Path("."),
) -> None:
    """A WebSocket: handlers/NAME.py and tests/test_NAME.py, at /ws/NAME."""
    _added("socket", name, project, route, pretend)


@add_app.command("model", cls=_Command)
def add_model(
    name: NameArgument,
    fields: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="FIELD:TYPE...",
            help="The fields, e.g. title:str body:text due:date? (`add --list` has the types).",
            show_default=False,
        ),
    ] = None,
    api: Annotated[
        bool, typer.Option("--api", help="A JSON API at /api/NAME instead of pages.")
    ] = False,
    route: RouteOption = None,
    pretend: PretendOption = False,
    project: ProjectOption = Path("."),
) -> None:
    """A table: db/NAME.py, its Alembic revision, handlers/NAME.py, its pages (or --api),
    tests/test_NAME.py; GET, POST /NAME, GET /NAME/ID. Needs the database module."""
    _added("model", name, project, route, pretend, fields=fields or [], api=api)


@app.command("check", cls=_Command)
def check_project(path: ProjectArgument = Path(".")) -> None:
    """Exit 0 if the project is at this tornado-scaffold's template version, 1 if behind.

    For CI. Exit status 2 when PATH was not generated by tornado-scaffold.
    """
    with _reported("nothing was changed"):
        from tornado_scaffold.commands.check import check

        checked = check(path)
    state = "behind; run `tornado-scaffold update`" if checked.behind else "current"
    typer.echo(
        f"{checked.path}: template {checked.version}, "
        f"installed tornado-scaffold {checked.installed}: {state}"
    )
    if checked.behind:
        raise typer.Exit(1)


def run() -> int:
    """Run the command line; return the exit code (``entry.main`` is the program)."""
    try:
        app(prog_name="tornado-scaffold")
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    if interrupts.received is not None and not _said_interrupted:
        # Outside a command's own reporting (Typer turns that into a silent 130).
        typer.secho("error: interrupted", err=True, fg=typer.colors.RED)
        code = 128 + interrupts.received
    return code


def main() -> None:
    from tornado_scaffold import entry

    entry.main()
