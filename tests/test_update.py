"""`update` and `check`, proved through the real CLI against two fake installed releases.

Each release is a copy of the package with its own ``_template/``, ``__version__`` and
``history.bundle`` (v2's bundle holds v1 and v2), run as a subprocess with an empty HOME:
a fresh machine with no template cache. Subprocesses also keep HOME away from plumbum,
which snapshots os.environ when Copier is imported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import fake_release

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test User",
    "GIT_AUTHOR_EMAIL": "user@example.invalid",
    "GIT_COMMITTER_NAME": "Test User",
    "GIT_COMMITTER_EMAIL": "user@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}

# v2 of the template: a changed README line (the user edits the README elsewhere), a changed
# app.py line (the conflict test edits that same line), and a new question with a default,
# plus an optional module it switches on.
README_V2 = "Generated with tornado-scaffold 2: `tornado-scaffold update` keeps it current."
ADDRESS_V1 = 'help="address to bind (0.0.0.0 for every interface)")'
ADDRESS_V2 = 'help="address to bind; 0.0.0.0 listens on every interface")'
QUESTIONS_V2 = """
motto:
  type: str
  help: One line shown in the README
  default: Built with Tornado

metrics:
  type: bool
  help: Add a /metrics endpoint
  default: false
"""
METRICS_HANDLER = '''"""Request counters."""

from handlers.base import BaseHandler


class MetricsHandler(BaseHandler):
    def get(self):
        self.write({"requests_in_flight": self.application.requests_in_flight})
'''
METRICS_TEST = '''"""Tests for /metrics."""

import json

from tornado.testing import AsyncHTTPTestCase

from app import make_app


class MetricsTestCase(AsyncHTTPTestCase):
    def get_app(self):
        return make_app(cookie_secret="test-secret")

    def test_metrics(self):
        response = self.fetch("/metrics")
        self.assertEqual(response.code, 200)
        self.assertIn("requests_in_flight", json.loads(response.body))
'''


def _template_v2(root: Path) -> None:
    """Turn the copy of the template at ``root`` into v2."""
    (root / "copier.yml").write_text((root / "copier.yml").read_text() + QUESTIONS_V2)
    readme = root / "template" / "README.md.jinja"
    text = readme.read_text()
    assert "A [Tornado](https://www.tornadoweb.org/) application" in text
    readme.write_text(
        text.replace(
            "{{ description }}\n", "{{ description }}\n\n{{ motto }}. " + README_V2 + "\n", 1
        )
    )
    app = root / "template" / "app.py.jinja"
    text = app.read_text()
    assert ADDRESS_V1 in text
    text = text.replace(ADDRESS_V1, ADDRESS_V2)
    text = text.replace(
        "from handlers.main_handler import MainHandler\n",
        "from handlers.main_handler import MainHandler\n"
        "{% if metrics %}from handlers.metrics import MetricsHandler\n{% endif %}",
    )
    text = text.replace(
        '        tornado.web.url(r"/healthz", HealthHandler, name="health"),\n',
        '        tornado.web.url(r"/healthz", HealthHandler, name="health"),\n'
        '{% if metrics %}        tornado.web.url(r"/metrics", MetricsHandler, name="metrics"),\n'
        "{% endif %}",
    )
    assert "MetricsHandler, name=" in text
    app.write_text(text)
    (root / "template" / "handlers" / "{% if metrics %}metrics.py{% endif %}").write_text(
        METRICS_HANDLER
    )
    (root / "template" / "tests" / "{% if metrics %}test_metrics.py{% endif %}").write_text(
        METRICS_TEST
    )


def _env(release: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "COPIER_"))}
    env.update(GIT_ENV, HOME=str(home), PYTHONPATH=str(release), PYTHONDONTWRITEBYTECODE="1")
    env.pop("XDG_CACHE_HOME", None)
    return env


@pytest.fixture(scope="session")
def releases(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(v1, v2) releases; read-only once built (each test has its own HOME)."""
    base = tmp_path_factory.mktemp("releases")
    v1 = fake_release(base, "1.0.0", record=True)
    v2 = fake_release(base, "2.0.0", _template_v2, bundle_from=v1, record=True)
    return v1, v2


