"""console work pages: hand-off assignment, staff notes, request status notes and decision
dates, complaint response, resolution and compensation; a request waiting for more
information still counts as open (one open request per national ID)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 19:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


OPEN_BEFORE = "status IN ('submitted', 'under_review')"
OPEN_NOW = "status IN ('submitted', 'under_review', 'needs_info')"  # waiting for papers: open


def _open_request_index(where: str) -> None:
    with op.batch_alter_table("support_requests") as batch:
        batch.create_index(
            "uq_support_requests_open_national_id",
            ["national_id_hash"],
            unique=True,
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )


def _drop_open_request_index() -> None:
    with op.batch_alter_table("support_requests") as batch:
        batch.drop_index("uq_support_requests_open_national_id")


def upgrade() -> None:
    _drop_open_request_index()
    _open_request_index(OPEN_NOW)
    with op.batch_alter_table("handoffs") as batch:
        batch.add_column(sa.Column("assigned_to", sa.String(length=254), nullable=True))
    with op.batch_alter_table("request_status_events") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("decided_on", sa.Date(), nullable=True))
    with op.batch_alter_table("complaints") as batch:
        batch.add_column(sa.Column("response", sa.Text(), nullable=True))
        batch.add_column(sa.Column("resolution", sa.Text(), nullable=True))
        batch.add_column(sa.Column("compensation", sa.Text(), nullable=True))
        batch.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "staff_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=254), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_staff_notes_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_notes")),
    )
    op.create_index(
        op.f("ix_staff_notes_conversation_id"), "staff_notes", ["conversation_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_staff_notes_conversation_id"), table_name="staff_notes")
    op.drop_table("staff_notes")
    with op.batch_alter_table("complaints") as batch:
        batch.drop_column("closed_at")
        batch.drop_column("compensation")
        batch.drop_column("resolution")
        batch.drop_column("response")
    with op.batch_alter_table("request_status_events") as batch:
        batch.drop_column("decided_on")
        batch.drop_column("note")
    with op.batch_alter_table("handoffs") as batch:
        batch.drop_column("assigned_to")
    _drop_open_request_index()
    _open_request_index(OPEN_BEFORE)
