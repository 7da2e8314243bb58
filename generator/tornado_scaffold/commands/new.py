"""``new``: render the installed template into a new project folder.

The project is rendered in a scratch folder and moved into place at the end, so a
refusal, a failure or an interrupt never leaves a half-written project. A missing
destination gets the scratch folder beside it and appears in one rename, with the
mode the user's umask gives any new folder; an existing empty one (a mount point, a
folder with its own mode and owner) keeps its identity: the scratch folder is made
inside it, on the same file system, and its entries are moved up.
"""

from __future__ import annotations

import contextlib
import errno
import secrets
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tornado_scaffold import answers, copier_adapter, gitrepo, interrupts, source
from tornado_scaffold.errors import ScaffoldError

NAME_KEY = "project_name"  # with --defaults, the destination folder's name
GIT_KEY = "git_init"  # answered in copier.yml, carried out here: Copier runs no tasks


@dataclass(frozen=True)
class Created:
    path: Path
    version: str
    answers: dict[str, Any]  # as recorded in .copier-answers.yml
    notes: list[str]


def new(
    dest: Path,
    *,
    answers_file: Path | None = None,
    data: Sequence[str] = (),
    defaults: bool = False,
    can_ask: bool = False,
    install: source.Installation | None = None,
) -> Created:
    """Create a project in ``dest`` (missing or empty).

    Asks the questions Copier-style when ``can_ask`` (stdin is a terminal) unless
    ``defaults`` or an ``answers_file`` is given; ``data`` holds ``KEY=VALUE`` answers.
    """
    install = install or source.installed()
    questions = install.questions()
    given: dict[str, Any] = {}
    if answers_file is not None:
        given.update(answers.read_file(answers_file))
    given.update(answers.parse_data(list(data)))
    given = answers.coerce(given, questions)
    existing = check_destination(dest)
    ask = answers_file is None and not defaults
    user_defaults = {}
    if answers_file is not None:
        answers.require(given, questions)
    else:
        if ask and not can_ask:
            raise ScaffoldError(
                "stdin is not a terminal, so questions cannot be asked: "
                "pass --defaults or --answers-file FILE (with --data KEY=VALUE for single answers)"
            )
        if NAME_KEY in questions:
            user_defaults[NAME_KEY] = dest.resolve().name
    src = source.ensure(install)
    with _workspace(dest, existing) as scratch:
        recorded = copier_adapter.copy(
            src,
            scratch,
            version=install.version,
            data=given,
            ask=ask,
            user_defaults=user_defaults,
            questions=questions,
        )
        notes = _start_repository(scratch, dest, recorded.get(GIT_KEY, True), install.version)
        _move_into_place(scratch, dest, existing)
    return Created(path=dest.resolve(), version=install.version, answers=recorded, notes=notes)


def check_destination(dest: Path) -> bool:
    """Refuse a destination that cannot take a project; True when it exists (empty)."""
    try:
        if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
            raise ScaffoldError(f"{dest} exists and is not a folder: choose another destination")
        if dest.is_dir() and any(dest.iterdir()):
            raise ScaffoldError(
                f"{dest} exists and is not empty: choose a new folder or empty it first"
            )
        return dest.is_dir()
    except OSError as error:
        hint = "choose a shorter name" if error.errno == errno.ENAMETOOLONG else "choose another"
        raise ScaffoldError(f"cannot use {dest}: {error.strerror or error}: {hint}") from None


@contextlib.contextmanager
def _workspace(dest: Path, existing: bool) -> Iterator[Path]:
    """A scratch folder for the project, removed (with any parents made for it) at the end."""
    created = [] if existing else [p for p in (dest.parent, *dest.parent.parents) if not p.exists()]
    scratch: Path | None = None
    try:
        if not existing:
            dest.parent.mkdir(parents=True, exist_ok=True)
        with interrupts.deferred():  # made and noted for removal as one step
            scratch = _make_scratch(dest if existing else dest.parent)
        yield scratch
    except OSError as error:  # unwritable, full or vanished: nothing is left behind
        raise ScaffoldError(f"cannot write {dest}: {error.strerror or error}") from None
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        if not dest.exists():
            for folder in created:  # innermost first
                with contextlib.suppress(OSError):
                    folder.rmdir()


def _make_scratch(parent: Path) -> Path:
    while True:
        scratch = parent / f".tornado-scaffold-{secrets.token_hex(4)}"
        with contextlib.suppress(FileExistsError):
            scratch.mkdir(mode=0o777)  # less the umask, like any folder the user makes
            return scratch


def _start_repository(scratch: Path, dest: Path, wanted: bool, version: str) -> list[str]:
    """Honour the ``git_init`` answer: a first commit, since ``update`` needs one."""
    if not wanted:
        return []
    if not gitrepo.available():
        return ["git was not found: the project is not a git repository yet (update needs one)"]
    if gitrepo.inside_work_tree(dest.parent):
        return ["the folder is inside a git repository already: no new repository was created"]
    try:
        gitrepo.init_with_commit(scratch, f"Initial commit: tornado-scaffold {version}")
    except ScaffoldError:
        shutil.rmtree(scratch / ".git", ignore_errors=True)
        return ["git could not make the first commit: run git init and commit yourself"]
    return ["git repository created with a first commit"]


def _move_into_place(scratch: Path, dest: Path, existing: bool) -> None:
    if not existing:
        scratch.rename(dest)  # one rename: the project appears whole or not at all
        return
    moved: list[Path] = []
    try:
        for child in sorted(scratch.iterdir()):
            moved.append(child.rename(dest / child.name))
    except BaseException:  # an interrupt half-way: take back what was moved
        for path in moved:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        raise
