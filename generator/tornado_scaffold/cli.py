"""The ``tornado-scaffold`` command line.

Start-up stays fast: Copier (about half a second to import) is imported only by the
commands that render, never for ``--help`` or ``--version``.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tornado_scaffold import __version__
from tornado_scaffold.errors import ScaffoldError

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
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

DataOption = Annotated[
    list[str] | None,
    typer.Option(
        "--data", "-d", metavar="KEY=VALUE", help="Set an answer (repeatable); see `questions`."
    ),
]


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


@app.command()
def new(
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
) -> None:
    """Create a new Tornado project in DEST.

    Interactive when stdin is a terminal; with --defaults or --answers-file it asks
    nothing, and --data KEY=VALUE overrides single answers.

    Examples:

      tornado-scaffold new chat --defaults --data websocket=true

      tornado-scaffold new shop --data project_name="Shop" --data port=8000
    """
    from tornado_scaffold import project, questions

    asked = questions.installed()
    answers: dict[str, Any] = {}
    if answers_file is not None:
        answers.update(questions.read_answers_file(answers_file))
    answers.update(questions.parse_data(data or []))
    answers = questions.check(answers, asked)
    project.check_destination(dest)

    user_defaults = {"project_name": dest.resolve().name}
    if answers_file is not None:
        questions.require(answers, asked)
        user_defaults = {}
    elif not defaults and not sys.stdin.isatty():
        raise ScaffoldError(
            "stdin is not a terminal, so questions cannot be asked: "
            "pass --defaults or --answers-file FILE (with --data KEY=VALUE for single answers)"
        )
    notes = project.render(
        dest, answers, defaults=defaults or answers_file is not None, user_defaults=user_defaults
    )
    _summary(dest, notes)


def _summary(dest: Path, notes: list[str]) -> None:
    shown = shlex.quote(str(dest))
    typer.echo(f"Created {dest.resolve()} (tornado-scaffold {__version__})")
    for note in notes:
        typer.echo(f"  note: {note}")
    typer.echo("")
    typer.echo("Next steps:")
    typer.echo(f"  cd {shown}")
    typer.echo(
        "  python -m venv .venv && . .venv/bin/activate && pip install -r requirements-dev.txt"
    )
    typer.echo("  python app.py             # serves on the port you chose; --help lists options")
    typer.echo("  python -W error -m pytest # runs the project's tests")


@app.command("questions")
def list_questions(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """List the questions (answer keys) with their types, defaults and choices."""
    from tornado_scaffold import questions

    asked = questions.installed()
    if as_json:
        typer.echo(json.dumps([q.to_json() for q in asked.values()], indent=2))
        return
    for q in asked.values():
        if q.required:
            default = "(required)"
        elif q.default_is_template:
            default = f"default: computed from other answers ({q.default})"
        else:
            default = f"default: {json.dumps(q.default)}"
        typer.echo(f"{q.key}  [{q.type_label}]  {default}")
        typer.echo(f"    {q.help}")
        if q.choices:
            typer.echo(f"    choices: {', '.join(q.choices)}")
        if q.when:
            typer.echo(f"    asked only when: {q.when}")


ProjectArgument = Annotated[
    Path,
    typer.Argument(
        metavar="PATH", help="The generated project (a git repository).", show_default="."
    ),
]


@app.command()
def update(
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
    from tornado_scaffold import questions
    from tornado_scaffold import update as updating

    code = updating.update(path, questions.parse_data(data or []), pretend=pretend)
    raise typer.Exit(code)


@app.command("check")
def check_project(path: ProjectArgument = Path(".")) -> None:
    """Exit 0 if the project is at this tornado-scaffold's template version, 1 if behind.

    For CI. Exit status 2 when PATH was not generated by tornado-scaffold.
    """
    from tornado_scaffold import update as updating

    raise typer.Exit(updating.check(path))


def main() -> None:
    try:
        app()
    except ScaffoldError as error:
        typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
        sys.exit(error.exit_code)
