"""The installed template and the template source Copier reads: the run-time cache.

Copier renders a project from ``_src_path`` at ``_commit`` (both recorded in the
project's ``.copier-answers.yml``), and updates it by re-rendering that old version. So
the source is a git repository holding every template version: the releases from
``history.bundle`` and the installed template tagged with the installed version.

The cache is in the user's cache folder (platformdirs: ``$XDG_CACHE_HOME`` when set,
else ``~/.cache`` on Linux). Projects record its path written ``~/...`` when it is under
the home folder: Copier expands it when it reads it, so the same path works on every
machine and for every user; by default that is ``~/.cache/tornado-scaffold/history``,
as every earlier release recorded. Several installed versions share the cache (two
virtual environments, a tool install, a project's own venv), so it only ever gains
tags: no version removes another's.

Two paths are kept: ``history``, recorded by projects made from 0.2 on, and
``template``, which 0.1 recorded and which 0.1 itself rebuilds with its own history
alone whenever its stamp file (left untouched here) does not match. Every command
prepares both, so plain ``copier update`` works after any tornado-scaffold command;
``check`` and ``update`` also prepare the path a project records when it is elsewhere
(made on a machine with another cache folder): a cache is recognised by what it is,
not by how its path is spelled.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tornado_scaffold import __version__, gitrepo, history
from tornado_scaffold.errors import ScaffoldError
from tornado_scaffold.questions import Question, computed, load

APP = "tornado-scaffold"
# The paths projects recorded before the cache followed platformdirs, and still record
# by default (without XDG_CACHE_HOME, on Linux).
SOURCE = "~/.cache/tornado-scaffold/history"
LEGACY_SOURCE = "~/.cache/tornado-scaffold/template"  # recorded by 0.1 projects
SOURCES = (SOURCE, LEGACY_SOURCE)
_NAMES = ("history", "template")  # the two repositories of a cache folder
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


def cache_folder() -> Path:
    """This user's cache folder for tornado-scaffold (XDG_CACHE_HOME is honoured)."""
    import platformdirs

    return platformdirs.user_cache_path(APP, appauthor=False)


def recorded(path: Path) -> str:
    """How a project records ``path``: ``~/...`` under the home folder, for every user."""
    try:
        return "~/" + path.relative_to(Path.home()).as_posix()
    except ValueError:
        return str(path)


def sources() -> tuple[str, ...]:
    """The cache's repositories as projects record them: the history first."""
    folder = cache_folder()
    return tuple(recorded(folder / name) for name in _NAMES)


def is_cache(source: object) -> bool:
    """Whether a recorded ``_src_path`` is this tool's template cache, however spelled
    (``~/...``, the shell's expansion of it, another cache folder): an existing folder is
    one when this tool prepared it; a missing one (a project made on another machine)
    when it is laid out as a cache is."""
    if not isinstance(source, str) or not source.strip():
        return False
    if source in SOURCES or source in sources():
        return True
    if "://" in source or source.startswith(("gh:", "gl:", "git@")):
        return False
    path = local_path(source)
    if not path.is_absolute():
        return False
    try:
        if path.exists():
            return (path / ".git" / "tornado-scaffold").is_dir()
    except OSError:
        return False
    return path.parent.name == APP and path.name in _NAMES


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


def _locked(folder: Path) -> Any:
    """Serialise cache changes between processes (several CLIs or test workers)."""
    from filelock import FileLock

    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(folder / ".lock")


def ensure(install: Installation | None = None, also: str | None = None) -> str:
    """Make every cached source (and ``also``, the path a project records) hold
    ``install``'s history; return the path new projects record."""
    install = install or installed()
    stamp = _fingerprint(install)
    wanted = list(dict.fromkeys([*sources(), *([also] if also else [])]))
    for source in wanted:
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
                # Harmless on an existing repository.
                gitrepo.git("init", "--quiet", cwd=repo, reproducible=True)
                history.add_version(repo, install.root, install.version, install.bundle)
                mark.parent.mkdir(exist_ok=True)
                mark.write_text(stamp)
        except OSError as error:
            raise ScaffoldError(
                f"cannot prepare the template cache at {repo}: {error.strerror or error}"
            ) from None
    return wanted[0]


def versions(install: Installation) -> list[str]:
    """The template versions ``install`` can make projects from, oldest first: the releases
    in its history and its own."""
    return history.by_version([*history.releases(install.bundle), install.version])


def copier_yml_of(source: str, version: str) -> str:
    """The copier.yml of template ``version`` in the cached ``source``."""
    return gitrepo.git("show", f"refs/tags/{version}:copier.yml", cwd=local_path(source)).stdout


def has_version(source: str, version: str) -> bool:
    """Whether the cached ``source`` holds template ``version`` (Copier needs it)."""
    repo = local_path(source)
    if not (repo / ".git").is_dir():
        return False
    found = gitrepo.git(
        "rev-parse", "--verify", "--quiet", f"refs/tags/{version}", cwd=repo, check=False
    )
    return found.returncode == 0
