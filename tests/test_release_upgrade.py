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
from tornado_scaffold.commands import add as adding

from checks import (
    assert_lint_clean,
    assert_no_copier_leftovers,
    assert_own_tests_pass,
    install_into,
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
    # `add` needs routes.py, which this release brings: it names `update` until then.
    cli = [sys.executable, "-m", "tornado_scaffold"]
    if Version(version) < Version(adding.ADDED_IN):
        early = run([*cli, "add", "page", "faq"], project, home, this_release)
        assert early.returncode == 2 and "run `tornado-scaffold update` first" in early.stderr

    grow = version == EARLIER[-1] and Version(THIS) >= Version("0.4.0")
    more = ["--data", "database=true"] if grow else []
    update = [sys.executable, "-m", "tornado_scaffold", "update", *more]
    done = run(update, project, home, this_release)

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"_commit: {THIS}" in (project / ".copier-answers.yml").read_text()
    # The database's revisions arrive with the module: the next steps say to apply them.
    assert ("alembic upgrade head  # new database revisions" in done.stdout) == grow, done.stdout
    assert "Ours, kept across updates." in (project / "README.md").read_text()
    assert 'greeting="hi"' in (project / "handlers" / "main_handler.py").read_text()
    assert "{{ greeting }}: your Tornado" in (project / "templates" / "index.html").read_text()
    assert "margin-top: 4rem" in (project / "static" / "css" / "style.css").read_text()
    for module in ("auth", "chat", "echo", *(("db", "blog") if grow else ())):
        assert (project / module / "__init__.py").is_file(), module  # this release's layout
    assert (project / "alembic.ini").is_file() == grow
    assert "<<<<<<<" not in "".join(p.read_text() for p in project.rglob("*.py"))
    assert_no_copier_leftovers(project)
    added = run([*cli, "add", "page", "faq"], project, home, this_release)
    assert added.returncode == 0, added.stderr  # and its test runs with the others below
    assert_lint_clean(project)
    # The Chromium pages and the Redis-trouble cases (14 s of waiting) are the same code
    # as in a new project, where test_variants and test_base_project run them.
    assert_own_tests_pass(project, browser=False, redis_trouble=False)

    # Installed, it runs under its own name (earlier releases installed a .pth file instead).
    assert not (project / "corner_shop.pth").exists()
    site = tmp_path / "site"
    install_into(site, project)
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


# --- `add` and `update` together (issue 19) ---------------------------------------------

# The releases before this one whose projects `add` serves (routes.py is theirs).
WITH_ADD = [v for v in RELEASED if Version(v) >= Version(adding.ADDED_IN)]


def _next_template(root: Path) -> None:
    """A next release that changes what lies around the added files: app.py where it
    gathers the routes, handlers/base.py, and routes.py itself (which it must not touch)."""
    edit(
        root / "template" / "app.py.jinja",
        "    routes += ROUTES  # what `tornado-scaffold add` and you added (routes.py)\n",
        "    routes += ROUTES  # what `tornado-scaffold add` and you added (routes.py)\n"
        '    routes.append(tornado.web.url(r"/version", HealthHandler, name="version"))\n',
    )
    edit(
        root / "template" / "handlers" / "base.py", '"""The base class', '"""The shared base class'
    )
    edit(root / "template" / "routes.py", '"""The pages, APIs', '"""All the pages, APIs')


@pytest.fixture(scope="module")
def add_releases(this_release, tmp_path_factory) -> tuple[str, Path, str, Path]:
    """(from version, its site, to version, its site): the last release with `add` and this
    one; or, while this is the first, this one and a next release built on it."""
    if WITH_ADD:
        return WITH_ADD[-1], this_release, THIS, this_release
    major, minor, patch = Version(THIS).release
    following = f"{major}.{minor}.{patch + 1}"
    base = tmp_path_factory.mktemp("next-release")
    site = fake_release(base, following, _next_template, bundle_from=this_release, record=True)
    return THIS, this_release, following, site


def test_additions_survive_a_template_update_without_conflict(add_releases, tmp_path):
    """Issue 19: a project made with a release gets a page, an API and a socket, is
    committed, then updated to the next release: no conflict, every addition kept, the
    template's changes in, and the tests pass."""
    old, old_site, new, new_site = add_releases
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    project = work / "shop"
    cli = [sys.executable, "-m", "tornado_scaffold"]
    if old == THIS:  # made by that release's own `new`
        made = run(
            [*cli, "new", "shop", "--defaults", "--data", "docker=false"], work, home, old_site
        )
        assert made.returncode == 0, made.stderr
    else:  # as that release made it (its template, from the history)
        prepared = run([*cli, "questions"], work, home, old_site)
        assert prepared.returncode == 0, prepared.stderr
        copier = Path(sys.executable).with_name("copier")
        made = run(
            [str(copier), "copy", "--quiet", "--defaults", "--vcs-ref", old]
            + ["--data", "project_name=Shop", "--data", "docker=false"]
            + [source_path(old), str(project)],
            work,
            home,
            old_site,
        )
        assert made.returncode == 0, made.stderr
        for argv in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "made"]):
            assert (
                run(
                    ["git", "-c", "commit.gpgsign=false", *argv], project, home, old_site
                ).returncode
                == 0
            )

    for kind, name in (("page", "about"), ("api", "notes"), ("socket", "live")):
        added = run([*cli, "add", kind, name], project, home, old_site)
        assert added.returncode == 0, added.stderr
    git = ["git", "-c", "commit.gpgsign=false"]
    for argv in (["add", "-A"], ["commit", "-qm", "Add a page, an API and a socket"]):
        assert run([*git, *argv], project, home, old_site).returncode == 0
    ours = {
        path: (project / path).read_text()
        for path in ("routes.py", "handlers/about.py", "templates/about.html", "handlers/notes.py")
        + ("handlers/live.py", "tests/test_about.py", "tests/test_notes.py", "tests/test_live.py")
    }

    done = run([*cli, "update"], project, home, new_site)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"_commit: {new}" in (project / ".copier-answers.yml").read_text()
    assert {path: (project / path).read_text() for path in ours} == ours
    if old == THIS:  # the next release's own changes arrived around them
        assert 'name="version"' in (project / "app.py").read_text()
        assert '"""The shared base class' in (project / "handlers" / "base.py").read_text()
    status = run(["git", "status", "--porcelain"], project, home, new_site).stdout
    assert "UU " not in status and "<<<<<<<" not in "".join(
        p.read_text() for p in project.rglob("*.py")
    )
    assert_lint_clean(project)
    assert_own_tests_pass(project, browser=False, redis_trouble=False)
