"""index queued outbound messages

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 02:35:14.682223
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_queued_outbound",
            ["updated_at"],
            unique=False,
            sqlite_where=sa.text("direction = 'out' AND status = 'queued'"),
            postgresql_where=sa.text("direction = 'out' AND status = 'queued'"),
        )


def downgrade() -> None:

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_messages_queued_outbound",
            sqlite_where=sa.text("direction = 'out' AND status = 'queued'"),
            postgresql_where=sa.text("direction = 'out' AND status = 'queued'"),
        )
