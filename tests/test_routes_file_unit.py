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
