"""Staff accounts for the console: scrypt password hashes, roles checked on every route."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from sqlalchemy.exc import IntegrityError

from bot.storage import Store
from bot.tables import AuditEntry, StaffUser

ROLES = ("officer", "researcher", "manager", "admin")
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt_b64), n=_N, r=_R, p=_P, dklen=32
    )
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


class UserExistsError(ValueError):
    pass


async def add_user(store: Store, email: str, name: str, role: str, password: str) -> int:
    """Create a staff account (audited); raises ValueError for a bad role or short password."""
    if role not in ROLES:
        raise ValueError(f"role must be one of: {', '.join(ROLES)}")
    if len(password) < 10:
        raise ValueError("password must be at least 10 characters")
    user = StaffUser(
        email=email.strip().lower(), name=name, role=role, password_hash=hash_password(password)
    )
    try:
        await store.db.run(_insert_user, store, user, role)
    except IntegrityError as exc:
        raise UserExistsError(f"a staff user with email {email} already exists") from exc
    return user.id


def _insert_user(store: Store, user: StaffUser, role: str) -> None:
    with store.db.sessions.begin() as session:
        session.add(user)
        session.flush()
        session.add(
            AuditEntry(
                actor="cli",
                action="staff_user.created",
                subject_type="staff_user",
                subject_id=user.id,
                details={"role": role},
            )
        )
