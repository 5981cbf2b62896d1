"""index unhandled inbound messages, for the inbound sweep

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 19:35:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHERE = "direction = 'in' AND status = 'received'"


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_unhandled_inbound",
            ["created_at"],
            unique=False,
            sqlite_where=sa.text(WHERE),
            postgresql_where=sa.text(WHERE),
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_messages_unhandled_inbound",
            sqlite_where=sa.text(WHERE),
            postgresql_where=sa.text(WHERE),
        )
