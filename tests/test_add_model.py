"""`tornado-scaffold add model NAME FIELD:TYPE... [--api]` (issue 19): a table with every field
type, as pages and as a JSON API, that migrates (`alembic upgrade head`, `alembic check`),
passes its own tests, ruff check and ruff format, on SQLite and on PostgreSQL; and the
refusals, each one line, exit status 2, nothing written."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from checks import (
    POSTGRESQL_SERVER,
    alembic,
    assert_lint_clean,
    assert_own_tests_passed,
    start_own_tests,
    stopped_on_failure,
    throw_away_postgresql_database,
    upgrade_database,
)
from conftest import invoke, render, tree

LONG = "m" * 32  # the longest name and field names: every generated line still fits
EVERY_TYPE = [
    "title:str",
    "body:text",
    "count:int",
    "ratio:float",
    "done:bool",
    "due:date",
    "at:datetime",
    "subtitle:str?",
    "notes:text?",
    "rank:int?",
    "score:float?",
    "until:date?",
    "seen:datetime?",
]
# Fields named like the arguments the handlers read besides the fields (the page of the
# list, the delete button): a field must not be taken for them, nor they for a field.
HANDLER_ARGUMENTS = ["page:int?", "delete:str?"]
LONG_FIELDS = [
    f"{'f' * 30}_{letter}:{kind}"
    for letter, kind in zip(
        "abcdefg", ["datetime?", "str", "text?", "int", "float?", "bool", "date"], strict=True
    )
]


def add(project: Path, home: Path, *args: str):
    return invoke("add", "model", *args, "--project", project, home=home)


def refused(done) -> str:
    """The refusal's one line (after ``error: ``); fails unless it is one line and exit 2."""
    assert done.exit_code == 2, (done.exit_code, done.stdout, done.stderr)
    assert done.stdout == "", done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def alembic_check(project: Path, database_url: str = "") -> None:
    said = alembic(project, "check", database_url=database_url)
    assert "No new upgrade operations detected" in said, said


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("home")


def database_project(tmp_path_factory, home, label: str) -> Path:
    return render(
        tmp_path_factory.mktemp(label) / "proj",
        home,
        database=True,
        blog=False,
        auth_providers="[]",
        docker=False,
    )


@pytest.fixture(scope="module")
def with_models(tmp_path_factory, home):
    """A database project with four models added: pages and --api, each with every type,
    once with ordinary names and once with the longest allowed."""
    project = database_project(tmp_path_factory, home, "with-models")
    for args in (
        ["notes", *EVERY_TYPE, *HANDLER_ARGUMENTS],
        ["items", *EVERY_TYPE, *HANDLER_ARGUMENTS, "--api"],
        [LONG, *LONG_FIELDS],
        [LONG[:-1] + "a", *LONG_FIELDS, "--api", "--route", "/api/v1/long"],
    ):
        done = add(project, home, *args)
        assert done.exit_code == 0, done.stderr
        assert "alembic upgrade head" in done.stdout
    return project


@pytest.fixture(scope="module")
def plain(tmp_path_factory, home):
    """A database project with nothing added (refusals leave it so)."""
    return database_project(tmp_path_factory, home, "plain")


