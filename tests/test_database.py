"""The database module around the code (issue 18): what a database project refuses when it
starts, and what its README, compose.yaml, Dockerfile and CI workflows give it.

The module's code is tested by the generated projects' own tests; its variants are rendered,
tested, booted (on SQLite and on PostgreSQL) and probed in tests/test_variants.py.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys

import pytest
import yaml

from checks import (
    HASHING_WAIT,
    render_template,
    throw_away_postgresql_database,
    upgrade_database,
)
from conftest import free_port, http_get, running_app


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return render_template(
        tmp_path_factory.mktemp("database") / "proj",
        project_name="Database App",
        database=True,
        blog=False,
    )


def start(project, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python app.py ARGS`` as a user starts it, expected to stop at once."""
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "app.py", f"--port={free_port()}", *args],
        cwd=project,
        env={**environ, "COOKIE_SECRET": "test-secret", **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: "), done.stderr
    return done.stderr


def test_a_database_behind_the_code_stops_the_start_naming_the_upgrade(project, tmp_path):
    """A new database (the default SQLite file, or any other) is behind the code until
    `alembic upgrade head`: the app says so once, even with several workers to fork, and
    serves after the upgrade."""
    said = one_line(start(project, "--processes=2"))
    assert "run `alembic upgrade head`" in said and "data/app.sqlite3" in said, said

    other = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    said = one_line(start(project, env={"DATABASE_URL": other}))
    assert "other.sqlite3" in said and "alembic upgrade head" in said, said

    upgrade_database(project, other)
    with running_app(project, env={"DATABASE_URL": other}, forked=True) as app:
        ready = http_get(app.url + "/readyz")
        assert ready.status == 200, ready.body
        assert app.stop() == 0


@pytest.mark.parametrize(
    ("how", "url", "expected"),
    [
        # Nothing listens on port 1: refused at once.
        ("option", "postgresql://ada:hunter2-secret@127.0.0.1:1/shop", "cannot reach the database"),
        ("environment", "mysql://ada:hunter2-secret@127.0.0.1/shop", "no driver here for 'mysql'"),
        ("option", "sqlite://", "SQLite needs a file"),
    ],
)
def test_an_unusable_database_url_stops_the_start_without_its_password(project, how, url, expected):
    if how == "option":
        done = start(project, f"--database_url={url}")
    else:
        done = start(project, env={"DATABASE_URL": url})
    said = one_line(done)
    assert expected in said, said
    assert "hunter2" not in said, said


def test_the_readme_tells_the_database_s_commands(project, tmp_path):
    readme = (project / "README.md").read_text()
    run_it = re.search(r"## Run it\n\n```sh\n(.*?)```", readme, re.DOTALL)[1].splitlines()
    assert run_it[-2:] == ["alembic upgrade head", "python app.py --port=8888"], run_it
    section = readme.split("\n## Database (`db/`)\n", 1)[1].split("\n## ", 1)[0]
    for fact in (
        "DATABASE_URL",
        "--database_url",
        "data/app.sqlite3",
        "postgresql://",
        "alembic upgrade head",
        "alembic revision --autogenerate -m",
        "alembic check",
        "/readyz",
        "/healthz",
        "TEST_DATABASE_URL=postgresql://",
    ):
        assert fact in section, fact
    assert "(#database-db)" in readme  # GitHub's anchor of that heading

    plain = render_template(tmp_path / "plain", project_name="Plain")
    readme = (plain / "README.md").read_text()
    assert "alembic" not in readme and "## Database" not in readme


def test_compose_runs_the_app_on_postgresql_migrated_first(tmp_path):
    project = render_template(
        tmp_path / "proj", project_name="Shop", database=True, blog=False, tcp_echo=True
    )
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"app", "migrate", "postgres"}
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:") and postgres["healthcheck"]["test"]
    assert postgres["volumes"] == ["postgres-data:/var/lib/postgresql/data"]
    assert "postgres-data" in compose["volumes"]
    # The password comes from the shell, required; the URL names this service, user and database.
    assert postgres["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    url = services["app"]["environment"]["DATABASE_URL"]
    user, database = (
        postgres["environment"]["POSTGRES_USER"],
        postgres["environment"]["POSTGRES_DB"],
    )
    assert re.fullmatch(
        rf"postgresql://{user}:\$\{{POSTGRES_PASSWORD:\?[^}}]*\}}@postgres/{database}", url
    )
    assert database == "shop"
    migrate = services["migrate"]
    assert migrate["command"] == ["alembic", "upgrade", "head"]
    assert migrate["environment"]["DATABASE_URL"] == url
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["app"]["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"}
    }
    assert "REDIS_URL" not in services["app"]["environment"]

    both = render_template(tmp_path / "both", project_name="Both", database=True, websocket=True)
    services = yaml.safe_load((both / "compose.yaml").read_text())["services"]
    assert set(services) == {"app", "migrate", "postgres", "redis"}
    assert set(services["app"]["depends_on"]) == {"migrate", "redis"}
    assert {"REDIS_URL", "DATABASE_URL"} <= set(services["app"]["environment"])

    no_docker = render_template(tmp_path / "nd", project_name="Shop", database=True, docker=False)
    assert not (no_docker / "compose.yaml").exists()


