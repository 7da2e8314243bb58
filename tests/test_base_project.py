"""The base variant, built and used as a newcomer would: layout, lint, its tests, a real boot."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomllib

from checks import (
    assert_lint_clean,
    assert_no_copier_leftovers,
    assert_own_tests_pass,
    assert_tornado_templates_compile,
)
from conftest import free_port, http_get, render, running_app

# Besides the files the wheel installs (its list is pyproject.toml's: wheel_sources below).
LAYOUT = [
    "handlers/__init__.py",
    "handlers/base.py",
    "handlers/main_handler.py",
    "handlers/health.py",
    "templates/base.html",
    "templates/index.html",
    "templates/error.html",
    "static/css/style.css",
    "static/js/main.js",
    "static/img/logo.svg",
    "tests/test_app.py",
    "requirements.txt",
    "requirements-dev.txt",
    "pyproject.toml",
    "README.md",
    ".gitignore",
    ".copier-answers.yml",
]


@pytest.fixture(scope="module")
def project(tmp_path_factory, home):
    return render(
        tmp_path_factory.mktemp("base") / "shop",
        home,
        project_name="Corner Shop",
        description="Sells things",
        author_name="Ada",
        port=8123,
    )


def wheel_sources(project: Path) -> list[str]:
    """The files and folders the project's wheel installs, as its pyproject.toml lists them."""
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    return list(pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"])


def test_layout(project):
    missing = [name for name in LAYOUT if not (project / name).is_file()]
    assert missing == []
    assert "app.py" in wheel_sources(project) and "handlers" in wheel_sources(project)
    # What the app runs from is what the wheel installs: each Python file and folder at the
    # root but the tests (a file added to the template and not to pyproject.toml fails here).
    at_root = {
        p.name
        for p in project.iterdir()
        if (p.suffix == ".py" or p.is_dir())
        and p.name not in ("tests", "__pycache__")
        and not p.name.startswith(".")
    }
    assert at_root == set(wheel_sources(project))
    for module in ("auth", "chat", "echo"):  # the optional modules own these
        assert not (project / module).exists(), module


def test_no_copier_syntax_left_and_templates_compile(project):
    assert_no_copier_leftovers(project)
    assert_tornado_templates_compile(project)


def test_answers_rendered(project):
    app_py = (project / "app.py").read_text()
    assert 'PROJECT_NAME = "Corner Shop"' in app_py
    assert 'define("port", default=8123' in app_py
    pyproject = (project / "pyproject.toml").read_text()
    assert 'name = "corner-shop"' in pyproject and 'description = "Sells things"' in pyproject
    assert "python app.py --port=8123" in (project / "README.md").read_text()


def test_secure_defaults(project):
    app_py = (project / "app.py").read_text()
    assert '"xsrf_cookies": True' in app_py
    assert '"debug": False' in app_py and 'define("debug", default=False' in app_py
    assert "autoescape" not in app_py  # Tornado's default: escape everything
    assert not re.search(r"cookie_secret\W+[\"'][^\"']{8,}", app_py), "constant cookie secret"
    assert "COOKIE_SECRET" in (project / "README.md").read_text()


def test_generated_code_is_idiomatic(project):
    code = "\n".join(p.read_text() for p in project.rglob("*.py"))
    for outdated in ("IOLoop.instance", "gen.coroutine", "@gen.", "IOLoop.current().start"):
        assert outdated not in code
    assert "asyncio.run(main())" in code


def test_lint_clean(project):
    assert_lint_clean(project)


def test_own_tests_pass(project):
    assert_own_tests_pass(project)


def test_boot_serve_and_stop_on_sigterm(project):
    with running_app(project) as app:
        index = http_get(app.url + "/")
        assert index.status == 200
        assert "<title>Corner Shop</title>" in index.body
        css = re.search(r'href="(/static/css/style\.css\?v=\w+)"', index.body)
        assert css, index.body
        static = http_get(app.url + css.group(1))
        assert static.status == 200 and "--accent" in static.body
        assert http_get(app.url + "/static/img/logo.svg").status == 200

        missing = http_get(app.url + "/no/such/page")
        assert missing.status == 404 and "We could not find that page" in missing.body

        health = http_get(app.url + "/healthz")
        assert health.status == 200 and json.loads(health.body) == {"status": "ok"}

        started = time.monotonic()
        assert app.stop() == 0
        assert time.monotonic() - started < 3


def test_ctrl_c_stops_cleanly(project):
    with running_app(project) as app:
        app.process.send_signal(signal.SIGINT)
        assert app.process.wait(5) == 0


def _sh_block(readme: str, heading: str) -> list[str]:
    """The lines of the first ```sh block under ``## heading``."""
    section = readme.split(f"\n## {heading}\n", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, heading
    return block.group(1).strip().splitlines()


def test_the_readme_commands_work_where_there_is_only_python3(tmp_path, home):
    """'Run it', verbatim, in a shell whose PATH has a python3 and no python, as on a stock
    Debian or Ubuntu: its last line serves the app. ('Test and lint' runs in the same
    activated environment; the project's own tests run in every variant's test.) The project
    has the database, whose README adds a step, `alembic upgrade head`, the one command the
    base project's block lacks; without it the app would refuse to start."""
    port = free_port()
    project = render(
        tmp_path / "readme",
        home,
        project_name="Readme",
        port=port,
        database=True,
        blog=False,
        git_init=False,
    )
    readme = (project / "README.md").read_text()
    *setup, serve = _sh_block(readme, "Run it")
    assert serve == f"python app.py --port={port}"
    base = render(tmp_path / "base", home, project_name="Base", port=port, git_init=False)
    assert _sh_block((base / "README.md").read_text(), "Run it") == [
        line for line in setup if line != "alembic upgrade head"
    ] + [serve]
    path = tmp_path / "bin"
    path.mkdir()
    python3 = Path(sys.base_prefix) / "bin" / "python3"  # a Python outside any venv
    (path / "python3").symlink_to(python3)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "VIRTUAL_ENV", "PYTHON", "COOKIE_SECRET"))
    }
    env["PATH"] = f"{path}:/usr/bin:/bin"
    assert shutil.which("python", path=env["PATH"]) is None
    script = "\n".join(["set -e", *setup, f"exec {serve}"])

    output = tmp_path / "output.txt"
    with output.open("w") as out:
        process = subprocess.Popen(
            ["bash", "-c", script], cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 300  # pip installs the requirements first
        while f"on http://127.0.0.1:{port}/" not in output.read_text():  # the app's start line
            assert process.poll() is None, output.read_text()[-5000:]
            assert time.monotonic() < deadline, output.read_text()[-5000:]
            time.sleep(0.1)
        index = http_get(f"http://127.0.0.1:{port}/")
        assert index.status == 200 and "<title>Readme</title>" in index.body
        assert http_get(f"http://127.0.0.1:{port}/readyz").status == 200  # the database answers
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0, output.read_text()[-5000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    said = output.read_text()
    assert "COOKIE_SECRET is not set" not in said, said[-5000:]  # the README's export worked
    assert (project / "data" / "app.sqlite3").is_file()  # made by the README's upgrade step


def test_the_longest_slug_stays_lint_clean(tmp_path, home):
    """The slug is written into code and comments: at its longest, no line grows too long."""
    project = render(
        tmp_path / "long",
        home,
        project_slug="s" * 64,
        websocket=True,
        tcp_echo=True,
        auth_providers=["github", "oidc"],
        git_init=False,
    )
    assert_lint_clean(project)
