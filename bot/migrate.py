"""Schema migrations, run by `tawasul migrate` and at the start of `make run`; and the check
that `tawasul serve` and /healthz make that the database is at the code's revision."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from bot.db import sync_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
NOT_MIGRATED = "the database has not been migrated: run `tawasul migrate`"


def alembic_config(url: str) -> Config:
    """An Alembic config built in code, so no alembic.ini has to travel with the package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite database URL; None for other databases and in-memory SQLite."""
    if url.startswith("sqlite") and ":///" in url:
        path = url.split(":///", 1)[1].split("?", 1)[0]
        if path and path != ":memory:":
            return Path(path)
    return None


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision`; creates the SQLite folder if needed."""
    url = sync_url(url)
    if url.startswith("sqlite") and ":///" in url:
        path = url.split(":///", 1)[1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    """The same from async code, off the event loop."""
    await asyncio.to_thread(upgrade, url, revision)


def head_revision() -> str | None:
    """The schema revision this code needs (the newest migration)."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def schema_problem(engine: Engine, head: str | None = None) -> str | None:
    """Why the database cannot serve this code (never migrated, or behind), or None when it
    is at the newest revision: a server over such a database would answer every message 503."""
    head = head or head_revision()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current == head:
        return None
    if current is None:
        return NOT_MIGRATED
    return f"the database is at revision {current}, this code needs {head}: run `tawasul migrate`"
