"""Projects made by earlier releases update to this template, offline, with their edits kept.

The earlier releases are the real ones, from the committed history.bundle: the first of each
minor series (each series has its own layout) and the release just before this one (where
most projects are). Patch releases in between change what those two cover already, and each
case costs about 6 s of CPU in a suite that must stay within 3 minutes. A project is made
from each exactly as that release made it (Copier from the cached template history at that
version, recording the source path that release recorded, then a first commit), edited by
its user, and updated with this checkout installed as the next release, on a machine whose
HOME has never seen tornado-scaffold.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version

from tornado_scaffold import __version__, history

from checks import (
    assert_lint_clean,
    assert_no_copier_leftovers,
    assert_own_tests_pass,
)
from conftest import PACKAGE, fake_release

# This checkout as a release: its own version once recorded, else the release it prepares.
THIS = Version(__version__).base_version
RELEASED = [v for v in history.releases(PACKAGE / "history.bundle") if Version(v) < Version(THIS)]


def releases_to_update_from(released: list[str]) -> list[str]:
    """The first release of each minor series, and the last release (``released`` is sorted)."""
    firsts = {}
    for version in released:
        firsts.setdefault(Version(version).release[:2], version)
    return sorted({*firsts.values(), *released[-1:]}, key=Version)


EARLIER = releases_to_update_from(RELEASED)
ANSWERS = {
    "project_name": "Corner Shop",
    "websocket": True,
    "tcp_echo": True,
    "auth_providers": ["google", "github"],
}
GIT_ENV = {
    "GIT_AUTHOR_NAME": "User",
    "GIT_AUTHOR_EMAIL": "user@example.invalid",
    "GIT_COMMITTER_NAME": "User",
    "GIT_COMMITTER_EMAIL": "user@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def source_path(version: str) -> str:
    """The template source a release recorded in its projects' .copier-answers.yml."""
    if Version(version) < Version("0.2.0"):
        return "~/.cache/tornado-scaffold/template"
    return "~/.cache/tornado-scaffold/history"


@pytest.fixture(scope="module")
def this_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkout installed as the next release, its history on top of the real one."""
    base = tmp_path_factory.mktemp("this-release")
    return fake_release(base, THIS, bundle_from=PACKAGE.parent, record=__version__ != THIS)


def run(argv: list[str], cwd: Path, home: Path, site: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "COPIER_"))}
    env.update(GIT_ENV, HOME=str(home), PYTHONPATH=str(site), PYTHONDONTWRITEBYTECODE="1")
    env.pop("XDG_CACHE_HOME", None)
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


@pytest.mark.skipif(not EARLIER, reason="no release before this one in history.bundle")
@pytest.mark.parametrize("version", EARLIER)
def test_a_project_of_an_earlier_release_updates_with_its_edits_kept(
    version, this_release, tmp_path
):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    project = work / "shop"

    # The cache holds every release as soon as any command of the installed tool runs.
    prepared = run(
        [sys.executable, "-m", "tornado_scaffold", "questions"], work, home, this_release
    )
    assert prepared.returncode == 0, prepared.stderr
    answers = tmp_path / "answers.yml"
    answers.write_text("".join(f"{key}: {value!r}\n" for key, value in ANSWERS.items()))
    copier = Path(sys.executable).with_name("copier")
    made = run(
        [str(copier), "copy", "--quiet", "--defaults", "--vcs-ref", version]
        + ["--data-file", str(answers), source_path(version), str(project)],
        work,
        home,
        this_release,
    )
    assert made.returncode == 0, made.stderr
    assert f"_commit: {version}" in (project / ".copier-answers.yml").read_text()
    git = ["git", "-c", "commit.gpgsign=false"]
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-qm", f"tornado-scaffold {version}"]):
        assert run([*git, *argv], project, home, this_release).returncode == 0

    # The user's edits, each in a file the template keeps.
    with (project / "README.md").open("a") as readme:
        readme.write("\n## Deployment notes\n\nOurs, kept across updates.\n")
    edit(project / "handlers" / "main_handler.py", '"index.html"', '"index.html", greeting="hi"')
    edit(project / "templates" / "index.html", "<p>Your Tornado", "<p>{{ greeting }}: your Tornado")
    edit(project / "static" / "css" / "style.css", "margin-top: 3rem", "margin-top: 4rem")
    assert run([*git, "commit", "-qam", "Our edits"], project, home, this_release).returncode == 0

    # The newest release's project also takes up the database module as it updates (issue
    # 18): the module's files arrive, and its own tests, on the database, pass below.
    grow = version == EARLIER[-1] and Version(THIS) >= Version("0.4.0")
    more = ["--data", "database=true"] if grow else []
    update = [sys.executable, "-m", "tornado_scaffold", "update", *more]
    done = run(update, project, home, this_release)

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"_commit: {THIS}" in (project / ".copier-answers.yml").read_text()
    assert "Ours, kept across updates." in (project / "README.md").read_text()
    assert 'greeting="hi"' in (project / "handlers" / "main_handler.py").read_text()
    assert "{{ greeting }}: your Tornado" in (project / "templates" / "index.html").read_text()
    assert "margin-top: 4rem" in (project / "static" / "css" / "style.css").read_text()
    for module in ("auth", "chat", "echo", *(("db", "blog") if grow else ())):
        assert (project / module / "__init__.py").is_file(), module  # this release's layout
    assert (project / "alembic.ini").is_file() == grow
    assert "<<<<<<<" not in "".join(p.read_text() for p in project.rglob("*.py"))
    assert_no_copier_leftovers(project)
    assert_lint_clean(project)
    # The Chromium pages and the Redis-trouble cases (14 s of waiting) are the same code
    # as in a new project, where test_variants and test_base_project run them.
    assert_own_tests_pass(project, browser=False, redis_trouble=False)

    # Installed, it runs under its own name (earlier releases installed a .pth file instead).
    assert not (project / "corner_shop.pth").exists()
    site = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
        + ["--target", str(site), str(project)],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr
    assert not list(site.glob("*.pth"))
    helped = run([sys.executable, "-m", "corner_shop", "--help"], work, home, site)
    assert helped.returncode == 0, helped.stderr
    assert f"{site / 'corner_shop' / 'server.py'} options" in helped.stderr  # print_help()


def test_every_minor_series_and_the_last_release_are_covered():
    assert releases_to_update_from(["0.1.0", "0.2.0", "0.2.1", "0.2.4", "0.3.0", "0.3.2"]) == [
        "0.1.0",
        "0.2.0",
        "0.3.0",
        "0.3.2",
    ]
    assert releases_to_update_from(["0.1.0"]) == ["0.1.0"]
    assert releases_to_update_from([]) == []
    assert set(EARLIER) <= set(RELEASED) and (not RELEASED or RELEASED[-1] in EARLIER)
