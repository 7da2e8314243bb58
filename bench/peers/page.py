"""Peer: a bare rendered template page, as a hand-written Tornado app would serve it.

A layout and a page template, static files linked with static_url(), nothing else: no
security headers, no XSRF, no sign-in. ``python page.py PORT [asyncio|uvloop]``
"""

import asyncio
import sys
from pathlib import Path

import tornado.web
from loops import run

HERE = Path(__file__).resolve().parent


class Page(tornado.web.RequestHandler):
    def get(self) -> None:
        self.render("index.html", title="Bench App")


async def main() -> None:
    app = tornado.web.Application(
        [tornado.web.url(r"/", Page, name="index")],
        template_path=str(HERE / "page_templates"),
        static_path=str(HERE.parents[1] / "template" / "static"),  # the same files
    )
    app.listen(int(sys.argv[1]), "127.0.0.1")
    await asyncio.Event().wait()


if __name__ == "__main__":
    run(main(), sys.argv[2] if len(sys.argv) > 2 else "asyncio")
