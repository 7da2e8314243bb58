"""Peer: the two read pages of Tornado's demos/blog, hand-written on the database driver.

The home page (the 5 newest entries, in full) and an entry by its slug, with the demo's
queries (plus a join for the author's name) written directly on asyncpg (a pool of 5, the
generated app's default) or aiosqlite (one connection: its thread runs the queries in
turn), rows rendered by small templates: no ORM, no security headers, no XSRF, no sign-in,
no access log. ``python blog.py PORT DATABASE_URL [asyncio|uvloop]``, where DATABASE_URL is
``sqlite+aiosqlite:///FILE`` or ``postgresql+asyncpg://USER@HOST/NAME``.
"""

import asyncio
import sys
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import tornado.web
from loops import run

HERE = Path(__file__).resolve().parent

HOME = (
    "SELECT entries.*, users.name AS author FROM entries JOIN users ON users.id = author_id"
    " ORDER BY published DESC LIMIT 5"
)
ENTRY = (
    "SELECT entries.*, users.name AS author FROM entries JOIN users ON users.id = author_id"
    " WHERE slug = {}"
)


class Entry(dict):
    """A row whose columns read as attributes, as the demo's templates use them."""

    __getattr__ = dict.__getitem__


class Postgres:
    async def connect(self, dsn: str) -> None:
        import asyncpg

        self.pool = await asyncpg.create_pool(dsn, min_size=5, max_size=5)

    async def query(self, sql: str, *args: object) -> list[Entry]:
        rows = await self.pool.fetch(sql.format("$1"), *args)
        return [Entry(row) for row in rows]


class SQLite:
    async def connect(self, path: str) -> None:
        import aiosqlite

        self.db = await aiosqlite.connect(path)
        self.db.row_factory = aiosqlite.Row

    async def query(self, sql: str, *args: object) -> list[Entry]:
        async with self.db.execute(sql.format("?"), args) as cursor:
            rows = await cursor.fetchall()
        entries = [Entry(row) for row in rows]
        for entry in entries:  # SQLAlchemy stores datetimes as text in UTC
            published = datetime.fromisoformat(entry["published"])
            entry["published"] = published.replace(tzinfo=timezone.utc)
        return entries


class HomeHandler(tornado.web.RequestHandler):
    async def get(self) -> None:
        entries = await self.application.db.query(HOME)
        self.render("home.html", entries=entries)


class EntryHandler(tornado.web.RequestHandler):
    async def get(self, slug: str) -> None:
        entries = await self.application.db.query(ENTRY, slug)
        if not entries:
            raise tornado.web.HTTPError(404)
        self.render("entry.html", entry=entries[0])


async def main() -> None:
    url = sys.argv[2]
    if url.startswith("sqlite"):
        db, target = SQLite(), urlsplit(url).path[1:]  # sqlite+aiosqlite:///FILE
    else:
        db, target = Postgres(), url.replace("postgresql+asyncpg://", "postgresql://", 1)
    await db.connect(target)
    app = tornado.web.Application(
        [
            tornado.web.url(r"/blog", HomeHandler, name="home"),
            tornado.web.url(r"/blog/entry/([^/]+)", EntryHandler, name="entry"),
        ],
        template_path=str(HERE / "blog_templates"),
        static_path=str(HERE.parents[1] / "template" / "static"),  # the same files
    )
    app.db = db
    app.listen(int(sys.argv[1]), "127.0.0.1")
    await asyncio.Event().wait()


if __name__ == "__main__":
    run(main(), sys.argv[3] if len(sys.argv) > 3 else "asyncio")