def test_what_a_model_writes_and_registers(with_models):
    # One chain: the template's 0001, then each model's revision after the one before it,
    # each with a random id as Alembic makes them (a later release's 0003 never collides).
    folder = with_models / "db/migrations/versions"
    chain = {}
    for path in folder.glob("*.py"):
        text = path.read_text()
        revision = re.search(r'^revision: str = "(\w+)"', text, re.M).group(1)
        down = re.search(r"^down_revision: .* = (None|\"\w+\")", text, re.M).group(1)
        chain[down.strip('"')] = revision
        assert path.name.endswith(f"_{revision}_{path.name.split('_', 4)[4]}"), path.name
    order, at = [], "None"
    while at in chain:
        at = chain[at]
        order.append(at)
    assert len(order) == len(chain) == 5 and order[:1] == ["0001"], chain
    assert all(re.fullmatch(r"[0-9a-f]{12}", revision) for revision in order[1:]), order
    assert (folder / next(folder.glob(f"*_{order[1]}_notes.py"))).is_file()
    for path in (
        "db/notes.py",
        "handlers/notes.py",
        "templates/notes/list.html",
        "templates/notes/item.html",
        "templates/notes/form.html",
        "tests/test_notes.py",
        "db/items.py",
        "handlers/items.py",
        "tests/test_items.py",
    ):
        assert (with_models / path).is_file(), path
    assert not (with_models / "templates/items").exists()  # --api: no pages
    routes = (with_models / "routes.py").read_text()
    for line in (
        'r"/notes", NotesHandler',
        r'r"/notes/([0-9]+)", NotesHandler',
        'r"/api/items", ItemsApiHandler',
        r'r"/api/items/([0-9]+)", ItemsApiHandler',
        'r"/api/v1/long/([0-9]+)",',
    ):
        assert line in routes, routes
    assert "class Notes(Base):" in (with_models / "db/notes.py").read_text()


def test_models_migrate_and_pass_their_tests_and_ruff_on_sqlite(with_models):
    own = start_own_tests(with_models, browser=False)
    with stopped_on_failure(own):
        assert_lint_clean(with_models)
        upgrade_database(with_models)  # the SQLite file in data/, as the README says
        alembic_check(with_models)
    assert_own_tests_passed(own)


def test_models_migrate_and_pass_their_tests_on_postgresql(with_models):
    with throw_away_postgresql_database() as url:
        upgrade_database(with_models, url)
        alembic_check(with_models, url)
    own = start_own_tests(with_models, env={"TEST_DATABASE_URL": POSTGRESQL_SERVER}, browser=False)
    assert_own_tests_passed(own, postgresql=True)


def test_without_the_database_module_add_model_names_the_update(tmp_path_factory, home):
    project = render(tmp_path_factory.mktemp("no-db") / "proj", home, database=False)
    before = tree(project)
    said = refused(add(project, home, "notes", "title:str"))
    assert "tornado-scaffold update --data database=true" in said, said
    assert tree(project) == before


def commit(project: Path, message: str) -> None:
    git = ["git", "-c", "user.name=User", "-c", "user.email=user@example.invalid"]
    for argv in (["add", "-A"], ["-c", "commit.gpgsign=false", "commit", "-qm", message]):
        subprocess.run([*git, *argv], cwd=project, check=True)


def test_an_update_that_brings_a_revision_beside_a_model_says_to_merge_the_heads(
    tmp_path_factory, home
):
    """Turning the blog on brings its revision 0002 after the template's 0001, where a model
    added before follows 0001 too: two heads. The update says so and names the merge; after
    the command it prints, the revisions have one head, upgrade, and agree with the models."""
    project = database_project(tmp_path_factory, home, "heads")
    assert add(project, home, "books", "title:str").exit_code == 0
    commit(project, "Add model books")
    model = alembic(project, "heads").split()[0]

    preview = invoke("update", project, "--data", "blog=true", "--pretend", home=home)
    assert preview.exit_code == 0, preview.stderr
    assert f"would have 2 heads (0002, {model})" in preview.stdout.replace("\n", " ")
    done = invoke("update", project, "--data", "blog=true", home=home)
    assert done.exit_code == 0, done.stderr
    merge = next(line for line in done.stdout.splitlines() if "merge heads" in line)
    assert merge.split("#")[0].split() == [
        ".venv/bin/alembic",
        *["merge", "heads", "-m", '"merge', 'heads"'],
    ], merge
    assert f"2 heads now (0002, {model})" in merge, merge
    steps = done.stdout.split("Next steps:")[1]
    assert steps.index("merge heads") < steps.index("-m pytest") < steps.index("upgrade head")

    alembic(project, "merge", "heads", "-m", "merge heads")
    assert len(alembic(project, "heads").splitlines()) == 1
    upgrade_database(project)
    alembic_check(project)
    assert_lint_clean(project)  # the merge revision too, written from the project's template