class Machine:
    """One user's machine: a fresh HOME, a working folder and a CLI runner."""

    def __init__(self, tmp_path: Path, made=None) -> None:
        self.home = tmp_path / "home"
        self.home.mkdir(parents=True)
        self.work = tmp_path / "work"
        self.work.mkdir()
        self.made = made

    def run(
        self, release: Path, *args: str, cwd: Path | None = None
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "tornado_scaffold", *args],
            cwd=cwd or self.work,
            env=_env(release, self.home),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )

    def git(self, project: Path, *args: str) -> str:
        done = subprocess.run(
            ["git", *args],
            cwd=project,
            env=_env(Path(), self.home),
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def project(self, release: Path, name: str = "app", *data: str, commit: bool = True) -> Path:
        """A project generated with ``--defaults`` (and ``data``), committed to a new repo."""
        if commit and not data and self.made is not None:
            # Generated and committed once per release and worker (on another "machine").
            return Path(shutil.copytree(self.made(release), self.work / name, symlinks=True))
        args = [f"--data={pair}" for pair in data]
        if not commit:
            args.append("--data=git_init=false")
        done = self.run(release, "new", name, "--defaults", *args)
        assert done.returncode == 0, done.stderr
        path = self.work / name
        if commit:  # `new` starts the repository with a first commit
            assert self.git(path, "log", "--format=%s").startswith("Initial commit")
        return path

    def commit(self, project: Path, message: str) -> None:
        self.git(project, "add", "-A")
        self.git(project, "commit", "--quiet", "--no-gpg-sign", "-m", message)


def snapshot(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (the .git folder included) with its content."""
    return {
        p.relative_to(path).as_posix(): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def answers(project: Path) -> str:
    return (project / ".copier-answers.yml").read_text()


@pytest.fixture(scope="session")
def made(tmp_path_factory: pytest.TempPathFactory):
    """Returns the committed default project of a release, generating it on first use."""
    base = tmp_path_factory.mktemp("made")
    projects: dict[Path, Path] = {}

    def get(release: Path) -> Path:
        if release not in projects:
            projects[release] = Machine(base / release.name).project(release)
        return projects[release]

    return get


@pytest.fixture
def machine(tmp_path: Path, made) -> Machine:
    return Machine(tmp_path, made)


def state(project: Path, machine: Machine) -> tuple[dict[str, bytes], str, str]:
    """Work tree files (outside .git), HEAD and git status: what a refusal must not change."""
    files = {k: v for k, v in snapshot(project).items() if not k.startswith(".git/")}
    head = machine.git(project, "rev-parse", "HEAD") if (project / ".git").is_dir() else ""
    status = machine.git(project, "status", "--porcelain") if head else ""
    return files, head, status


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def assert_clean_error(done: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    assert done.returncode == code, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), done.stderr
    for needle in needles:
        assert needle in done.stderr, (needle, done.stderr)


def test_update_keeps_user_edits_and_defaults_the_new_question(machine, releases):
    v1, v2 = releases
    project = machine.project(v1)
    with (project / "README.md").open("a") as readme:
        readme.write("\n## Deployment notes\n\nOurs, kept across updates.\n")
    machine.commit(project, "Document deployment")
    # The update runs on another machine: empty HOME, no template cache.
    shutil.rmtree(machine.home)
    machine.home.mkdir()

    done = machine.run(v2, "update", cwd=project)

    assert done.returncode == 0, done.stderr
    assert "1.0.0" in done.stdout and "2.0.0" in done.stdout
    assert "git diff" in done.stdout and "commit" in done.stdout
    readme = (project / "README.md").read_text()
    assert "Ours, kept across updates." in readme  # the user's edit
    assert "Built with Tornado. " + README_V2 in readme  # v2's change, new question defaulted
    assert ADDRESS_V2 in (project / "app.py").read_text()
    assert "_commit: 2.0.0" in answers(project)
    assert "motto: Built with Tornado" in answers(project)
    assert not (project / "handlers" / "metrics.py").exists()  # metrics defaults to false
    assert "<<<<<<< " not in readme
    assert not machine.git(project, "diff", "--name-only", "--diff-filter=U")


def test_update_data_answers_the_new_question(machine, releases):
    v1, v2 = releases
    project = machine.project(v1)

    done = machine.run(v2, "update", str(project), "--data", "motto=Shipped weekly")

    assert done.returncode == 0, done.stderr
    assert "Shipped weekly. " + README_V2 in (project / "README.md").read_text()
    assert "motto: Shipped weekly" in answers(project)


def test_conflicting_edit_is_reported_and_left_inline(machine, releases):
    v1, v2 = releases
    project = machine.project(v1)
    edit(project / "app.py", ADDRESS_V1, 'help="where to listen")')
    machine.commit(project, "Reword the address help")

    done = machine.run(v2, "update", cwd=project)

    assert_clean_error(done, 1, "app.py", "conflict")
    assert "app.py" in done.stdout
    app = (project / "app.py").read_text()
    assert "<<<<<<< " in app and ">>>>>>> " in app
    assert 'help="where to listen")' in app and ADDRESS_V2 in app
    assert README_V2 in (project / "README.md").read_text()  # the rest was updated
    assert "README.md" not in done.stderr


def _dirty(machine: Machine, project: Path) -> None:
    with (project / "app.py").open("a") as app:
        app.write("# work in progress\n")


def _untracked(machine: Machine, project: Path) -> None:
    (project / "notes.txt").write_text("draft\n")


def _foreign(machine: Machine, project: Path) -> None:
    edit(project / ".copier-answers.yml", "~/.cache/tornado-scaffold/template", "gh:someone/else")
    machine.commit(project, "Another template")


def _no_answers(machine: Machine, project: Path) -> None:
    (project / ".copier-answers.yml").unlink()
    machine.commit(project, "Drop the answers")


def _unreleased(machine: Machine, project: Path) -> None:
    edit(project / ".copier-answers.yml", "_commit: 1.0.0", "_commit: 1.5.0")
    machine.commit(project, "Made by a development build")


def _not_a_version(machine: Machine, project: Path) -> None:
    edit(project / ".copier-answers.yml", "_commit: 1.0.0", "_commit: 1a2b3c4")
    machine.commit(project, "Made from a raw commit")


@pytest.mark.parametrize(
    ("spoil", "needle"),
    [
        (_unreleased, "1.5.0 of"),
        (_not_a_version, "not a tornado-scaffold release"),
        (_dirty, "uncommitted changes"),
        (_untracked, "uncommitted changes"),
        (_foreign, "another template"),
        (_no_answers, "no .copier-answers.yml"),
    ],
)
def test_update_refuses_and_changes_nothing(machine, releases, spoil, needle):
    v1, v2 = releases
    project = machine.project(v1)
    spoil(machine, project)
    before = state(project, machine)

    done = machine.run(v2, "update", cwd=project)

    assert_clean_error(done, 2, needle)
    assert len(done.stderr.strip().splitlines()) == 1
    assert state(project, machine) == before


def test_update_refuses_a_folder_outside_git(machine, releases):
    v1, v2 = releases
    project = machine.project(v1, commit=False)
    before = snapshot(project)

    done = machine.run(v2, "update", str(project))

    assert_clean_error(done, 2, "not a git repository")
    assert snapshot(project) == before


def test_update_refuses_a_project_newer_than_the_tool(machine, releases):
    v1, v2 = releases
    project = machine.project(v2)
    before = state(project, machine)

    done = machine.run(v1, "update", cwd=project)

    assert_clean_error(done, 2, "2.0.0", "1.0.0", "newer")
    assert state(project, machine) == before
    assert_clean_error(machine.run(v1, "check", cwd=project), 2, "newer")


@pytest.mark.parametrize(
    ("data", "needles"),
    [
        ("port=70000", ("port", "65535")),  # Copier's validator rejects it
        ("port=many", ("port", "integer")),  # the CLI's type check rejects it
        ("nope=1", ("nope", "valid keys are", "project_name", "motto")),
    ],
)
def test_update_rejects_bad_data_and_changes_nothing(machine, releases, data, needles):
    v1, v2 = releases
    project = machine.project(v1)
    before = state(project, machine)

    done = machine.run(v2, "update", "--data", data, cwd=project)

    assert_clean_error(done, 2, *needles)
    assert state(project, machine) == before


def _broken(root: Path) -> None:
    """A template whose last file fails to render, after Copier wrote the others."""
    _template_v2(root)
    (root / "template" / "zz_last.txt.jinja").write_text("{{ 1 // 0 }}\n")


def test_template_failing_to_render_changes_nothing(machine, releases, tmp_path):
    v1, _ = releases
    v3 = fake_release(tmp_path, "3.0.0", _broken, bundle_from=v1, record=True)
    project = machine.project(v1)
    before = state(project, machine)

    done = machine.run(v3, "update", cwd=project)

    assert_clean_error(done, 2, "update failed", "unchanged")
    assert state(project, machine) == before


def test_rollback_restores_the_committed_state(machine):
    """What a failed update leaves (edits, new files, unmerged entries) is undone; ignored
    files such as a virtualenv are kept. Copier 9.19 fails before writing, so call it here."""
    from tornado_scaffold import update

    repo = machine.work / "repo"
    (repo / "sub").mkdir(parents=True)
    (repo / ".gitignore").write_text(".venv/\n")
    (repo / "sub" / "a.txt").write_text("base\n")
    (repo / "sub" / "b.txt").write_text("b\n")
    machine.git(repo, "init", "--quiet", "-b", "main")
    machine.commit(repo, "base")
    machine.git(repo, "checkout", "--quiet", "-b", "other")
    (repo / "sub" / "a.txt").write_text("theirs\n")
    machine.commit(repo, "theirs")
    machine.git(repo, "checkout", "--quiet", "main")
    (repo / "sub" / "a.txt").write_text("ours\n")
    machine.commit(repo, "ours")
    merge = ["git", "merge", "--quiet", "other"]  # conflicts: exits 1
    subprocess.run(merge, cwd=repo, env=_env(Path(), machine.home), capture_output=True)
    assert machine.git(repo, "diff", "--name-only", "--diff-filter=U") == "sub/a.txt\n"
    (repo / "sub" / "b.txt").write_text("edited\n")
    (repo / "sub" / "new.txt").write_text("new\n")
    (repo / "sub" / ".venv").mkdir()
    (repo / "sub" / ".venv" / "keep").write_text("ignored\n")

    update._rollback(repo / "sub")

    assert machine.git(repo, "status", "--porcelain", "--", "sub") == ""
    assert (repo / "sub" / "a.txt").read_text() == "ours\n"
    assert (repo / "sub" / "b.txt").read_text() == "b\n"
    assert not (repo / "sub" / "new.txt").exists()
    assert (repo / "sub" / ".venv" / "keep").read_text() == "ignored\n"


def test_up_to_date_project_is_left_alone(machine, releases):
    _, v2 = releases
    project = machine.project(v2, "app", "port=9000")
    before = state(project, machine)

    for extra in ([], ["--data", "port=9000"]):  # the same answer is no change either
        done = machine.run(v2, "update", *extra, cwd=project)
        assert done.returncode == 0, done.stderr
        assert "nothing to update" in done.stdout
    assert state(project, machine) == before


@pytest.mark.parametrize("conflict", [False, True])
def test_pretend_previews_without_writing(machine, releases, conflict):
    v1, v2 = releases
    project = machine.project(v1)
    if conflict:
        edit(project / "app.py", ADDRESS_V1, 'help="where to listen")')
        machine.commit(project, "Reword the address help")
    before = state(project, machine)

    done = machine.run(v2, "update", "--pretend", cwd=project)

    assert done.returncode == (1 if conflict else 0), done.stderr
    assert "Traceback" not in done.stderr
    assert "Would update" in done.stdout and "2.0.0" in done.stdout
    for name in ("README.md", "app.py", ".copier-answers.yml"):
        assert name in done.stdout
    assert ("Would conflict" in done.stdout) is conflict
    assert state(project, machine) == before


def test_check_exit_codes(machine, releases):
    v1, v2 = releases
    project = machine.project(v1)

    behind = machine.run(v2, "check", str(project))
    current = machine.run(v1, "check", str(project))

    assert behind.returncode == 1, behind.stderr
    assert "1.0.0" in behind.stdout and "2.0.0" in behind.stdout and "update" in behind.stdout
    assert current.returncode == 0, current.stderr
    assert "1.0.0" in current.stdout
    _foreign(machine, project)
    assert_clean_error(machine.run(v2, "check", str(project)), 2, "another template")
    _no_answers(machine, project)
    assert_clean_error(machine.run(v2, "check", str(project)), 2, "no .copier-answers.yml")


def test_plain_copier_update_works_once_the_source_is_cached(machine, releases):
    v1, v2 = releases
    project = machine.project(v1)
    assert machine.run(v2, "new", "other", "--defaults").returncode == 0  # caches v2's history
    copier = Path(sys.executable).with_name("copier")

    done = subprocess.run(
        [str(copier), "update", "--defaults", "--quiet"],
        cwd=project,
        env=_env(v2, machine.home),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )

    assert done.returncode == 0, done.stderr
    assert "_commit: 2.0.0" in answers(project)
    assert README_V2 in (project / "README.md").read_text()


def test_update_data_adds_a_module_to_a_current_project(machine, releases):
    _, v2 = releases
    project = machine.project(v2)

    done = machine.run(v2, "update", "--data", "metrics=true", "--data", "port=9001", cwd=project)

    assert done.returncode == 0, done.stderr
    assert "metrics=true" in done.stdout and "handlers/metrics.py" in done.stdout
    assert (project / "handlers" / "metrics.py").is_file()
    assert (project / "tests" / "test_metrics.py").is_file()
    assert "metrics: true" in answers(project) and "port: 9001" in answers(project)
    assert 'define("port", default=9001' in (project / "app.py").read_text()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    tests = subprocess.run(
        [sys.executable, "-W", "error", "-m", "pytest", "-v", "-p", "no:cacheprovider"],
        cwd=project,
        env={**env, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "tests/test_metrics.py::MetricsTestCase::test_metrics PASSED" in tests.stdout


def test_switching_a_module_off_lists_the_removed_files(machine, releases):
    _, v2 = releases
    project = machine.project(v2, "chat", "websocket=true")
    chat = project / "handlers" / "chat.py"
    chat.write_text(chat.read_text() + "# my tweak\n")
    machine.commit(project, "Tweak the chat")

    done = machine.run(v2, "update", "--data", "websocket=false", cwd=project)

    assert done.returncode == 0, done.stderr
    removed = done.stdout.split("Removed by the template", 1)[1]
    assert "handlers/chat.py" in removed and "git checkout HEAD -- FILE" in removed
    assert not chat.exists()
    assert "# my tweak" in machine.git(project, "show", "HEAD:handlers/chat.py")


def test_committed_history_is_consistent(tmp_path):
    """history.bundle vs the working template: _build raises if a released tree changed."""
    from packaging.version import Version

    from tornado_scaffold import __version__, history

    recorded = history.releases()
    assert recorded == sorted(recorded, key=Version)
    assert all(str(Version(tag)) == tag for tag in recorded)  # valid, normalised PEP 440
    assert len(set(map(Version, recorded))) == len(recorded)
    history._build(tmp_path, history.template_root(), __version__, history.BUNDLE)
    tags = history._tags(tmp_path)
    assert tags == sorted({*recorded, __version__}, key=Version)
    # One linear history: each release's commit has the previous release as parent.
    for older, newer in zip(tags, tags[1:], strict=False):
        parent = history._git("rev-parse", f"{newer}^{{commit}}^", cwd=tmp_path)
        assert parent == history._git("rev-parse", f"{older}^{{commit}}", cwd=tmp_path)
