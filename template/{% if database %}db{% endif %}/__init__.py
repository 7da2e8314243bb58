"""The database module: SQLAlchemy 2 on asyncio, an embedded SQLite file by default,
PostgreSQL (asyncpg) for several machines, its schema kept by Alembic.

``engine.py`` makes the engine and the sessions handlers use, ``models.py`` the tables
every project has (users and their sign-in identities), ``migrations/`` the Alembic
revisions that create and change them (``alembic upgrade head`` applies them). Below: the
module's options and its part in app.py.
"""

import asyncio
import logging
from typing import Any

from tornado.options import define, options

import modules
import server
from db.engine import Database, check_revision, database_url, migrate

define(
    "database_url",
    default="",
    help="the database: sqlite+aiosqlite:///FILE or postgresql+asyncpg://USER:PASSWORD@HOST/NAME"
    " (env DATABASE_URL); default: an SQLite file in data/",
)
define("database_pool_size", default=5, type=int, help="connections each process keeps open")
define(
    "database_timeout",
    default=5.0,
    type=float,
    help="seconds to connect, or to wait for a free connection, before answering 503",
)

define(
    "migrate",
    default=False,
    type=bool,
    help="apply the database's migrations (alembic upgrade head), then exit; for an"
    " installed app, which has no alembic.ini",
)

log = logging.getLogger(__name__)


def upgrade() -> None:
    """--migrate: bring the database up to this code's revision; ValueError if it cannot."""
    migrate(database_url(options.database_url))


class Db(modules.Module):
    """The database's part in app.py: one engine per process (``app.db``), made after the
    workers fork so that no connection is shared between processes."""

    def check(self) -> None:
        if not 1 <= options.database_pool_size <= 1000 or options.database_timeout <= 0:
            raise ValueError("--database_pool_size must be 1 to 1000, --database_timeout above 0")
        url = database_url(options.database_url)  # ValueError: not a URL this app can use
        # Before any worker starts: a database behind the code would fail on the first
        # request instead; this names the command that brings it up to date.
        asyncio.run(check_revision(url, options.database_timeout))

    def settings(self) -> dict[str, Any]:
        return {"database_url": options.database_url}

    def setup(self, app: server.Application) -> None:
        # The engine opens no connection until a request needs one.
        url = database_url(app.settings["database_url"])
        app.db = Database(url, options.database_pool_size, options.database_timeout)

    async def ready(self, app: server.Application) -> None:
        await app.db.ping()

    async def stop(self, app: server.Application, timeout: float) -> None:
        # The database stops last (it is the first module): requests in flight may still
        # query it, so let them finish, as server.drain() would next, then close the pool.
        await app.drain(timeout)
        try:
            await asyncio.wait_for(app.db.dispose(), max(timeout, 0.1))
        except TimeoutError:
            log.warning("Shutdown: database connections did not close in time")
