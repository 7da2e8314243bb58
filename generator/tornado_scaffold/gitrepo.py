"""The few git operations the CLI needs on a user's project."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

# Used only when the user has no git identity configured, so the first commit still works.
_FALLBACK_IDENTITY = [
    "-c",
    "user.name=tornado-scaffold",
    "-c",
    "user.email=tornado-scaffold@localhost",
]


def available() -> bool:
    return shutil.which("git") is not None


def run(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=path, capture_output=True, text=True)


def inside_work_tree(path: Path) -> bool:
    return run(path, "rev-parse", "--is-inside-work-tree").stdout.strip() == "true"


def init_with_commit(path: Path, message: str) -> None:
    """Make ``path`` a repository whose first commit holds every file in it."""
    run(path, "init", "--quiet").check_returncode()
    run(path, "add", "--all").check_returncode()
    identity = [] if run(path, "config", "user.email").stdout.strip() else _FALLBACK_IDENTITY
    done = run(path, *identity, "-c", "commit.gpgsign=false", "commit", "--quiet", "-m", message)
    done.check_returncode()
