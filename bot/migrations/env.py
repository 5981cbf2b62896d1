"""Alembic environment: runs migrations over the project's engine (SQLite or PostgreSQL)."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeDecorator

import bot.tables_outbound
import bot.tables_quality  # noqa: F401  (its tables join Base.metadata)
from bot.db import make_engine
from bot.tables import Base

config = context.config
target_metadata = Base.metadata


def _render_item(kind: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Write our encrypted/UTC column types as the plain SQL types they store, so old
    migrations never import today's Python classes."""
    if kind == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_item=_render_item,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


def run_offline(url: str) -> None:
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


url: Any = config.get_main_option("sqlalchemy.url")
if context.is_offline_mode():
    run_offline(url)
else:
    run_online(url)
