"""What every generated project must pass, whatever its options: shared by the test modules."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import yaml

import warm

REPO = Path(__file__).resolve().parents[1]
COPIER_YML = yaml.safe_load((REPO / "copier.yml").read_text())
QUESTION_KEYS = [k for k in COPIER_YML if not k.startswith("_")]
SIGN_IN_PROVIDERS: dict[str, dict] = COPIER_YML["sign_in_providers"]["default"]
# The providers that keep their accounts in the project's database: copier.yml refuses them
# without database=true (test_variants checks that it does, and that no other is refused).
NEEDS_DATABASE = ("password",)
# How long a test waits for a page that hashes a password (sign-up, sign-in, a change of
# password). The hash is 0.2 s of one core, but its thread runs at nice +10 (the generated
# auth/passwords.py), so on a machine the rest of the suite and Chromium keep busy it waits
# its turn for seconds: CI once took more than 5 s over one sign-up.
HASHING_WAIT = 30.0  # seconds

# Copier syntax that must never survive rendering. Tornado templates legitimately use
# {{ }} and {% %}, so look for Copier's own names and Jinja-only keywords instead (Tornado's
# own {% raw expression %} has an expression; Jinja's {% raw %} has none).
_KEYS = "|".join(QUESTION_KEYS) + r"|_copier\w*"
LEFTOVER_BLOCK = re.compile(
    r"\{%-?\s*((if|elif|for)\s+(not\s+)?(" + _KEYS + r")\b|end(if|for|raw)\b|raw\s*-?%\})"
)
LEFTOVER_VALUE = re.compile(r"\{\{-?\s*(" + _KEYS + r")\b")


# Tests that need a server or a program the machine may lack (redis-server, node, a browser)
# skip with the reason on a user's machine; CI sets TORNADO_SCAFFOLD_REQUIRE=1 so that a
# missing one fails the run instead of passing it quietly.
REQUIRE_ALL = os.environ.get("TORNADO_SCAFFOLD_REQUIRE") == "1"


def require(available: bool, reason: str) -> None:
    """Skip (or, under CI, fail) the calling test when ``available`` is false."""
    import pytest

    if available:
        return
    if REQUIRE_ALL:
        pytest.fail(f"required by TORNADO_SCAFFOLD_REQUIRE=1: {reason}")
    pytest.skip(reason)


def assert_no_copier_leftovers(project: Path) -> None:
    for path in project.rglob("*"):
        rel = path.relative_to(project).as_posix()
        if rel == ".git" or rel.startswith(".git/"):
            continue
        assert ".jinja" not in path.name and "{" not in rel, f"unrendered name: {rel}"
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            match = LEFTOVER_BLOCK.search(text)
            if not rel.startswith("templates/"):  # Tornado templates may print project_name
                match = match or LEFTOVER_VALUE.search(text)
            assert match is None, f"unrendered Copier syntax in {rel}: {match.group(0)!r}"


def assert_markdown_tables_end(project: Path) -> None:
    """Every table of the README ends with a blank line: a line of text right under a table
    is read as one more row of it (Jinja's whitespace control can eat that blank line)."""
    lines = (project / "README.md").read_text(encoding="utf-8").splitlines()
    for number, (line, after) in enumerate(itertools.pairwise(lines), start=2):
        glued = line.startswith("|") and after.strip() and not after.startswith("|")
        assert not glued, f"README.md line {number} runs into the table above it: {after!r}"


def assert_tornado_templates_compile(project: Path) -> None:
    import tornado.template

    root = project / "templates"
    loader = tornado.template.Loader(str(root))
    for path in [*root.rglob("*.html"), *root.rglob("*.xml")]:  # blog/ and its Atom feed too
        loader.load(path.relative_to(root).as_posix())  # raises on a syntax error


def run(argv: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def install_into(site: Path, project: Path) -> None:
    """``pip install --target site project``: the project as a wheel installs it (its
    dependencies are this environment's), for ``PYTHONPATH=site``."""
    done = run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
        + ["--target", str(site), str(project)],
        project.parent,
    )
    assert done.returncode == 0, done.stderr


@functools.cache
def _ruff() -> str:
    """The ruff binary that ``python -m ruff`` would run, called without that Python start
    (about 40 ms of CPU, twice per linted project: some 14 s over a run)."""
    from ruff.__main__ import find_ruff_bin

    return os.fsdecode(find_ruff_bin())


def assert_lint_clean(project: Path) -> None:
    for argv in (["check", "--no-cache", "."], ["format", "--no-cache", "--check", "."]):
        done = run([_ruff(), *argv], project)
        assert done.returncode == 0, f"ruff {argv[0]}:\n{done.stdout}{done.stderr}"


@functools.cache
def _template_source() -> str:
    """A plain copy of the working template (copier.yml and template/), once per process.

    Rendering from a folder that is not a git repository renders exactly the files on disk,
    as they are now; the release history and the CLI around it are tested elsewhere.
    """
    source = Path(tempfile.mkdtemp(prefix="template-"))
    atexit.register(shutil.rmtree, source, True)
    shutil.copy2(REPO / "copier.yml", source / "copier.yml")
    shutil.copytree(REPO / "template", source / "template")
    return str(source)


@functools.cache
def cache_jinja_compilation() -> None:
    """Compile each Jinja source once per process, not once per render.

    Copier makes a new Jinja environment for each project and compiles every file and
    every path part again: about 0.2 s of CPU of a 0.26 s render here, over the matrix's
    128 renders. Environments configured alike compile a source to the same code, so the
    code is kept, keyed by the source and the configuration that shapes it.
    ``TORNADO_SCAFFOLD_NO_JINJA_CACHE=1`` leaves Copier to compile as it does for a user.
    """
    if os.environ.get("TORNADO_SCAFFOLD_NO_JINJA_CACHE"):
        return
    import jinja2

    compile_source = jinja2.Environment.compile
    compiled: dict[tuple, object] = {}

    def compile_once(self, source, name=None, filename=None, raw=False, defer_init=False):
        if not isinstance(source, str) or callable(self.autoescape):
            return compile_source(self, source, name, filename, raw, defer_init)
        key = (
            type(self),
            source,
            name,
            filename,
            raw,
            defer_init,
            self.autoescape,
            tuple(sorted(self.extensions)),
            tuple(getattr(self, option) for option in _JINJA_SYNTAX),
        )
        if key not in compiled:
            compiled[key] = compile_source(self, source, name, filename, raw, defer_init)
        return compiled[key]

    jinja2.Environment.compile = compile_once


_JINJA_SYNTAX = (
    "block_start_string",
    "block_end_string",
    "variable_start_string",
    "variable_end_string",
    "comment_start_string",
    "comment_end_string",
    "line_statement_prefix",
    "line_comment_prefix",
    "trim_blocks",
    "lstrip_blocks",
    "newline_sequence",
    "keep_trailing_newline",
    "optimized",
)


def render_template(dest: Path, **answers: object) -> Path:
    """Render the working template into ``dest`` in this process, as ``new`` renders it."""
    from tornado_scaffold.copier_adapter import run_copy_new

    cache_jinja_compilation()
    run_copy_new(
        src_path=_template_source(),
        dst_path=dest,
        data={"git_init": False, **answers},
        defaults=True,
        quiet=True,
        unsafe=False,
    )
    return dest


# The generated tests that freeze and kill a private Redis (about 14 s of waiting each run):
# they exercise chat/room.py and chat/redis_room.py, the same files in every variant with the
# chat, so the matrix runs them in the variants without sign-in and the every-module project.
REDIS_TROUBLE = "tests/test_chat_redis.py::RedisTroubleTest"


def own_tests_command(
    project: Path, browser: bool = True, redis_trouble: bool = True, collect_only: bool = False
) -> list[str]:
    """``python -W error -m pytest`` for a generated project, as its README says, plus:

    - faulthandler_timeout: a run that hangs prints where (passing runs are not affected);
    - a --basetemp of its own: runs in parallel would otherwise share pytest's numbered
      folders in the system temp, and pytest 9.2 leaves a directory iterator open when another
      run removes a folder under it, which -W error turns into a failed run;
    - without ``browser``, its Chromium tests (tests/test_pages_browser.py) deselected: the
      variant matrix leaves them to the base and every-module projects, as they cost seconds;
    - without ``redis_trouble``, its ``REDIS_TROUBLE`` cases deselected (see there);
    - with ``collect_only``, its tests collected and not run: each test module (and the
      project's code it imports) imports under ``-W error``, which is what the variant matrix
      asks of the variants whose tests another variant runs (test_variants.OWN_TESTS_RUN).
    """
    trouble = (project / REDIS_TROUBLE.partition("::")[0]).exists() and not redis_trouble
    return [
        *[sys.executable, "-W", "error", "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        *["-o", "faulthandler_timeout=60", f"--basetemp={own_basetemp(project)}"],
        *([] if browser else ["--deselect", "tests/test_pages_browser.py"]),
        *(["--deselect", REDIS_TROUBLE] if trouble else []),
        *(["--collect-only"] if collect_only else []),
    ]


def own_basetemp(project: Path) -> Path:
    """pytest's temporary folder for a generated project's own tests, beside the project."""
    return project.parent / f"{project.name}-pytest-tmp"


def start_own_tests(
    project: Path,
    env: dict[str, str] | None = None,
    browser: bool = True,
    redis_trouble: bool = True,
    collect_only: bool = False,
) -> subprocess.Popen[str] | warm.Process:
    """The project's own tests, started in the background (see assert_own_tests_passed):
    ``python -W error -m pytest``, in a fork of the warm interpreter where possible."""
    command = own_tests_command(project, browser, redis_trouble, collect_only)
    # A database project's tests run on SQLite unless the caller names a PostgreSQL server:
    # not on whatever TEST_DATABASE_URL this run inherited (.ci/run exports one).
    env = {"TEST_DATABASE_URL": "", **(env or {})}
    if warm.available():
        return warm.Process(project, "pytest", command[5:], env)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    return subprocess.Popen(
        command,
        cwd=project,
        # No plugins but the project's own: the generator's (xdist...) would only add start-up.
        env={
            **clean,
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
            **env,
        },
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextlib.contextmanager
def stopped_on_failure(own_tests: subprocess.Popen[str] | warm.Process) -> Iterator[None]:
    """Around what runs beside a project's own tests (start_own_tests): when it fails, stop
    them, so that no run outlives its test."""
    try:
        yield
    except BaseException:
        own_tests.kill()
        own_tests.communicate()
        raise


def assert_own_tests_passed(
    process: subprocess.Popen[str] | warm.Process,
    timeout: float = 120,
    postgresql: bool = False,
    collected: bool = False,
) -> str:
    """The project's own tests passed, silently, and skipped nothing they should have run
    (``postgresql``: they ran on PostgreSQL, so not even its PostgreSQL-only cases;
    ``collected``: they were only collected, start_own_tests(collect_only=True), and were).

    A run forked from the warm interpreter fails once it has printed nothing for ``timeout``
    seconds (a hung test prints where it hangs after 60: own_tests_command), not after
    ``timeout`` in all: the every-module project's 300 tests took 40 s alone (25 s since its
    tests hash passwords cheaply, 0.5.1) and over
    120 s in CI beside the heaviest tests, all started first. Every run gets a deadline of
    four times that in all (a fresh interpreter's, TORNADO_SCAFFOLD_COLD=1, only that: its
    output is a pipe)."""
    forked = isinstance(process, warm.Process)
    try:
        if forked:
            stdout, stderr = process.communicate(timeout=4 * timeout, silence=timeout)
        else:
            stdout, stderr = process.communicate(timeout=4 * timeout)
    except subprocess.TimeoutExpired as expired:
        stalled = forked and expired.timeout == timeout
        said = process.output()[-6000:] if forked else ""
        raise AssertionError(
            f"generated tests {'printed nothing for' if stalled else 'still running after'}"
            f" {expired.timeout} s:\n{said}"
        ) from None
    assert process.returncode == 0, f"generated tests failed:\n{stdout[-4000:]}{stderr[-2000:]}"
    if collected:
        assert re.search(r"^\d+(/\d+)? tests collected", stdout, re.M), stdout[-4000:]
        assert " warning" not in stdout and " error" not in stdout, stdout[-4000:]
        return stdout
    assert re.search(r"\d+ passed", stdout) and " warning" not in stdout, stdout
    # Generated tests skip without a Redis; in CI (TORNADO_SCAFFOLD_REQUIRE=1) that hides them.
    # Only the PostgreSQL cases may skip, in a run on SQLite (no TEST_DATABASE_URL given):
    # the runs that give it run them.
    skips = [line for line in stdout.splitlines() if line.startswith("SKIPPED")]
    hidden = [line for line in skips if postgresql or POSTGRESQL_ONLY not in line]
    if " skipped" in stdout and not skips:  # no reasons shown (-ra): count them all as hidden
        hidden = ["skipped"]
    assert not (REQUIRE_ALL and hidden), f"generated tests skipped:\n{stdout}"
    assert not (postgresql and skips), f"tests skipped on PostgreSQL:\n{stdout}"
    return stdout


# The reason a generated database test gives when it skips for want of TEST_DATABASE_URL.
POSTGRESQL_ONLY = "on PostgreSQL only: set TEST_DATABASE_URL"


def assert_own_tests_pass(project: Path, **options: bool) -> str:
    return assert_own_tests_passed(start_own_tests(project, **options))


# --- the database module --------------------------------------------------------------------

# The PostgreSQL server on which the tests make their throw-away databases: the variable the
# generated projects' own tests read for the same purpose (tests/database.py there), else a
# local server that trusts its postgres user, as CI's machine runs it.
POSTGRESQL_SERVER = (
    os.environ.get("TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1/postgres"
)


async def _postgresql(statement: str | None, database: str | None = None) -> None:
    import asyncpg  # the generated projects' PostgreSQL driver, in the test extra

    connection = await asyncpg.connect(POSTGRESQL_SERVER, database=database, timeout=5)
    try:
        if statement:
            await connection.execute(statement)
    finally:
        await connection.close()


@functools.cache
def postgresql_unreachable() -> str:
    """Why ``POSTGRESQL_SERVER`` cannot be used by these tests; empty when it can."""
    try:
        asyncio.run(_postgresql(None))
    except Exception as error:  # refused, unknown host, authentication, no asyncpg...
        detail = " ".join(str(error).split())[:200]
        return f"no PostgreSQL at TEST_DATABASE_URL or {POSTGRESQL_SERVER}: {detail}"
    return ""


def require_postgresql() -> None:
    """Skip (under CI: fail) unless a PostgreSQL server is there for a throw-away database."""
    reason = postgresql_unreachable()
    require(not reason, reason)


@contextlib.contextmanager
def throw_away_postgresql_database() -> Iterator[str]:
    """A new, empty PostgreSQL database on ``POSTGRESQL_SERVER``, dropped afterwards (with any
    connection still open to it): yields its URL."""
    require_postgresql()
    name = f"scaffold_{os.getpid()}_{os.urandom(4).hex()}"
    asyncio.run(_postgresql(f'CREATE DATABASE "{name}"'))
    try:
        yield _with_database(POSTGRESQL_SERVER, name)
    finally:
        asyncio.run(_postgresql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _with_database(url: str, name: str) -> str:
    """``url`` naming the database ``name`` instead of its own."""
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def alembic(project: Path, *args: str, database_url: str = "") -> str:
    """``alembic ARGS`` in ``project`` on ``database_url`` (by default, as its README says,
    the SQLite file in its data/ folder); what it printed, once it has succeeded."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if database_url:
        env["DATABASE_URL"] = database_url
    done = subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"alembic {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr


def upgrade_database(project: Path, database_url: str = "") -> None:
    """``alembic upgrade head`` in ``project``, as its README says."""
    alembic(project, "upgrade", "head", database_url=database_url)
