"""``update``: bring a generated project to the installed template version.

Copier does the three-way merge: it re-renders the project's recorded template version
from the cached history, diffs it against the project and replays that diff on the new
version. This adds what Copier leaves out: refusals before anything is touched,
conflict detection (Copier reports success even when it leaves conflict markers), a
rollback when Copier fails or is interrupted half-way, and a preview on a throw-away
clone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tornado_scaffold import (
    answers,
    copier_adapter,
    generated,
    gitrepo,
    interrupts,
    model_parts,
    source,
)
from tornado_scaffold.errors import ScaffoldError
from tornado_scaffold.questions import Question

_MARKER = b"<<<<<<< "


@dataclass(frozen=True)
class Updated:
    path: Path
    from_version: str
    to_version: str
    changes: dict[str, Any]  # answers changed with --data
    pretend: bool = False
    status: str = ""  # `git status --short` of the project after the update
    stat: str = ""  # `git diff --stat`
    removed: list[str] = field(default_factory=list)  # files the template deleted
    conflicts: list[str] = field(default_factory=list)  # files left with <<<<<<< markers
    requirements_changed: bool = False  # what the project installs: reinstall before testing
    # The database's Alembic revisions the update added or changed: `alembic upgrade head`.
    revisions: list[str] = field(default_factory=list)
    # Their heads when there are several after the update (a revision of the template's
    # beside one of the user's, such as `add model` writes): `alembic merge heads` first.
    heads: list[str] = field(default_factory=list)

    @property
    def nothing_to_do(self) -> bool:
        return self.from_version == self.to_version and not self.changes


def update(
    path: Path,
    data: Sequence[str] = (),
    *,
    pretend: bool = False,
    install: source.Installation | None = None,
) -> Updated:
    """Update the project at ``path`` (a clean git repository); ``data`` holds
    ``KEY=VALUE`` answers to change. Conflicts are in the result, not an error."""
    install = install or source.installed()
    questions = install.questions()
    path = path.resolve()
    project = generated.read(path, questions)
    generated.refuse_newer(project, install.version)
    changes = answers.from_options(questions, data)
    changes = {k: v for k, v in changes.items() if project.answers.get(k) != v}
    refuse_unsafe_tree(path)
    source.ensure(install, also=project.source)
    result = Updated(path, project.version, install.version, changes, pretend)
    if result.nothing_to_do:
        return result
    if not source.has_version(project.source, project.version):
        # Copier would fail later with a bare "Unknown revision".
        raise ScaffoldError(
            f"template {project.version} of {path} is not in the history of tornado-scaffold "
            f"{install.version}: update with the release that made it, or regenerate the project"
        )
    if pretend:
        return _preview(result, questions)
    _run(path, install.version, changes, questions)
    return _outcome(result, path)


def refuse_unsafe_tree(path: Path) -> None:
    """Copier's merge needs git, and a clean tree is what makes the update reviewable."""
    if not gitrepo.is_work_tree(path):
        raise ScaffoldError(
            f"{path} is not a git repository: run `git init && git add -A && git commit` first"
        )
    if not gitrepo.is_clean(path):
        raise ScaffoldError(
            f"{path} has uncommitted changes: commit or stash them first, "
            "so the update can be reviewed and undone"
        )


def conflicts(path: Path, candidates: list[str]) -> list[str]:
    """Files Copier left conflicted: unmerged, with inline markers, or ``*.rej`` files."""
    found = set(gitrepo.unmerged(path))
    for name in candidates:
        file = path / name
        if name.endswith(".rej"):
            found.add(name)
        elif file.is_file() and not file.is_symlink():
            content = file.read_bytes()
            if content.startswith(_MARKER) or b"\n" + _MARKER in content:
                found.add(name)
    return sorted(found)


def _run(path: Path, version: str, changes: dict[str, Any], questions: dict[str, Question]) -> None:
    try:
        copier_adapter.update(path, version=version, data=changes, questions=questions)
        interrupts.checkpoint()  # the update is kept only when no signal came
    except BaseException as error:  # a failure or an interrupt: leave the project as it was
        gitrepo.restore_head(path)  # the tree was clean before, so HEAD is the user's state
        if isinstance(error, ScaffoldError):
            raise ScaffoldError(f"update failed, the project was left unchanged: {error}") from None
        if isinstance(error, OSError):
            raise ScaffoldError(
                f"update failed, the project was left unchanged: {error.strerror or error}"
            ) from None
        raise


def _preview(result: Updated, questions: dict[str, Question]) -> Updated:
    """Run the update on a clone of the project's repository; the project is never touched."""
    with interrupts.scratch_folder("tornado-scaffold-pretend-") as scratch:
        copy = gitrepo.clone_into(result.path, scratch)
        _run(copy, result.to_version, result.changes, questions)
        return _outcome(result, copy)


def _outcome(result: Updated, tree: Path) -> Updated:
    """``result`` with what the update did to the work tree at ``tree``."""
    changed = gitrepo.changed(tree)
    return dataclasses.replace(
        result,
        status=gitrepo.status(tree),
        stat=gitrepo.diff_stat(tree),
        removed=gitrepo.deleted(tree),
        conflicts=conflicts(tree, changed),
        requirements_changed=requirements_changed(tree),
        revisions=new_revisions(tree, changed),
        heads=several_heads(tree),
    )


VERSIONS = "db/migrations/versions"  # the database module's Alembic revisions


def new_revisions(path: Path, changed: list[str]) -> list[str]:
    """The Alembic revisions among the ``changed`` files that are still there (none when
    the update removed the database module: then there is nothing to upgrade)."""
    if not (path / "alembic.ini").is_file():
        return []
    return [name for name in changed if name.startswith(VERSIONS + "/") and (path / name).exists()]


def several_heads(path: Path) -> list[str]:
    """The heads of the project's Alembic revisions when there are several (else none):
    read without running them, as `add model` reads them."""
    versions = path / VERSIONS
    if not versions.is_dir():
        return []
    try:
        heads = model_parts.head_revisions(model_parts.read_revisions(versions))
    except ScaffoldError:  # a revision written unusually: Alembic itself will say
        return []
    return heads if len(heads) > 1 else []


REQUIREMENTS = ("requirements.txt", "requirements-dev.txt")


def requirements_changed(path: Path) -> bool:
    """Whether what the project at ``path`` installs differs from HEAD: its requirements
    files, or pyproject.toml's dependencies (any change to that file where Python has no
    TOML reader)."""
    if gitrepo.modified(path, *REQUIREMENTS):
        return True
    pyproject = path / "pyproject.toml"
    if not gitrepo.differs_from_head(path, "pyproject.toml"):
        return False
    try:
        import tomllib
    except ImportError:  # Python 3.10
        return True
    before = gitrepo.at_head(path, "pyproject.toml")
    try:
        old, new = (tomllib.loads(text).get("project", {}) for text in (before, _read(pyproject)))
    except tomllib.TOMLDecodeError:
        return True
    keys = ("dependencies", "optional-dependencies")
    return [old.get(k) for k in keys] != [new.get(k) for k in keys]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""
