"""console, finished: exact-name search (keyed name hashes on contacts and support requests,
backfilled), support requests and complaints assigned to staff, the notice a complaint's
closing sent (or could not send), and the journey of each message

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-01 22:00:00.000000

The names are encrypted, so the backfill needs the key: it uses the process's cipher when
one is installed, else TAWASUL_SECRET_KEY, else the development key in `var/` if there is
one. Without any of them (or for a value the key cannot read) the hash stays empty and that
name is not found by the search until it is written again; the log says how many.
"""

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("display_name_hash", sa.String(length=64), nullable=True))
        batch.create_index("ix_contacts_display_name_hash", ["display_name_hash"])
    with op.batch_alter_table("support_requests") as batch:
        batch.add_column(sa.Column("name_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("assigned_to", sa.String(length=254), nullable=True))
        batch.create_index("ix_support_requests_name_hash", ["name_hash"])
    with op.batch_alter_table("complaints") as batch:
        batch.add_column(sa.Column("assigned_to", sa.String(length=254), nullable=True))
        batch.add_column(sa.Column("notice_message_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_complaints_notice_message_id_messages",
            "messages",
            ["notice_message_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("journey", sa.String(length=40), nullable=True))
    _backfill_name_hashes()


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("journey")
    with op.batch_alter_table("complaints") as batch:
        batch.drop_constraint("fk_complaints_notice_message_id_messages", type_="foreignkey")
        batch.drop_column("notice_message_id")
        batch.drop_column("assigned_to")
    with op.batch_alter_table("support_requests") as batch:
        batch.drop_index("ix_support_requests_name_hash")
        batch.drop_column("assigned_to")
        batch.drop_column("name_hash")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_index("ix_contacts_display_name_hash")
        batch.drop_column("display_name_hash")


def _cipher() -> Any:
    from bot import crypto
    from bot.settings import load_settings

    try:
        return crypto.active_cipher()
    except RuntimeError:
        pass
    try:
        settings = load_settings()
    except Exception:  # an incomplete environment: no key to be had from it
        return None
    if settings.secret_key is not None:
        return crypto.Cipher(settings.secret_key.get_secret_value())
    key_file = Path(settings.var_dir) / "secret.key"
    return crypto.Cipher(key_file.read_text().strip()) if key_file.exists() else None


def _name_field_ids() -> list[str]:
    """The form's name fields in the configured profile (none if it cannot be read)."""
    from bot.profile_loader import load_profile
    from bot.settings import load_settings

    try:
        form = load_profile(load_settings().profile).support_form
    except Exception:
        return []
    return [f.id for f in form.fields if getattr(f, "person_name", False)]


def _backfill_name_hashes() -> None:
    connection = op.get_bind()
    contacts = sa.table(
        "contacts",
        sa.column("id", sa.Integer()),
        sa.column("display_name", sa.Text()),
        sa.column("display_name_hash", sa.String()),
    )
    requests = sa.table(
        "support_requests",
        sa.column("id", sa.Integer()),
        sa.column("answers", sa.Text()),
        sa.column("name_hash", sa.String()),
    )
    waiting = sum(
        connection.scalar(sa.select(sa.func.count()).select_from(table).where(column.is_not(None)))
        for table, column in ((contacts, contacts.c.display_name), (requests, requests.c.answers))
    )
    if not waiting:
        return
    cipher = _cipher()
    if cipher is None:
        log.warning(
            "%s names (of contacts and requests) are not searchable yet: no TAWASUL_SECRET_KEY to read "
            "them with (run `tawasul migrate` with it, or they are found once written again)",
            waiting,
        )
        return
    unread = _fill(
        connection, cipher, contacts, contacts.c.display_name, contacts.c.display_name_hash, None
    )
    names = _name_field_ids()
    if names:
        unread += _fill(connection, cipher, requests, requests.c.answers, requests.c.name_hash, names)
    if unread:
        log.warning("%s names could not be read with this key and stay unsearchable", unread)


def _fill(
    connection: Any,
    cipher: Any,
    table: Any,
    source: Any,
    target: Any,
    name_fields: list[str] | None,
) -> int:
    """Hash each stored value of `source` into `target`; returns how many could not be read."""
    import json

    from bot.crypto import DecryptionError

    unread = 0
    rows = connection.execute(sa.select(table.c.id, source).where(source.is_not(None))).all()
    for row_id, sealed in rows:
        try:
            value = cipher.decrypt(sealed)
        except DecryptionError:
            unread += 1
            continue
        if name_fields is not None:
            answers = json.loads(value)
            if not isinstance(answers, dict):
                continue
            value = next((answers[f] for f in name_fields if isinstance(answers.get(f), str)), None)
        hashed = cipher.name_hash(value)
        if hashed is not None:
            connection.execute(table.update().where(table.c.id == row_id).values({target: hashed}))
    return unread