def test_the_image_keeps_no_database_and_lets_the_app_write_one(tmp_path):
    project = render_template(tmp_path / "proj", project_name="Shop", database=True, blog=False)
    dockerfile = (project / "Dockerfile").read_text()
    made = dockerfile.index("RUN install -d -o app -g app data")
    assert dockerfile.index("COPY --chown=app:app . .") < made < dockerfile.index("USER app")
    assert "data" in (project / ".dockerignore").read_text().split()
    # What .dockerignore keeps out of the image, git keeps out of the repository too.
    assert (project / "data" / ".gitignore").read_text().splitlines()[-2:] == ["*", "!.gitignore"]

    plain = render_template(tmp_path / "plain", project_name="Plain")
    assert "data" not in (plain / ".dockerignore").read_text().split()
    assert "install -d" not in (plain / "Dockerfile").read_text()


def test_ci_runs_the_tests_on_a_postgresql_service(tmp_path):
    github = render_template(tmp_path / "gh", project_name="Shop", database=True, websocket=True)
    job = yaml.safe_load((github / ".github/workflows/ci.yml").read_text())["jobs"]["test"]
    postgres = job["services"]["postgres"]
    assert postgres["image"].startswith("postgres:") and "pg_isready" in postgres["options"]
    assert postgres["ports"] == ["5432:5432"]
    assert job["env"]["TEST_DATABASE_URL"] == "postgresql://postgres@127.0.0.1:5432/postgres"
    assert postgres["env"]["POSTGRES_HOST_AUTH_METHOD"] == "trust"  # as TEST_DATABASE_URL says
    assert job["env"]["REDIS_URL"] and "redis" in job["services"]  # the chat's, still there
    assert job["steps"][-1]["run"] == "python -W error -m pytest"

    gitlab = render_template(
        tmp_path / "gl", project_name="Shop", database=True, blog=False, ci="gitlab"
    )
    job = yaml.safe_load((gitlab / ".gitlab-ci.yml").read_text())["test"]
    assert [(s["name"].split(":")[0], s["alias"]) for s in job["services"]] == [
        ("postgres", "postgres")
    ]
    assert job["services"][0]["variables"]["POSTGRES_HOST_AUTH_METHOD"] == "trust"
    assert job["variables"]["TEST_DATABASE_URL"] == "postgresql://postgres@postgres:5432/postgres"
    assert "REDIS_URL" not in job["variables"]

    plain = render_template(tmp_path / "plain", project_name="Plain")
    job = yaml.safe_load((plain / ".github/workflows/ci.yml").read_text())["jobs"]["test"]
    assert "services" not in job and "env" not in job


class Browser:
    """A client as a browser is one: it keeps cookies, follows redirects, sends forms with
    the XSRF token the page gave it."""

    def __init__(self, base: str) -> None:
        import http.cookiejar
        import urllib.request

        self.base, self.jar = base, http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> tuple[int, str, str]:
        with self.opener.open(self.base + path, timeout=10) as response:
            return response.status, response.geturl(), response.read().decode()

    def post(self, path: str, **fields: str) -> tuple[int, str, str]:
        import urllib.parse

        xsrf = next(cookie.value for cookie in self.jar if cookie.name == "_xsrf")
        body = urllib.parse.urlencode({"_xsrf": xsrf, **fields}).encode()
        with self.opener.open(self.base + path, data=body, timeout=HASHING_WAIT) as response:
            return response.status, response.geturl(), response.read().decode()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_an_entry_composed_over_http_is_read_back_by_both_workers(database, tmp_path):
    """Issue 18: signed up and composed over HTTP, with --processes=2, the entry is on every
    worker's pages: each has its own connections to the one database."""
    project = render_template(tmp_path / "blog", project_name="Two Workers", database=True)
    with contextlib.ExitStack() as stack:
        url = ""
        if database == "postgresql":
            url = stack.enter_context(throw_away_postgresql_database())
        upgrade_database(project, url)
        app = stack.enter_context(running_app(project, "--processes=2", env={"DATABASE_URL": url}))
        client = Browser(app.url)
        client.get("/auth/password/signup")  # its form, and the XSRF cookie
        status, _, page = client.post("/auth/password/signup", name="Ann O'Hara", password="x" * 12)
        assert status == 200 and "Ann O&#x27;Hara" in page, page[:500]
        client.get("/blog/compose")
        title = "Two workers; one table -- DROP TABLE entries"  # stored as written
        status, entry_url, page = client.post(
            "/blog/compose", title=title, markdown="Read by **both** workers."
        )
        assert status == 200 and "/blog/entry/" in entry_url, (entry_url, page[:500])
        for _ in range(12):  # new connections each time, which the kernel spreads over both
            reader = Browser(app.url)
            for path in ("/blog", entry_url.removeprefix(app.url)):
                status, _, page = reader.get(path)
                assert status == 200 and "Two workers; one table -- DROP TABLE entries" in page
            assert "<strong>both</strong>" in page
        assert app.stop() == 0
