"""staff console: each staff member's language, audit entries' client address, audit indexes

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 19:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(sa.Column("language", sa.String(length=8), nullable=True))
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("address", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_index(op.f("ix_audit_log_actor"), "audit_log", ["actor"])


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_log_actor"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("address")
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_column("language")