def test_an_update_that_brings_revisions_says_to_upgrade(tmp_path_factory, home):
    project = render(tmp_path_factory.mktemp("no-db-yet") / "proj", home, database=False)
    done = invoke("update", project, "--data", "database=true", home=home)
    assert done.exit_code == 0, done.stderr
    assert ".venv/bin/alembic upgrade head  # new database revisions" in done.stdout
    assert "merge heads" not in done.stdout
    # An update that brings none says nothing of them.
    commit(project, "Update with the database")
    again = invoke("update", project, "--data", "websocket=true", home=home)
    assert again.exit_code == 0, again.stderr
    assert "alembic" not in again.stdout, again.stdout
    # Nor one that removes the database module, its revisions with it.
    commit(project, "Update with the chat")
    removed = invoke("update", project, "--data", "database=false", home=home)
    assert removed.exit_code == 0, removed.stderr
    assert "db/migrations/versions/" in removed.stdout  # listed as removed
    assert "alembic upgrade" not in removed.stdout, removed.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["notes"], "at least one field"),
        (["notes", "title"], "no type"),
        (["notes", "title:string"], "unknown type 'string'"),
        (["notes", "title:str", "title:int"], "given twice"),
        (["notes", "id:int"], "'id'"),
        (["notes", "created:datetime"], "'created'"),
        (["notes", "class:str"], "keyword"),
        (["notes", "Title:str"], "lowercase"),
        (["notes", f"{'f' * 33}:str"], "at most 32"),
        (["notes", "done:bool?"], "drop the ?"),
        (["users", "title:str"], "table 'users' exists already"),
        (["identity", "title:str"], "model class Identity exists already"),
        (["alembic_version", "title:str"], "kept by Alembic"),
        (["engine", "title:str"], "db/engine.py exists already"),
        (["false", "title:str"], "the model class False, a Python keyword"),
        (["none", "title:str", "--api"], "the model class None, a Python keyword"),
    ],
)
def test_bad_models_and_fields_are_refused_and_nothing_is_written(plain, home, args, expected):
    before = tree(plain)
    said = refused(add(plain, home, *args))
    assert expected in said, said
    assert tree(plain) == before


def test_two_heads_or_none_are_refused_naming_alembic_merge_heads(plain, home, tmp_path):
    project = tmp_path / "proj"
    shutil.copytree(plain, project)
    versions = project / "db/migrations/versions"
    first = next(versions.glob("*_0001_*.py"))
    for number in ("0002", "0003"):  # two revisions after 0001: two heads
        text = first.read_text().replace('revision: str = "0001"', f'revision: str = "{number}"')
        text = text.replace(
            "down_revision: str | Sequence[str] | None = None",
            'down_revision: str | Sequence[str] | None = "0001"',
        )
        (versions / f"2026_12_03_{number}_branch.py").write_text(text)
    before = tree(project)
    said = refused(add(project, home, "notes", "title:str"))
    assert "2 heads (0002, 0003)" in said and "alembic merge heads" in said, said
    assert tree(project) == before

    for path in versions.glob("*.py"):
        path.unlink()
    said = refused(add(project, home, "notes", "title:str"))
    assert "no head revision" in said and "alembic merge heads" in said, said


