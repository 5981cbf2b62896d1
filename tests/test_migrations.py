"""Every migration goes up and down on both backends, and the schema matches the models."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import bot.tables_outbound
import bot.tables_quality  # noqa: F401  (its tables join Base.metadata)
from bot.db import make_engine
from bot.migrate import alembic_config, upgrade
from bot.tables import Base


def test_down_to_nothing_and_up_again(database_url: str) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "base")
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            assert context.get_current_revision() is not None
            # No table, column or index of the models is missing from the migrations.
            differences = [
                diff
                for diff in compare_metadata(context, Base.metadata)
                if not (isinstance(diff, tuple) and diff[0] == "remove_table")
            ]
            assert differences == []
    finally:
        engine.dispose()
