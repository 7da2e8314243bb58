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
import re
import secrets
import shlex
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tornado_scaffold import answers, copier_adapter, gitrepo, interrupts, source
from tornado_scaffold.errors import ScaffoldError
from tornado_scaffold.questions import computed as computed_values
from tornado_scaffold.questions import parse as parse_questions

NAME_KEY = "project_name"  # with --defaults, the destination folder's name
GIT_KEY = "git_init"  # answered in copier.yml, carried out here: Copier runs no tasks


# The project's virtual environment, made with python3 (stock Debian and Ubuntu have no
# `python`); the later steps run its programs by path, whether it is activated or not.
VENV_PIP = ".venv/bin/pip"
VENV_PYTHON = ".venv/bin/python"


_SECRET = "import secrets; print(secrets.token_urlsafe(32))"


@dataclass(frozen=True)
class Step:
    command: str  # one shell command line
    why: str = ""  # a short comment after it


@dataclass(frozen=True)
class Created:
    path: Path
    version: str
    answers: dict[str, Any]  # as recorded in .copier-answers.yml
    notes: list[str]
    steps: list[Step] = field(default_factory=list)  # what this project needs, in order
    advice: list[str] = field(default_factory=list)  # sentences after the steps
    files: list[str] = field(default_factory=list)  # written (relative, .git/ left out)
    pretend: bool = False  # rendered to be listed, then thrown away: nothing was written


def next_steps(
    dest: Path, answers: dict[str, Any], providers: dict[str, Any]
) -> tuple[list[Step], list[str]]:
    """What to run to install, test and start this project, naming what its modules need:
    each sign-in provider's variables (``providers`` is copier.yml's ``sign_in_providers``),
    the URL on the chosen port, the echo server, Redis for the chat in several processes."""
    port = answers.get("port", 8888)
    url = f"http://127.0.0.1:{port}"
    steps = [
        Step(f"cd {shlex.quote(str(dest))}"),
        Step(f"python3 -m venv .venv && {VENV_PIP} install -r requirements-dev.txt"),
        Step(f"{VENV_PYTHON} -W error -m pytest", "the project's tests"),
        Step(
            f"export COOKIE_SECRET=\"$(python3 -c '{_SECRET}')\"",
            "signs the cookies: keep it secret, and the same across restarts",
        ),
    ]
    for name in answers.get("auth_providers") or []:
        row = providers.get(name, {})
        # Setting <s> of provider <p> is the variable <P>_<S> (copier.yml, sign_in_providers).
        variables = [f"{name}_{setting}".upper() for setting in row.get("required") or []]
        if variables:
            steps.append(
                Step(
                    "export " + " ".join(f"{variable}=..." for variable in variables),
                    f"{row.get('label', name)} sign-in: register {url}/auth/{name}/login in "
                    + re.sub(r"\s*\(see [^)]*\)", "", row.get("register", "its console"))
                    + " (README.md: Sign-in)",
                )
            )
    pages = f"then open {url}/" + (f" (the chat: {url}/chat)" if answers.get("websocket") else "")
    steps.append(Step(f"{VENV_PYTHON} app.py", f"serves the app: {pages}"))
    if answers.get("tcp_echo"):
        steps.append(
            Step(
                f"nc 127.0.0.1 {answers.get('tcp_port', 8889)}",
                "in another terminal: the TCP echo server",
            )
        )
    advice = []
    if answers.get("websocket"):
        advice.append(
            "The chat in several processes (--processes) or on several machines needs Redis: "
            "--redis_url=redis://127.0.0.1:6379/0 or REDIS_URL (see README.md)."
        )
    return steps, advice


def new(
    dest: Path,
    *,
    answers_file: Path | None = None,
    data: Sequence[str] = (),
    defaults: bool = False,
    can_ask: bool = False,
    pretend: bool = False,
    vcs_ref: str | None = None,
    install: source.Installation | None = None,
) -> Created:
    """Create a project in ``dest`` (missing or empty).

    Asks the questions Copier-style when ``can_ask`` (stdin is a terminal) unless
    ``defaults`` or an ``answers_file`` is given; ``data`` holds ``KEY=VALUE`` answers.
    ``pretend`` renders it to list its files and writes nothing; ``vcs_ref`` chooses
    an earlier template version from this installation's history.
    """
    install = install or source.installed()
    version = install.version if vcs_ref is None else _known_version(install, vcs_ref)
    src = None
    if version == install.version:
        questions, computed = install.questions(), install.computed()
    else:  # that version's questions: a key may be missing, a rule may differ
        src = source.ensure(install)
        text = source.copier_yml_of(src, version)
        questions, computed = parse_questions(text), computed_values(text)
    given = answers.from_options(questions, data, answers_file)
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
    src = src or source.ensure(install)
    workspace = _pretend_workspace() if pretend else _workspace(dest, existing)
    with workspace as scratch:
        recorded = copier_adapter.copy(
            src,
            scratch,
            version=version,
            data=given,
            ask=ask,
            user_defaults=user_defaults,
            questions=questions,
        )
        files = written(scratch)
        notes = []
        if not pretend:
            notes = _start_repository(scratch, dest, recorded.get(GIT_KEY, True), version)
            interrupts.checkpoint()  # the project appears only when no signal came
            _move_into_place(scratch, dest, existing)
    steps, advice = next_steps(dest, recorded, computed.get("sign_in_providers") or {})
    return Created(dest.resolve(), version, recorded, notes, steps, advice, files, pretend)


def _known_version(install: source.Installation, wanted: str) -> str:
    known = source.versions(install)
    if wanted not in known:
        raise ScaffoldError(
            f"template version {answers.shown(wanted)} is not in this tornado-scaffold's "
            f"history: choose one of {', '.join(known)}"
        )
    return wanted


def written(folder: Path) -> list[str]:
    """The files under ``folder`` (its .git folder left out), relative, sorted."""
    return sorted(
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if not path.is_dir() and ".git" not in path.relative_to(folder).parts[:1]
    )


@contextlib.contextmanager
def _pretend_workspace() -> Iterator[Path]:
    """A scratch folder in the temporary folder: nothing is made at or near the destination."""
    with interrupts.scratch_folder("tornado-scaffold-pretend-") as scratch:
        yield scratch


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
