"""Generated projects installed with pip: each under its own name, side by side in one
environment, started by its command or `python -m <slug>` from any folder."""

import os
import shutil
import subprocess
import sys

import pytest

from checks import install_into
from conftest import http_get, render, running_app

# The top-level names a project's code imports: in a checkout they come from its folder; an
# installed project must not put any of them on the environment's sys.path.
TOP_LEVEL = (
    "app",
    "server",
    "workers",
    "access_log",
    "connections",
    "handlers",
    "auth",
    "chat",
    "echo",
)
FIND = """import importlib.util, sys
for name in sys.argv[1:]:
    print(name, importlib.util.find_spec(name) is not None)"""


def _wheel(project, wheels):
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        + ["-w", str(wheels), str(project)],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob(f"{project.name}-0.1.0-*.whl")
    return wheel


def test_two_projects_installed_side_by_side_each_run_their_own_code(tmp_path, home):
    alpha = render(tmp_path / "alpha_shop", home, project_name="Alpha Shop", websocket=True)
    beta = render(tmp_path / "beta_shop", home, project_name="Beta Shop", auth_providers=["github"])
    wheels = [_wheel(project, tmp_path / "wheels") for project in (alpha, beta)]

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    python = venv / "bin" / "python"
    for wheel in wheels:  # one after the other, as two `pip install .` would
        install = subprocess.run(
            [python, "-m", "pip", "install", "-q", wheel], capture_output=True, text=True
        )
        assert install.returncode == 0, install.stderr
    shutil.rmtree(alpha)  # nothing may come from the source folders any more
    shutil.rmtree(beta)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    names = subprocess.run(
        [python, "-c", FIND, *TOP_LEVEL, "alpha_shop", "beta_shop"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
    )
    assert names.returncode == 0, names.stderr
    found = dict(line.split() for line in names.stdout.splitlines())
    assert found == {**dict.fromkeys(TOP_LEVEL, "False"), "alpha_shop": "True", "beta_shop": "True"}

    runs = [
        ("Alpha Shop", (venv / "bin" / "alpha-shop",), "/static/js/chat.js"),
        ("Beta Shop", (venv / "bin" / "beta-shop",), "/auth/login"),
        ("Beta Shop", (python, "-m", "beta_shop"), "/auth/login"),
    ]
    for name, command, own_page in runs:
        with running_app(elsewhere, command=command) as app:
            index = http_get(app.url + "/")
            assert index.status == 200 and f"<title>{name}</title>" in index.body, command
            assert http_get(app.url + own_page).status == 200, command
            assert app.stop() == 0


@pytest.mark.parametrize("slug", ["app", "server"])
def test_a_project_named_like_one_of_its_modules_runs_installed(tmp_path, home, slug):
    """The package `server` holds the module `server.py`: the command runs the module."""
    project = render(tmp_path / "src", home, project_slug=slug, git_init=False)
    site = tmp_path / "site"
    install_into(site, project)
    env = {**os.environ, "PYTHONPATH": str(site)}
    for command in ([site / "bin" / slug], [sys.executable, "-m", slug]):
        helped = subprocess.run(
            [*command, "--help"], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert helped.returncode == 0, helped.stderr
        assert f"{site / slug / 'server.py'} options" in helped.stderr  # print_help()


def test_an_installed_database_app_migrates_with_its_command_then_serves(tmp_path, home):
    """Installed, a project has no alembic.ini: `<command> --migrate` upgrades the database
    that DATABASE_URL names (the app refuses to start before), then the app serves on it."""
    project = render(tmp_path / "src", home, project_slug="ledger", database=True, git_init=False)
    site = tmp_path / "site"
    install_into(site, project)
    shutil.rmtree(project)  # nothing may come from the source folder any more
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    env = {**os.environ, "PYTHONPATH": str(site), "DATABASE_URL": url, "COOKIE_SECRET": "x"}
    command = [site / "bin" / "ledger"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )

    refused = run("--port=1")
    assert refused.returncode == 2 and "--migrate" in refused.stderr, refused.stderr
    migrated = run("--migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "Running upgrade 0001 -> 0002" in migrated.stderr, migrated.stderr
    with running_app(
        tmp_path, command=command, env={"PYTHONPATH": str(site), "DATABASE_URL": url}
    ) as app:
        assert http_get(app.url + "/readyz").status == 200
        assert http_get(app.url + "/blog").status == 200
        assert app.stop() == 0
