"""Alembic's entry point (``alembic upgrade head``, ``alembic check``): runs the revisions in
``versions/`` on the app's database (DATABASE_URL, else the SQLite file in data/) through
the same asyncio engine the app uses."""

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from db.engine import database_url, make_engine
from db.models import Base

config = context.config
if not config.attributes.get("app_loaded"):  # `--migrate` runs this inside the app
    import app  # noqa: F401 (imports every module, so that each one's tables join Base.metadata)
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

URL = database_url(config.attributes.get("url", ""))


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite alters a table by copying it: let Alembic do that
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    engine = make_engine(URL, pool_size=1, timeout=30.0)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():  # alembic upgrade head --sql: print the SQL instead
    context.configure(url=URL, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(run_online())
