"""The git commands tornado-scaffold runs: one runner, one way of reporting failures.

Besides the runner: making a new project's first commit, and reading and restoring the
work tree of a project being updated. Paths are folders inside a work tree (a project
may lie below the repository's top), and file names come back relative to them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tornado_scaffold.errors import ScaffoldError

# Used only when the user has no git identity configured, so the first commit still works.
_FALLBACK_IDENTITY = ["-c", "user.name=tornado-scaffold", "-c", "user.email=scaffold@localhost"]

# The template history's commits: the same tree on the same parent is always the same commit.
_REPRODUCIBLE_ENV = {
    "GIT_AUTHOR_NAME": "tornado-scaffold",
    "GIT_AUTHOR_EMAIL": "releases@tornado-scaffold.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_COMMITTER_NAME": "tornado-scaffold",
    "GIT_COMMITTER_EMAIL": "releases@tornado-scaffold.invalid",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
}
_UNSIGNED = ("-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false")


def available() -> bool:
    return shutil.which("git") is not None


def git(
    *args: str,
    cwd: Path,
    check: bool = True,
    env: dict[str, str] | None = None,
    reproducible: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run git in ``cwd``; with ``check``, a failure becomes a one-line ScaffoldError.

    ``reproducible``: fixed identity and dates, no system config, no prompts, no signing
    (``env`` is added to the environment then).
    """
    command = args[0]
    if reproducible:
        args = (*_UNSIGNED, *args)
        env = {**os.environ, **_REPRODUCIBLE_ENV, **(env or {})}
    try:
        done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    except FileNotFoundError:
        raise ScaffoldError("git is required but was not found: install git and retry") from None
    if check and done.returncode:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise ScaffoldError(f"git {command} failed: {detail[-1] if detail else done.returncode}")
    return done


def output(
    *args: str, cwd: Path, env: dict[str, str] | None = None, reproducible: bool = False
) -> str:
    """What git prints, stripped; a failure is a ScaffoldError."""
    return git(*args, cwd=cwd, env=env, reproducible=reproducible).stdout.strip()


def inside_work_tree(path: Path) -> bool:
    """Whether ``path`` lies in a git work tree (a ``.git`` folder or file above it)."""
    return any((folder / ".git").exists() for folder in (path, *path.resolve().parents))


def init_with_commit(path: Path, message: str) -> None:
    """Make ``path`` a repository whose first commit holds every file in it."""
    git("init", "--quiet", cwd=path)
    git("add", "--all", cwd=path)
    # The user's global hooks are meant for their own commits, not for a generated tree.
    commit = ["-c", "commit.gpgsign=false", "commit", "--quiet", "--no-verify", "-m", message]
    if git(*commit, cwd=path, check=False).returncode:  # most often: no identity configured
        git(*_FALLBACK_IDENTITY, *commit, cwd=path)


def is_work_tree(path: Path) -> bool:
    """Whether git sees ``path`` as inside a work tree (not in ``.git``, not outside)."""
    return not git("rev-parse", "--is-inside-work-tree", cwd=path, check=False).returncode


def is_clean(path: Path) -> bool:
    """Whether nothing under ``path`` differs from HEAD: no edited, staged or new file."""
    return not git("status", "--porcelain", "--", ".", cwd=path).stdout.strip()


def modified(path: Path, *names: str) -> bool:
    """Whether any of the files ``names`` (under ``path``) is new or differs from HEAD."""
    return bool(
        git("status", "--porcelain", "--untracked-files=all", "--", *names, cwd=path).stdout.strip()
    )


def differs_from_head(path: Path, name: str) -> bool:
    """Whether the tracked file ``name`` differs from HEAD (or git cannot tell)."""
    return bool(git("diff", "--quiet", "HEAD", "--", name, cwd=path, check=False).returncode)


def at_head(path: Path, name: str) -> str:
    """The text of ``name`` (under ``path``) at HEAD; empty when it was not there."""
    return git("show", f"HEAD:./{name}", cwd=path, check=False).stdout


_NAMES = ("--name-only", "--relative")


def _names(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [name for name in done.stdout.split("\0") if name]


def changed(path: Path) -> list[str]:
    """Files under ``path`` that differ from HEAD, plus new ones (relative to ``path``)."""
    tracked = _names(git("diff", "-z", *_NAMES, "HEAD", cwd=path))
    new = _names(git("ls-files", "-z", "--others", "--exclude-standard", cwd=path))
    return sorted(set(tracked) | set(new))


def unmerged(path: Path) -> list[str]:
    """Files under ``path`` that a merge left unmerged."""
    return _names(git("diff", "-z", *_NAMES, "--diff-filter=U", cwd=path))


def deleted(path: Path) -> list[str]:
    """Files under ``path`` that are in HEAD but no longer in the work tree."""
    return _names(git("diff", "-z", *_NAMES, "--diff-filter=D", "HEAD", cwd=path))


def status(path: Path) -> str:
    """``git status --short`` of the files under ``path``, every new file listed."""
    return git("status", "--short", "--untracked-files=all", "--", ".", cwd=path).stdout.rstrip()


def diff_stat(path: Path) -> str:
    """``git diff --stat`` of the files under ``path`` against HEAD."""
    return git("diff", "--stat", "--relative", "HEAD", cwd=path).stdout.rstrip()


def restore_head(path: Path) -> None:
    """Put every file under ``path`` back as HEAD has it, and remove the new ones
    (ignored files are kept); failures are ignored, so as much as can be is restored."""
    git("reset", "--quiet", "--", ".", cwd=path, check=False)
    git("checkout", "--quiet", "--", ".", cwd=path, check=False)
    git("clean", "-fdq", "--", ".", cwd=path, check=False)


def clone_into(path: Path, folder: Path) -> Path:
    """Clone the repository holding ``path`` into ``folder``; return where ``path`` is
    in the clone."""
    top = Path(output("rev-parse", "--show-toplevel", cwd=path))
    prefix = output("rev-parse", "--show-prefix", cwd=path)
    clone = folder / top.name
    git("clone", "--quiet", "--no-hardlinks", str(top), str(clone), cwd=folder)
    return clone / prefix
