"""message parts and the sending index: every part of a split message keeps its provider
id and status (issue 14)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message_parts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("provider_id", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_parts_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_parts")),
        sa.UniqueConstraint("message_id", "part", name=op.f("uq_message_parts_message_id")),
        sa.UniqueConstraint("channel", "provider_id", name=op.f("uq_message_parts_channel")),
    )
    op.create_index(
        "ix_messages_sending_outbound",
        "messages",
        ["updated_at"],
        sqlite_where=sa.text("direction = 'out' AND status = 'sending'"),
        postgresql_where=sa.text("direction = 'out' AND status = 'sending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_sending_outbound", table_name="messages")
    op.drop_table("message_parts")
