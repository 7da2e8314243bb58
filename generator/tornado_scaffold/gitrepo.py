"""The git commands tornado-scaffold runs: one runner, one way of reporting failures."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tornado_scaffold.errors import ScaffoldError

# Used only when the user has no git identity configured, so the first commit still works.
_FALLBACK_IDENTITY = ["-c", "user.name=tornado-scaffold", "-c", "user.email=scaffold@localhost"]


def available() -> bool:
    return shutil.which("git") is not None


def git(
    *args: str, cwd: Path, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run git in ``cwd``; with ``check``, a failure becomes a one-line ScaffoldError."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    except FileNotFoundError:
        raise ScaffoldError("git is required but was not found: install git and retry") from None
    if check and done.returncode:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise ScaffoldError(f"git {args[0]} failed: {detail[-1] if detail else done.returncode}")
    return done


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
