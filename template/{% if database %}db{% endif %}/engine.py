"""The engine and the sessions: which URLs the app takes, one pool per process, and a
database that does not answer turned into a 503 page instead of a traceback."""

import contextlib
import logging
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import sqlalchemy.exc
import tornado.web
from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

if TYPE_CHECKING:  # Alembic is imported where it is used: serving needs none of it
    from alembic.script import ScriptDirectory

log = logging.getLogger(__name__)
# Alembic reports each step at INFO: right for `alembic upgrade head` (its alembic.ini says
# so), noise in the app's log when it only reads the revision at start-up.
logging.getLogger("alembic").setLevel(logging.WARNING)

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIGRATIONS = os.path.join(PROJECT_DIR, "db", "migrations")
DEFAULT_FILE = os.path.join(PROJECT_DIR, "data", "app.sqlite3")
UPGRADE = "alembic upgrade head"  # the one command that brings a database up to date

# The drivers this code runs on, and the names people also write for them (Heroku and
# others hand out postgres:// URLs).
DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}
STATEMENT_TIMEOUT = 30.0  # seconds a PostgreSQL statement may run before it is cancelled

# What a database that is down, restarting, locked or out of connections raises: each
# becomes a 503 (the request may be retried), never a 500 (a bug to fix).
UNAVAILABLE = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,  # no free connection in the pool within --database_timeout
    OSError,  # refused or reset connections (asyncpg raises them as they are)
    TimeoutError,
)


class UnusableURL(ValueError):
    """A database URL this app cannot use; the message never shows the URL's password."""


def database_url(given: str = "") -> URL:
    """``given`` (--database_url), else DATABASE_URL, else the SQLite file in data/."""
    raw = given or os.environ.get("DATABASE_URL", "")
    if not raw:
        if not os.path.isdir(os.path.dirname(DEFAULT_FILE)):  # installed: no data/ beside the code
            raise UnusableURL("no database given: set DATABASE_URL (or --database_url)")
        raw = f"sqlite+aiosqlite:///{DEFAULT_FILE}"
    expected = "expected sqlite+aiosqlite:///FILE or postgresql+asyncpg://USER@HOST/NAME"
    try:
        url = make_url(raw)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        raise UnusableURL(f"--database_url (or DATABASE_URL) is not a URL: {expected}") from None
    driver = DRIVERS.get(url.drivername)
    if driver is None:
        raise UnusableURL(f"--database_url: no driver here for {url.drivername!r}: {expected}")
    url = url.set(drivername=driver)
    if driver.startswith("sqlite") and url.database in (None, "", ":memory:"):
        # Each connection would get a database of its own, empty.
        raise UnusableURL(f"--database_url: SQLite needs a file, not memory: {expected}")
    return url


def shown(url: URL) -> str:
    """The URL as logs and messages show it: with its password hidden."""
    return url.render_as_string(hide_password=True)


def make_engine(url: URL, pool_size: int, timeout: float) -> AsyncEngine:
    """The engine for ``url``: at most ``pool_size`` connections, ``timeout`` seconds to get one.

    No pre-ping (a round trip per request): a connection that turns out dead fails its
    request with a 503 and SQLAlchemy drops the whole pool, so the next request reconnects.
    """
    if url.drivername == "sqlite+aiosqlite":
        # timeout: SQLite's busy timeout, how long a writer waits for another's lock.
        engine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=timeout,
            connect_args={"timeout": timeout},
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=timeout,
        connect_args={"timeout": timeout, "command_timeout": STATEMENT_TIMEOUT},
    )


def _sqlite_pragmas(connection, _record) -> None:  # type: ignore[no-untyped-def]
    # WAL lets readers go on while one process writes (--processes); SQLite leaves foreign
    # keys unchecked unless asked; NORMAL is WAL's safe and much faster sync mode.
    cursor = connection.cursor()
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


class Database:
    """One process's engine and sessions (``app.db``): ``async with app.db.session() as s``."""

    def __init__(self, url: URL, pool_size: int = 5, timeout: float = 5.0) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size, timeout)
        # expire_on_commit=False: rows stay readable after commit, for the page to render.
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session for one request; a database that does not answer raises HTTPError(503),
        which Tornado logs in one line and shows as the error page."""
        try:
            async with self.sessions() as session:
                yield session
        except UNAVAILABLE as error:
            raise tornado.web.HTTPError(503, "database unavailable: %s", describe(error)) from None

    async def ping(self) -> None:
        """Raise unless the database answers a trivial query (/readyz)."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def describe(error: BaseException) -> str:
    """One line saying what went wrong, without the SQL or its parameters."""
    if isinstance(error, sqlalchemy.exc.DBAPIError) and error.orig is not None:
        error = error.orig
    detail = " ".join(str(error).split())[:200]
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__


async def current_revisions(url: URL, timeout: float) -> set[str]:
    """The Alembic revisions the database is at (empty: a database never upgraded)."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url, 1, timeout)
    try:
        async with engine.connect() as connection:
            heads = await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_heads()
            )
    except (*UNAVAILABLE, sqlalchemy.exc.DBAPIError) as error:  # down, or no such database
        raise ValueError(f"cannot reach the database {shown(url)}: {describe(error)}") from None
    finally:
        await engine.dispose()
    return set(heads)


def code_heads(script: "ScriptDirectory") -> set[str]:
    """This code's revision: the head of db/migrations; ValueError when there are several (a
    template update's revision beside one of this project's), naming the merge."""
    heads = set(script.get_heads())
    if len(heads) > 1:
        raise ValueError(
            f"the revisions in db/migrations have {len(heads)} heads ({', '.join(sorted(heads))}):"
            " run `alembic merge heads`, then upgrade the database"
        )
    return heads


def migrate(url: URL) -> None:
    """What `UPGRADE` does, without alembic.ini (an installed app has none): apply this
    code's revisions to the database at ``url``; ValueError if it cannot be reached."""
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    code_heads(ScriptDirectory(MIGRATIONS))  # one head, or say how to make it one
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    config.attributes["url"] = url.render_as_string(hide_password=False)  # for env.py
    config.attributes["app_loaded"] = True  # its modules' tables: env.py need not import app
    logging.getLogger("alembic").setLevel(logging.INFO)  # each step, as `UPGRADE` shows it
    try:
        command.upgrade(config, "head")
    except UNAVAILABLE as error:
        raise ValueError(f"cannot reach the database {shown(url)}: {describe(error)}") from None
    except (CommandError, sqlalchemy.exc.DBAPIError) as error:  # no such database, or role...
        raise ValueError(f"cannot migrate the database {shown(url)}: {describe(error)}") from None


async def check_revision(url: URL, timeout: float) -> None:
    """Raise ValueError, naming `UPGRADE`, unless the database is at this code's revision."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(MIGRATIONS)
    code = code_heads(script)
    current = await current_revisions(url, timeout)
    if current == code:
        return
    known = {revision.revision for revision in script.walk_revisions()}
    if current - known:
        raise ValueError(
            f"the database {shown(url)} is at revision {', '.join(sorted(current))}, which this"
            f" code does not know: run the release that migrated it, or a newer one"
        )
    at = ", ".join(sorted(current)) or "none (empty)"
    raise ValueError(
        f"the database {shown(url)} is at revision {at}, behind this code's"
        f" {', '.join(sorted(code))}: run `{UPGRADE}` (or this app with --migrate)"
        " with the same DATABASE_URL, then start again"
    )
