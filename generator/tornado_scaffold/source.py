"""The installed template and the template source Copier reads: the run-time cache.

Copier renders a project from ``_src_path`` at ``_commit`` (both recorded in the
project's ``.copier-answers.yml``), and updates it by re-rendering that old version. So
the source is a git repository holding every template version: the releases from
``history.bundle`` and the installed template tagged with the installed version.

The recorded path is written ``~/...``: Copier expands it when it reads it, so the
same path works on every machine and for every user. Several installed versions share
the cache (two virtual environments, a tool install, a project's own venv), so it only
ever gains tags: no version removes another's.

Two paths are kept: ``SOURCE``, recorded by projects made from 0.2 on, and the path
0.1 recorded, which 0.1 itself rebuilds with its own history alone whenever its stamp
file (left untouched here) does not match. Every command prepares both, so plain
``copier update`` works after any tornado-scaffold command.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tornado_scaffold import __version__, gitrepo, history
from tornado_scaffold.errors import ScaffoldError
from tornado_scaffold.questions import Question, computed, load

SOURCE = "~/.cache/tornado-scaffold/history"
LEGACY_SOURCE = "~/.cache/tornado-scaffold/template"  # recorded by 0.1 projects
SOURCES = (SOURCE, LEGACY_SOURCE)
PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Installation:
    """One installed tornado-scaffold: its version, template and release history."""

    version: str
    root: Path  # holds copier.yml and template/
    bundle: Path

    def questions(self) -> dict[str, Question]:
        return load(self.root / "copier.yml")

    def computed(self) -> dict[str, Any]:
        return computed(self.root / "copier.yml")


def installed() -> Installation:
    """This tornado-scaffold: a wheel carries the template inside the package, a source
    checkout at the repository root (generator/tornado_scaffold is two levels down)."""
    for root in (PACKAGE_DIR / "_template", PACKAGE_DIR.parents[1]):
        if (root / "copier.yml").is_file():
            return Installation(__version__, root, PACKAGE_DIR / "history.bundle")
    raise ScaffoldError(
        "the template is missing from this installation: reinstall tornado-scaffold"
    )


def local_path(source: str) -> Path:
    return Path(os.path.expanduser(source))


def _fingerprint(install: Installation) -> str:
    digest = hashlib.sha256(install.version.encode())
    if install.bundle.is_file():
        digest.update(install.bundle.read_bytes())
    for path in history.template_files(install.root):
        digest.update(path.relative_to(install.root).as_posix().encode())
        digest.update(b"\0" + path.read_bytes())
    return digest.hexdigest()


def _stamp(repo: Path, version: str) -> Path:
    """Where a repository notes which installation of ``version`` it holds."""
    return repo / ".git" / "tornado-scaffold" / version


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Serialise cache changes between processes (several CLIs or test workers)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure(install: Installation | None = None) -> str:
    """Make every cached source hold ``install``'s history; return the path to record."""
    install = install or installed()
    stamp = _fingerprint(install)
    for source in SOURCES:
        repo = local_path(source)
        mark = _stamp(repo, install.version)
        try:
            if mark.is_file() and mark.read_text() == stamp:
                continue
            with _locked(repo.parent):
                if mark.is_file() and mark.read_text() == stamp:
                    continue
                if repo.exists() and not (repo / ".git").is_dir():
                    shutil.rmtree(repo)  # a broken cache: rebuilt from the bundles
                repo.mkdir(parents=True, exist_ok=True)
                history.git("init", "--quiet", cwd=repo)  # harmless on an existing one
                history.add_version(repo, install.root, install.version, install.bundle)
                mark.parent.mkdir(exist_ok=True)
                mark.write_text(stamp)
        except OSError as error:
            raise ScaffoldError(
                f"cannot prepare the template cache at {repo}: {error.strerror or error}"
            ) from None
    return SOURCE


def has_version(source: str, version: str) -> bool:
    """Whether the cached ``source`` holds template ``version`` (Copier needs it)."""
    repo = local_path(source)
    if not (repo / ".git").is_dir():
        return False
    found = gitrepo.git(
        "rev-parse", "--verify", "--quiet", f"refs/tags/{version}", cwd=repo, check=False
    )
    return found.returncode == 0