def test_pretend_writes_nothing_and_list_documents_the_types(plain, home):
    before = tree(plain)
    done = add(plain, home, "notes", "title:str", "--pretend")
    assert done.exit_code == 0, done.stderr
    assert "would write db/notes.py" in done.stdout.replace("  ", " ")
    assert tree(plain) == before
    listed = invoke("add", "--list", home=home)
    assert "tornado-scaffold add model NAME FIELD:TYPE... [--api]" in listed.stdout
    for kind in ("str:", "text:", "int:", "float:", "bool:", "date:", "datetime:"):
        assert kind in listed.stdout
    assert "TYPE?" in listed.stdout


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_models_pages_in_chromium(with_models, tmp_path, browser, axe, size):
    """The pages as a visitor meets them, at 1280 and at 390 px: a form sent with missing and wrong values
    comes back with each message tied to its field; sent right, it shows the new item, whose
    page edits it (its form filled with what it holds) and deletes it. No
    console error, no CSP violation, no serious axe-core violation, nothing wider than the
    screen (tests/browser_checks.py)."""
    from playwright.sync_api import expect

    from browser_checks import new_context, open_page, problems
    from conftest import running_app

    project = Path(shutil.copytree(with_models, tmp_path / "pages", symlinks=True))
    upgrade_database(project)
    with running_app(project) as app:
        context = new_context(browser, size)
        watched = open_page(context)
        page = watched.page
        page.goto(app.url + "/notes")
        assert problems(watched, axe) == []
        # What a script could send past the browser's own checks: the server's are the rule.
        page.locator("form.account").evaluate("form => form.setAttribute('novalidate', '')")
        page.get_by_label("Count", exact=True).fill("12.5")
        page.get_by_role("button", name="Add").click()
        for field in ("title", "count"):
            control = page.locator(f"#notes-{field}")
            expect(control).to_have_attribute("aria-invalid", "true")
            expect(control).to_have_attribute("aria-describedby", f"notes-{field}-error")
            expect(page.locator(f"#notes-{field}-error")).to_be_visible()
        assert problems(watched, axe) == []

        page.get_by_label("Title", exact=True).fill("Première <b>")
        page.get_by_label("Body", exact=True).fill("Two\nlines")
        page.get_by_label("Count", exact=True).fill("3")
        page.get_by_label("Ratio", exact=True).fill("0.5")
        page.get_by_label("Done", exact=True).check()
        page.get_by_label("Due", exact=True).fill("2026-12-03")
        page.get_by_label("At (UTC)", exact=True).fill("2026-12-03T10:30")
        page.get_by_role("button", name="Add").click()
        expect(page.locator("h1")).to_have_text("Notes #1")
        expect(page.locator("dd").first).to_have_text("Première <b>")  # as text, escaped
        assert problems(watched, axe) == []
        page.get_by_role("link", name="All of notes").click()
        expect(page.get_by_role("link", name="#1")).to_be_visible()

        # The item's page edits it, its form filled with what it holds, and deletes it.
        page.get_by_role("link", name="#1").click()
        expect(page.get_by_label("Due", exact=True)).to_have_value("2026-12-03")
        expect(page.get_by_label("Done", exact=True)).to_be_checked()
        page.get_by_label("Title", exact=True).fill("Second")
        page.get_by_label("Done", exact=True).uncheck()
        page.get_by_role("button", name="Save").click()
        expect(page.locator("h1")).to_have_text("Notes #1")
        expect(page.locator("dd").first).to_have_text("Second")
        expect(page.get_by_label("Done", exact=True)).not_to_be_checked()
        expect(page.get_by_label("At (UTC)", exact=True)).to_have_value("2026-12-03T10:30")
        assert problems(watched, axe) == []
        page.get_by_role("button", name="Delete notes #1").click()
        expect(page.locator("h1")).to_have_text("Notes")
        expect(page.get_by_text("Nothing yet")).to_be_visible()
        context.close()


def test_the_generated_readme_adds_a_model_too(plain, home, tmp_path, monkeypatch):
    """With the database module, the README's `add` commands include a model: run as written."""
    import shlex

    project = Path(shutil.copytree(plain, tmp_path / "proj", symlinks=True))
    section = (project / "README.md").read_text().split("## Grow it", 1)[1].split("\n## ", 1)[0]
    lines = re.search(r"```sh\n(.*?)```", section, re.DOTALL).group(1).splitlines()
    assert any(" add model " in line for line in lines), lines
    monkeypatch.chdir(project)
    for line in lines:
        done = invoke(*shlex.split(line, comments=True)[1:], home=home)
        assert done.exit_code == 0, (line, done.stderr)
    assert_lint_clean(project)
