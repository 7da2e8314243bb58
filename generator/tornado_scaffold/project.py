"""Creating a project: render the template into a scratch folder, then move it into place.

Rendering next to the destination and renaming it at the end means a failure never
leaves a half-written project behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from tornado_scaffold import __version__, gitrepo, history
from tornado_scaffold.errors import ScaffoldError

_VALIDATION = re.compile(r"Validation error for question '(?P<key>[^']+)': (?P<msg>.*)", re.S)
_REQUIRED = re.compile(r'Question "(?P<key>[^"]+)" is required')


def check_destination(dest: Path) -> None:
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise ScaffoldError(f"{dest} exists and is not a folder: choose another destination")
    if dest.is_dir() and any(dest.iterdir()):
        raise ScaffoldError(
            f"{dest} exists and is not empty: choose a new folder or empty it first"
        )


def copier_error_message(error: Exception, answers: dict[str, Any]) -> str:
    """One line for an error Copier raised while asking or rendering."""
    from copier.errors import InteractiveSessionError

    text = str(error).strip()
    if isinstance(error, InteractiveSessionError):
        return (
            "answers are missing and stdin is not a terminal: "
            "pass --defaults, --answers-file FILE or --data KEY=VALUE"
        )
    if match := _VALIDATION.match(text):
        key, msg = match["key"], " ".join(match["msg"].split())
        got = f" (got {answers[key]!r})" if key in answers else ""
        return f"invalid {key}{got}: {msg}; set it with --data {key}=VALUE"
    if match := _REQUIRED.match(text):
        return f"missing required answer {match['key']}: pass --data {match['key']}=VALUE"
    first = text.splitlines()[0] if text else type(error).__name__
    if getattr(error, "lineno", None):  # Jinja syntax errors know where they are
        name = Path(error.filename or error.name or "?").name  # type: ignore[attr-defined]
        first = f"{name} line {error.lineno}: {first}"  # type: ignore[attr-defined]
    return f"the template could not be rendered: {first}"


def render(
    dest: Path, data: dict[str, Any], *, defaults: bool, user_defaults: dict[str, Any]
) -> list[str]:
    """Render the installed template version into the empty or missing folder ``dest``."""
    import copier
    from copier.errors import CopierError
    from jinja2 import TemplateError

    check_destination(dest)
    src = history.ensure_source()
    created = [p for p in (dest.parent, *dest.parent.parents) if not p.exists()]
    scratch: Path | None = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
        copier.run_copy(
            src,
            scratch,
            data=data,
            user_defaults=user_defaults,
            defaults=defaults,
            vcs_ref=__version__,
            quiet=True,
            overwrite=True,
        )
        notes = _start_repository(scratch, dest)
        _move_into_place(scratch, dest)
        return notes
    except (CopierError, ValueError, TemplateError) as error:
        raise ScaffoldError(copier_error_message(error, data)) from None
    except OSError as error:  # unwritable, full or vanished: nothing is left behind
        raise ScaffoldError(f"cannot write {dest}: {error.strerror or error}") from None
    except KeyboardInterrupt:
        raise ScaffoldError("aborted: nothing was written", exit_code=130) from None
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        if not dest.exists():
            for folder in created:  # parents made for this run, innermost first
                with contextlib.suppress(OSError):
                    folder.rmdir()


def _start_repository(scratch: Path, dest: Path) -> list[str]:
    """Honour the ``git_init`` answer: a first commit, since ``update`` needs one."""
    import yaml

    answers = yaml.safe_load((scratch / ".copier-answers.yml").read_text(encoding="utf-8"))
    if not answers.get("git_init", True):
        return []
    if not gitrepo.available():
        return ["git was not found: the project is not a git repository yet (update needs one)"]
    if gitrepo.inside_work_tree(dest.parent):
        return ["the folder is inside a git repository already: no new repository was created"]
    try:
        gitrepo.init_with_commit(scratch, f"Initial commit: tornado-scaffold {__version__}")
    except ScaffoldError:
        shutil.rmtree(scratch / ".git", ignore_errors=True)
        return ["git could not make the first commit: run git init and commit yourself"]
    return ["git repository created with a first commit"]


def _move_into_place(scratch: Path, dest: Path) -> None:
    """One rename, so the project appears whole or not at all."""
    if dest.exists():
        try:
            dest.rmdir()  # an existing empty folder: replace it
        except OSError:  # e.g. a mount point: fill it instead, entry by entry
            for child in scratch.iterdir():
                os.replace(child, dest / child.name)
            return
    scratch.rename(dest)
