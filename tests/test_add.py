"""`tornado-scaffold add page|api|socket` (issue 19): a project grows one piece at a time.

A project made by `new` gets a page, an API and a socket; then it is linted, its own
tests run, and it boots and answers real clients: a browser (Chromium, at a phone's width,
with axe-core), an HTTP client posting JSON and the `websockets` library. Every refusal is
one line and exit 2 with the project byte for byte as it was; so is --pretend, and so is an
add interrupted at any of its writes.
"""

from __future__ import annotations

import datetime
import json
import keyword
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tornado_scaffold import model_parts, routes_file
from tornado_scaffold.commands import add as adding
from tornado_scaffold.errors import ScaffoldError

from browser_checks import new_context, open_page, problems
from checks import assert_lint_clean
from conftest import http_get, invoke, render, running_app, tree


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory, home: Path) -> Path:
    """A new project, as `new --defaults` makes it (read-only: tests copy it)."""
    return render(tmp_path_factory.mktemp("made") / "grown", home, docker=False)


@pytest.fixture
def project(made: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(made, tmp_path / "grown", symlinks=True))


@pytest.fixture(scope="module")
def grown(made: Path, home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project with a page, an API and a socket added, each with its options."""
    project = Path(shutil.copytree(made, tmp_path_factory.mktemp("grown") / "grown"))
    for args in (
        ("page", "about_us"),
        ("page", "contact", "--route", "/contact-us"),
        ("api", "notes"),
        ("socket", "live"),
    ):
        done = invoke("add", *args, "--project", project, home=home)
        assert done.exit_code == 0, done.stderr
        assert "Next steps:" in done.stdout and "pytest tests/test_" in done.stdout
    return project


def test_what_add_writes_is_lint_clean_and_its_tests_pass(grown):
    text = (grown / "routes.py").read_text()
    assert '# e.g. tornado.web.url(r"/faq", FaqHandler' in text  # the file's comment stays
    for line in (
        "from handlers.about_us import AboutUsHandler",
        'tornado.web.url(r"/contact-us", ContactHandler, name="contact")',
        'tornado.web.url(r"/api/notes/([0-9]+)", NotesApiHandler, name="notes_item")',
        'tornado.web.url(r"/ws/live", LiveSocketHandler, name="live")',
    ):
        assert line in text, text
    assert_lint_clean(grown)
    # The added tests (the whole suite of a project with additions runs in
    # test_release_upgrade.py's update case).
    added = ["tests/test_about_us.py", "tests/test_contact.py", "tests/test_notes.py"]
    done = subprocess.run(
        [
            sys.executable,
            "-W",
            "error",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            *added,
            "tests/test_live.py",
        ],
        cwd=grown,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "13 passed" in done.stdout, done.stdout + done.stderr


def test_the_added_pieces_answer_real_clients(grown, browser, axe):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with running_app(grown) as app:
        page = http_get(app.url + "/about_us")
        assert page.status == 200 and "<h1>About us</h1>" in page.body
        assert http_get(app.url + "/contact-us").status == 200

        request = urllib.request.Request(
            app.url + "/api/notes",
            data=json.dumps({"title": "Bought <milk>"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as created:
            assert created.status == 201
            location = created.headers["Location"]
        assert location == "/api/notes/1"
        read = http_get(app.url + location)
        assert json.loads(read.body) == {"id": 1, "title": "Bought <milk>"}
        form = urllib.request.Request(app.url + "/api/notes", data=b"title=x")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(form, timeout=10)
        assert refused.value.code == 403  # a form without the XSRF token

        socket_url = app.url.replace("http://", "ws://") + "/ws/live"
        with connect(socket_url, origin=app.url, open_timeout=10) as client:
            client.send("ping ✓")
            assert client.recv(timeout=10) == "ping ✓"
        with pytest.raises(InvalidStatus) as foreign:
            connect(socket_url, origin="https://elsewhere.example", open_timeout=10)
        assert foreign.value.response.status_code == 403

        # The page as a visitor meets it: in the site's layout, on a desktop and a phone,
        # accessible.
        for size in ("desktop", "phone"):
            context = new_context(browser, size)
            watched = open_page(context)
            watched.page.goto(app.url + "/about_us")
            assert watched.page.locator("header.site-header").count() == 1
            assert watched.page.locator("h1").inner_text() == "About us"
            assert problems(watched, axe) == [], size
            context.close()


def test_pretend_prints_the_change_and_writes_nothing(project, home):
    before = tree(project)
    done = invoke("add", "page", "about", "--pretend", "--project", project, home=home)
    assert done.exit_code == 0, done.stderr
    assert tree(project) == before
    assert "would write  handlers/about.py" in done.stdout
    assert "would change routes.py" in done.stdout
    assert '+    tornado.web.url(r"/about", AboutHandler, name="about"),' in done.stdout
    assert "Nothing was written (--pretend)." in done.stdout


def test_add_lists_what_it_knows(home):
    listed = invoke("add", "--list", "--json", home=home)
    assert listed.exit_code == 0, listed.stderr
    kinds = {kind["kind"]: kind for kind in json.loads(listed.stdout)}
    assert {"page", "api", "socket"} <= set(kinds)
    assert kinds["page"]["files"] == [
        "handlers/{name}.py",
        "templates/{name}.html",
        "tests/test_{name}.py",
    ]
    assert kinds["api"]["route"] == "/api/{name}" and kinds["page"]["changes"] == ["routes.py"]
    text = invoke("add", "--list", home=home)
    assert text.exit_code == 0 and "tornado-scaffold add socket NAME" in text.stdout


REFUSALS = [
    (("page", "About"), "is not a lowercase Python identifier"),
    (("page", "9lives"), "is not a lowercase Python identifier"),
    (("page", "about-us"), "is not a lowercase Python identifier"),
    (("page", "café"), "is not a lowercase Python identifier"),
    (("page", ""), "is not a lowercase Python identifier"),
    (("page", "a" * 33), "longer than 32 characters"),
    (("page", "class"), "is a Python keyword"),
    (("api", "match"), "is a Python keyword"),
    (("page", "tornado"), "a package the project installs"),
    (("socket", "sqlalchemy"), "a package the project installs"),
    (("page", "app"), "taken by the project's own 'app' module"),
    (("page", "health"), "taken by the project's own 'health' module"),
    (("api", "index"), "route name 'index' is taken in app.py"),
    (("page", "healthz"), "route /healthz is served already"),
    (("page", "x", "--route", "/readyz"), "route /readyz is served already"),
    (("page", "x", "--route", "/favicon.ico"), "route /favicon.ico is served already"),
    (("page", "x", "--route", "/static/x"), "route /static/x is served already"),
    (("page", "x", "--route", "about"), "is not a path"),
    (("page", "x", "--route", "/a b"), "is not a path"),
    (("page", "x", "--route", "/about/"), "ends with /"),
    (("page", "x", "--route", "/a/../b"), "has a . or .. segment"),
    (("page", "x", "--route", "/./x"), "has a . or .. segment"),
    (("page", "x", "--route", "/" + "a" * 64), "longer than 64 characters"),
]


@pytest.mark.parametrize(
    ("args", "said"), REFUSALS, ids=lambda v: " ".join(v) if isinstance(v, tuple) else None
)
def test_a_refusal_is_one_line_exit_2_and_nothing_written(project, home, args, said):
    before = tree(project)
    done = invoke("add", *args, "--project", project, home=home)
    assert done.exit_code == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert said in done.stderr, done.stderr
    assert tree(project) == before


def refused(project: Path, home: Path, *args: str) -> str:
    before = tree(project)
    done = invoke("add", *args, "--project", project, home=home)
    assert done.exit_code == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert tree(project) == before
    return done.stderr


def test_collisions_with_what_is_there_are_refused(grown, home, tmp_path):
    project = Path(shutil.copytree(grown, tmp_path / "p", symlinks=True))
    assert "handlers/about_us.py exists already" in refused(project, home, "page", "about_us")
    assert "route /api/notes is served already" in refused(
        project, home, "api", "more_notes", "--route", "/api/notes"
    )
    assert "route /contact-us is served already" in refused(
        project, home, "socket", "chat_socket", "--route", "/contact-us"
    )
    (project / "handlers" / "mine.py").write_text("class ShopHandler:\n    pass\n")
    assert "class ShopHandler exists already in handlers/mine.py" in refused(
        project, home, "page", "shop"
    )
    (project / "handlers" / "mine.py").write_text(
        "import tornado.web\n\nR = [tornado.web.url(r'/shelf/(.*)', object, name='shelf')]\n"
    )
    assert "route /shelf/books is served already" in refused(
        project, home, "page", "books", "--route", "/shelf/books"
    )


def test_a_routes_py_that_add_cannot_read_is_named(project, home):
    routes = project / "routes.py"
    routes.write_text('"""Mine."""\n\nPATHS = []\n')
    said = refused(project, home, "page", "about")
    assert "routes.py: no module-level `ROUTES = [...]` list" in said
    routes.write_text("ROUTES = [\n")
    assert "routes.py is not valid Python" in refused(project, home, "page", "about")
    routes.write_text("ROUTES = dict()\n")
    assert "ROUTES is assigned something other than a list" in refused(project, home, "page", "x")
    routes.write_text("import tornado.web\n\nfrom pages import AboutHandler\n\nROUTES = []\n")
    assert "routes.py has a AboutHandler already" in refused(project, home, "page", "about")
    routes.unlink()
    assert "routes.py is missing" in refused(project, home, "page", "about")
    (project / "mine.py").write_text("ROUTES = []\n")
    routes.symlink_to(project / "mine.py")
    assert "routes.py is not a plain file" in refused(project, home, "page", "about")


def test_a_write_the_system_refuses_is_one_line_and_undone(project, home, monkeypatch):
    """As for a folder this user may not write to (root, who runs these tests, may)."""
    before = tree(project)
    real_open = open

    def refusing_open(path, mode="r", *args, **kwargs):
        if "x" in mode and str(path).endswith("test_about.py"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(adding, "open", refusing_open, raising=False)
    said = refused(project, home, "page", "about")
    assert "cannot write" in said and "Permission denied: the project was left as it was" in said
    assert tree(project) == before


def test_projects_add_cannot_serve_are_refused_naming_what_to_do(project, home, tmp_path):
    assert "is not a folder" in refused(tmp_path / "missing", home, "page", "about")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "was not generated by tornado-scaffold" in refused(empty, home, "page", "about")
    answers = project / ".copier-answers.yml"
    text = answers.read_text()
    version = re.search(r"_commit: (\S+)", text).group(1)
    answers.write_text(text.replace(f"_commit: {version}", "_commit: 0.4.0"))
    said = refused(project, home, "page", "about")
    assert "from before `add`" in said and "run `tornado-scaffold update` first" in said
    answers.write_text(text.replace(f"_commit: {version}", "_commit: 99.0.0"))
    assert "newer than this tornado-scaffold" in refused(project, home, "page", "about")


@pytest.mark.parametrize("failing_at", range(4))
def test_an_add_interrupted_at_any_write_leaves_the_project_as_it_was(
    project, home, monkeypatch, failing_at
):
    """Ctrl-C (a KeyboardInterrupt) at each filesystem step of `add page`: the three new
    files, their folder's creation and the replacement of routes.py."""
    before = tree(project)
    steps = []
    real_open, real_replace = open, adding._replace

    def counted(step):
        steps.append(step)
        if len(steps) - 1 == failing_at:
            raise KeyboardInterrupt

    def interrupted_open(path, mode="r", *args, **kwargs):
        if "x" in mode:
            counted(("open", path))
        return real_open(path, mode, *args, **kwargs)

    def interrupted_replace(target, text):
        counted(("replace", target))
        return real_replace(target, text)

    monkeypatch.setattr(adding, "open", interrupted_open, raising=False)
    monkeypatch.setattr(adding, "_replace", interrupted_replace)
    with pytest.raises(KeyboardInterrupt):
        adding.add("page", "about", project)
    assert tree(project) == before
    assert not (project / "handlers" / "about.py").exists()


# --- names: any text is refused in one line, or makes code that parses and fits ---------


@settings(max_examples=200, deadline=None)
@given(
    name=st.one_of(
        st.text(max_size=40),
        st.from_regex(adding.NAME_RULE, fullmatch=True),
        st.from_regex(r"[a-z][a-z0-9_]{24,34}", fullmatch=True),  # about the longest
    )
)
def test_any_name_is_refused_in_one_line_or_makes_valid_code(name):
    try:
        adding.check_name(name, ["tornado", "redis"])
    except ScaffoldError as error:
        assert "\n" not in " ".join(str(error).split()) and str(error)
        return
    assert name.isidentifier() and name.isascii() and len(name) <= adding.MAX_NAME
    for kind in adding.KINDS.values():
        if kind.name == "model" and keyword.iskeyword(adding.camel_case(name)):
            continue  # refused: test_add_model.py
        route = adding.check_route(kind.route.format(name=name))
        for part, text in rendered(kind, name, route).items():
            if part.endswith(".py"):  # compiles, and fits ruff's line length
                compile(text, part, "exec")
                for line in text.splitlines():
                    assert len(line) <= routes_file.LINE_LENGTH, line


def rendered(kind: adding.Kind, name: str, route: str) -> dict[str, str]:
    """Every part of ``kind`` rendered for ``name`` (a model: pages and --api, one field of
    each type, each as long as a name may be)."""
    texts = {}
    for api in (False, True) if kind.api_parts else (False,):
        context = {
            "name": name,
            "title": name.replace("_", " ").capitalize(),
            "class_name": adding.class_name(kind, name, api),
            "camel": adding.camel_case(name),
            "route": route,
            "route_name": name,
            "project": {},
        }
        if kind.name == "model":
            fields = model_parts.parse_fields(
                [f"{type_name[0]}{'_' * 30}{n}:{type_name}" for n, type_name in enumerate(TYPES)]
            )
            model = adding.camel_case(name)
            today = datetime.date(2026, 12, 3)
            context |= model_parts.model_context(name, model, fields, "0003", "0002", today)
        for part, _ in kind.api_parts if api else kind.parts:
            texts[f"{'api/' if api else ''}{part}"] = adding.render(kind.name, part, context)
    return texts


TYPES = list(model_parts.FIELD_TYPES)


def test_the_longest_names_and_routes_make_ruff_clean_code(made, home, tmp_path):
    """What the property above checks by line length, ruff checks on the extremes."""
    project = Path(shutil.copytree(made, tmp_path / "p", symlinks=True))
    longest = "a" + "_b" * 15 + "c"  # 32 characters, 16 words: the longest class names
    assert len(longest) == adding.MAX_NAME
    route = "/" + "-".join(["x" * 10] * 6)[:63]
    for kind, name, args in (
        ("page", longest, ()),
        ("api", longest[:-1] + "d", ("--route", route)),
        ("socket", longest[:-1] + "e", ()),
        ("page", "z" * 32, ("--route", "/" + "y" * 63)),
    ):
        done = invoke("add", kind, name, "--project", project, *args, home=home)
        assert done.exit_code == 0, done.stderr
    assert_lint_clean(project)


def test_the_generated_readme_says_how_to_grow_the_project(project, home, monkeypatch):
    """The generated README's `add` commands, run as written in the project folder."""
    import shlex

    readme = (project / "README.md").read_text()
    section = readme.split("## Grow it", 1)[1].split("\n## ", 1)[0]
    lines = re.search(r"```sh\n(.*?)```", section, re.DOTALL).group(1).splitlines()
    assert len(lines) >= 4, lines
    monkeypatch.chdir(project)
    for line in lines:
        argv = shlex.split(line, comments=True)
        assert argv[:2] == ["tornado-scaffold", "add"], line
        done = invoke(*argv[1:], home=home)
        assert done.exit_code == 0, (line, done.stderr)
    assert_lint_clean(project)
