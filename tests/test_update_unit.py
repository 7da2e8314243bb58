"""Unit tests of `update`'s own parts: conflict detection, the rollback, the result."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tornado_scaffold.commands.update import Updated, conflicts, requirements_changed
from tornado_scaffold.gitrepo import changed, restore_head

GIT_ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}


def git(repo: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(["git", *args], cwd=repo, env=GIT_ENV, capture_output=True, text=True)
    assert not check or done.returncode == 0, done.stderr
    return done.stdout


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "--no-gpg-sign", "-m", message)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with a project in sub/, a merge conflict left in sub/a.txt."""
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    (repo / ".gitignore").write_text(".venv/\n")
    (repo / "sub" / "a.txt").write_text("base\n")
    (repo / "sub" / "b.txt").write_text("b\n")
    git(repo, "init", "--quiet", "-b", "main")
    commit(repo, "base")
    git(repo, "checkout", "--quiet", "-b", "other")
    (repo / "sub" / "a.txt").write_text("theirs\n")
    commit(repo, "theirs")
    git(repo, "checkout", "--quiet", "main")
    (repo / "sub" / "a.txt").write_text("ours\n")
    commit(repo, "ours")
    git(repo, "merge", "--quiet", "other", check=False)  # conflicts: exits 1
    assert git(repo, "diff", "--name-only", "--diff-filter=U") == "sub/a.txt\n"
    return repo


def test_conflicts_are_unmerged_files_marker_lines_and_rej_files(repo):
    sub = repo / "sub"
    (sub / "a.txt").write_text("resolved, but not added\n")  # still unmerged in the index
    (sub / "first.txt").write_text("<<<<<<< before\nx\n=======\ny\n>>>>>>> after\n")
    (sub / "middle.txt").write_text("a\n<<<<<<< before\nx\n")
    (sub / "quoted.txt").write_text("a line that mentions <<<<<<< markers\n")
    (sub / "style.css.rej").write_text("@@ -1 +1 @@\n")
    (sub / "link").symlink_to("first.txt")

    found = conflicts(sub, changed(sub))

    assert found == ["a.txt", "first.txt", "middle.txt", "style.css.rej"]


def test_changed_lists_edited_and_new_files_but_not_ignored_ones(repo):
    sub = repo / "sub"
    git(repo, "merge", "--abort")
    (sub / "b.txt").write_text("edited\n")
    (sub / "new.txt").write_text("new\n")
    (sub / ".venv").mkdir()
    (sub / ".venv" / "x").write_text("ignored\n")

    assert changed(sub) == ["b.txt", "new.txt"]


def test_rollback_restores_the_committed_state(repo):
    """What a failed update leaves (edits, new files, unmerged entries) is undone; ignored
    files such as a virtualenv are kept."""
    sub = repo / "sub"
    (sub / "b.txt").write_text("edited\n")
    (sub / "new.txt").write_text("new\n")
    (sub / ".venv").mkdir()
    (sub / ".venv" / "keep").write_text("ignored\n")

    restore_head(sub)

    assert git(repo, "status", "--porcelain", "--", "sub") == ""
    assert (sub / "a.txt").read_text() == "ours\n"
    assert (sub / "b.txt").read_text() == "b\n"
    assert not (sub / "new.txt").exists()
    assert (sub / ".venv" / "keep").read_text() == "ignored\n"


@pytest.mark.parametrize(
    ("versions", "changes", "nothing"),
    [(("1", "1"), {}, True), (("1", "2"), {}, False), (("2", "2"), {"port": 1}, False)],
)
def test_an_update_has_something_to_do_with_a_newer_version_or_a_changed_answer(
    versions, changes, nothing
):
    assert Updated(Path("."), *versions, changes).nothing_to_do is nothing


PYPROJECT = (
    '[project]\nname = "app"\ndependencies = ["tornado>=6.5"]\n\n[tool.ruff]\nline-length = 100\n'
)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        pytest.param(lambda p: (p / "sub" / "b.txt").write_text("b2\n"), False, id="other-file"),
        pytest.param(
            lambda p: (p / "sub" / "requirements.txt").write_text("tornado>=6.5\nredis>=5\n"),
            True,
            id="requirements",
        ),
        pytest.param(
            lambda p: (p / "sub" / "requirements-dev.txt").write_text("-r requirements.txt\n"),
            True,
            id="new-dev-requirements",
        ),
        pytest.param(
            lambda p: (p / "sub" / "pyproject.toml").write_text(
                PYPROJECT.replace("line-length = 100", "line-length = 88")
            ),
            False,
            id="pyproject-tool-settings",
        ),
        pytest.param(
            lambda p: (p / "sub" / "pyproject.toml").write_text(
                PYPROJECT.replace('"tornado>=6.5"', '"tornado>=6.5", "PyJWT[crypto]>=2.8"')
            ),
            True,
            id="pyproject-dependencies",
        ),
    ],
)
def test_requirements_changed_looks_at_what_the_project_installs(tmp_path, edit, expected):
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    (repo / "sub" / "b.txt").write_text("b\n")
    (repo / "sub" / "requirements.txt").write_text("tornado>=6.5\n")
    (repo / "sub" / "pyproject.toml").write_text(PYPROJECT)
    git(repo, "init", "--quiet", "-b", "main")
    commit(repo, "base")

    edit(repo)

    assert requirements_changed(repo / "sub") is expected
