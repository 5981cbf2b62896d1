"""sla alerts and staff notifications (issue 15)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 22:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sla_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_kind", sa.String(length=16), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("deadline", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_to", sa.String(length=254), nullable=True),
        sa.Column("expected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_alerts")),
        sa.UniqueConstraint(
            "case_kind", "case_id", "deadline", "kind", "due_at",
            name=op.f("uq_sla_alerts_case_kind"),
        ),
    )
    op.create_index("ix_sla_alerts_case", "sla_alerts", ["case_kind", "case_id"])
    op.create_table(
        "staff_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_key", sa.String(length=120), nullable=False),
        sa.Column("recipient", sa.String(length=260), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claim", sa.String(length=32), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_notifications")),
        sa.UniqueConstraint(
            "item_key", "recipient", name=op.f("uq_staff_notifications_item_key")
        ),
    )
    op.create_index(
        "ix_staff_notifications_due",
        "staff_notifications",
        ["status", "recipient", "created_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_staff_notifications_due", table_name="staff_notifications")
    op.drop_table("staff_notifications")
    op.drop_index("ix_sla_alerts_case", table_name="sla_alerts")
    op.drop_table("sla_alerts")
