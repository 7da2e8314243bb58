"""`add`'s edits of a project's routes.py (routes_file) and its checks of names and routes,
in process: the user's comments and layout survive, in every shape the file may take."""

from __future__ import annotations

import string

import pytest

from tornado_scaffold import routes_file
from tornado_scaffold.commands import add as adding
from tornado_scaffold.errors import ScaffoldError


def test_routes_py_keeps_the_users_comments_and_layout():
    source = (
        '"""Ours."""\n\nimport tornado.web\n\nfrom handlers.b import BHandler  # b first\n'
        "from handlers.z import ZHandler\n\n\n# The routes, in order.\n"
        'ROUTES = [\n    tornado.web.url(r"/b", BHandler),  # bee\n\n    # z next\n'
        '    tornado.web.url(r"/z", ZHandler),\n    # more below\n]\n\nOTHER = 1  # kept\n'
    )
    new = routes_file.Route("/c", "CHandler", "c", "handlers.c")
    changed = routes_file.add_routes(source, [new])
    assert changed == source.replace(
        "from handlers.z", "from handlers.c import CHandler\nfrom handlers.z"
    ).replace(
        "    # more below\n]",
        '    # more below\n    tornado.web.url(r"/c", CHandler, name="c"),\n]',
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("ROUTES = []\n", "import tornado.web\n\nfrom handlers.c import CHandler\n\nROUTES = [\n"),
        (
            "from tornado.web import url\nROUTES = [url(r'/a', A)]  # x\n",
            'ROUTES = [\n    url(r\'/a\', A),\n    url(r"/c", CHandler, name="c"),\n]  # x\n',
        ),
        (
            "import tornado.web\n\nfrom handlers.c import Other\n\nROUTES: list = [\n]\n",
            "from handlers.c import CHandler, Other\n",
        ),
    ],
)
def test_routes_py_in_other_shapes(source, expected):
    changed = routes_file.add_routes(
        source, [routes_file.Route("/c", "CHandler", "c", "handlers.c")]
    )
    assert expected in changed, changed
    compile(changed, "routes.py", "exec")


def test_route_names_and_patterns_are_written_as_literals():
    assert adding._pattern("/a.b/c-d~e") == r"/a\.b/c-d~e"
    for bad in ("/a'b", '/a"b', "/a\\b", "/(x)", "/a?b", "/a#b", "/%41"):
        with pytest.raises(ScaffoldError):
            adding.check_route(bad)
    assert set(string.ascii_letters + string.digits + "-._~/") >= set("/a.b/c-d~e")


def test_a_crlf_routes_py_stays_crlf():
    source = "import tornado.web\r\n\r\nROUTES = [\r\n    # ours\r\n]\r\n"
    changed = routes_file.add_routes(
        source, [routes_file.Route("/c", "CHandler", "c", "handlers.c")]
    )
    assert "\n" not in changed.replace("\r\n", ""), repr(changed)
    assert "from handlers.c import CHandler\r\n" in changed


def test_the_import_goes_after_from_future_and_among_the_projects_own():
    future = "from __future__ import annotations\n\nfrom tornado.web import URLSpec\n\nROUTES: list[URLSpec] = []\n"
    changed = routes_file.add_routes(
        future, [routes_file.Route("/c", "CHandler", "c", "handlers.c")]
    )
    assert changed.startswith("from __future__ import annotations\n\nimport tornado.web\n")
    compile(changed, "routes.py", "exec")
    ours = "import tornado.web\n\nfrom pages.faq import FaqHandler\n\nROUTES = []\n"
    changed = routes_file.add_routes(
        ours, [routes_file.Route("/c", "CHandler", "c", "handlers.c")], frozenset({"pages"})
    )
    assert "from handlers.c import CHandler\nfrom pages.faq import FaqHandler\n" in changed


def test_the_names_routes_py_binds():
    source = "import tornado.web\nfrom pages import A as B\nX: int = 1\nY = Z = 2\nclass C: ...\n"
    assert routes_file.bound_names(source) == {"tornado", "B", "X", "Y", "Z", "C"}
