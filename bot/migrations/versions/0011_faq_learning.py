"""faq learning: unanswered questions, staff reviews and FAQ additions (issue 15)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "unanswered_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("question_key", sa.String(length=64), nullable=False),
        sa.Column("suggested", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_unanswered_questions_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unanswered_questions")),
    )
    op.create_index(
        "ix_unanswered_questions_asked_at", "unanswered_questions", ["asked_at"], unique=False
    )
    op.create_index(
        "ix_unanswered_questions_key_asked",
        "unanswered_questions",
        ["question_key", "asked_at"],
        unique=False,
    )
    op.create_table(
        "faq_question_reviews",
        sa.Column("question_key", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("entry_id", sa.String(length=64), nullable=True),
        sa.Column("reviewed_by", sa.String(length=254), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("question_key", name=op.f("pk_faq_question_reviews")),
    )
    op.create_table(
        "faq_additions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("entry_id", sa.String(length=64), nullable=False),
        sa.Column("topic_id", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("question_ar", sa.String(length=500), nullable=True),
        sa.Column("question_en", sa.String(length=500), nullable=True),
        sa.Column("answer_ar", sa.String(length=4000), nullable=True),
        sa.Column("answer_en", sa.String(length=4000), nullable=True),
        sa.Column("added_by", sa.String(length=254), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("question_key", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faq_additions")),
    )


def downgrade() -> None:
    op.drop_table("faq_additions")
    op.drop_table("faq_question_reviews")
    op.drop_index("ix_unanswered_questions_key_asked", table_name="unanswered_questions")
    op.drop_index("ix_unanswered_questions_asked_at", table_name="unanswered_questions")
    op.drop_table("unanswered_questions")
