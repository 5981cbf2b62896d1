"""Staff accounts for the console: roles, argon2 password hashes, sign-in checks.

Passwords are hashed with argon2id (argon2-cffi's defaults, which follow RFC 9106). Accounts
made before argon2 carry a ``scrypt$salt$digest`` hash: it still verifies, and a successful
sign-in replaces it with an argon2 hash, so old hashes fade out without a reset.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.storage import Store
from bot.tables import AuditEntry, StaffUser

# officer: beneficiary relations, the contact officer of a domain; researcher: social
# research (support requests); quality: complaints and satisfaction; manager; admin.
ROLES = ("officer", "researcher", "quality", "manager", "admin")
MIN_PASSWORD_LENGTH = 10
NAME_LENGTH = 128
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s.]{2,63}")
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_hasher = PasswordHasher()
# Verified when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


@dataclass(frozen=True)
class StaffMember:
    """A signed-in person as the console sees them (never the password hash)."""

    id: int
    email: str
    name: str
    role: str
    language: str | None
    active: bool = True
    # Changes whenever the password does: a console session made before a new password ends.
    password_stamp: str = ""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches `stored` (argon2, or a legacy scrypt hash)."""
    if stored.startswith("scrypt$"):
        return _verify_scrypt(password, stored)
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """A legacy scrypt hash, or argon2 with weaker parameters than today's."""
    if stored.startswith("scrypt$"):
        return True
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True


def _verify_scrypt(password: str, stored: str) -> bool:
    try:
        _scheme, salt_b64, digest_b64 = stored.split("$")
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
    except ValueError:
        return False
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    return hmac.compare_digest(digest, expected)


def legacy_scrypt_hash(password: str, salt: bytes) -> str:
    """The hash format accounts made before argon2 have (kept to test the upgrade)."""
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    return f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


class UserExistsError(ValueError):
    pass


class UnknownUserError(LookupError):
    pass


def normalize_email(email: str) -> str:
    return email.strip().lower()


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of: {', '.join(ROLES)}")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")


def _member(user: StaffUser) -> StaffMember:
    stamp = hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]
    return StaffMember(user.id, user.email, user.name, user.role, user.language, user.active, stamp)


async def add_user(
    store: Store,
    email: str,
    name: str,
    role: str,
    password: str,
    actor: str = "cli",
    address: str | None = None,
) -> int:
    """Create a staff account (audited); raises ValueError for a bad role, email or name or
    a short password, UserExistsError for an email already used."""
    _check_role(role)
    _check_password(password)
    if not EMAIL.fullmatch(normalize_email(email)):
        raise ValueError("email must look like name@example.org")
    if not name.strip() or len(name) > NAME_LENGTH:
        raise ValueError(f"name must be 1 to {NAME_LENGTH} characters")
    user = StaffUser(
        email=normalize_email(email), name=name, role=role, password_hash=hash_password(password)
    )
    try:
        await store.db.run(_insert_user, store, user, role, actor, address)
    except IntegrityError as exc:
        raise UserExistsError(f"a staff user with email {email} already exists") from exc
    return user.id


def _insert_user(store: Store, user: StaffUser, role: str, actor: str, address: str | None) -> None:
    with store.db.sessions.begin() as session:
        session.add(user)
        session.flush()
        session.add(
            AuditEntry(
                actor=actor,
                action="staff_user.created",
                subject_type="staff_user",
                subject_id=user.id,
                details={"role": role, "email": user.email},
                address=address,
            )
        )


async def get_staff(store: Store, staff_id: int) -> StaffMember | None:
    """The account behind a console session, or None once it is gone or disabled."""
    return await store.db.run(_get_staff, store, staff_id)


def _get_staff(store: Store, staff_id: int) -> StaffMember | None:
    with store.db.sessions() as session:
        user = session.get(StaffUser, staff_id)
        return _member(user) if user is not None and user.active else None


async def find_staff(store: Store, staff_id: int) -> StaffMember | None:
    """Any account by id, disabled ones too (the admins' page)."""
    return await store.db.run(_find_staff, store, staff_id)


def _find_staff(store: Store, staff_id: int) -> StaffMember | None:
    with store.db.sessions() as session:
        user = session.get(StaffUser, staff_id)
        return _member(user) if user is not None else None


async def list_staff(store: Store) -> list[StaffMember]:
    return await store.db.run(_list_staff, store)


def _list_staff(store: Store) -> list[StaffMember]:
    with store.db.sessions() as session:
        users = session.scalars(select(StaffUser).order_by(StaffUser.email)).all()
        return [_member(user) for user in users]


async def authenticate(store: Store, email: str, password: str) -> StaffMember | None:
    """The active account with this email and password, else None (which of the two was
    wrong is not told). A hash of an older kind is replaced on success."""
    return await store.db.run(_authenticate, store, normalize_email(email), password)


def _authenticate(store: Store, email: str, password: str) -> StaffMember | None:
    with store.db.sessions.begin() as session:
        user = session.scalars(select(StaffUser).where(StaffUser.email == email)).first()
        if user is None:
            verify_password(password, _DUMMY_HASH)
            return None
        if not verify_password(password, user.password_hash) or not user.active:
            return None
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
            session.flush()
        return _member(user)


async def set_password(
    store: Store, email: str, password: str, actor: str = "cli", address: str | None = None
) -> None:
    """A new password; the account's open console sessions end (their stamp no longer fits)."""
    _check_password(password)
    values: dict[str, object] = {"password_hash": hash_password(password)}
    await _change(store, email, values, actor, "password_changed", address)


async def disable_user(
    store: Store, email: str, actor: str = "cli", address: str | None = None
) -> None:
    await _change(store, email, {"active": False}, actor, "disabled", address)


async def enable_user(
    store: Store, email: str, actor: str = "cli", address: str | None = None
) -> None:
    await _change(store, email, {"active": True}, actor, "enabled", address)


async def set_role(
    store: Store, email: str, role: str, actor: str = "cli", address: str | None = None
) -> None:
    _check_role(role)
    await _change(store, email, {"role": role}, actor, "role_changed", address)


async def set_language(store: Store, staff_id: int, language: str) -> None:
    """The staff member's own console language (no audit: it touches nobody's data)."""
    await store.db.run(_set_language, store, staff_id, language)


def _set_language(store: Store, staff_id: int, language: str) -> None:
    with store.db.sessions.begin() as session:
        session.execute(update(StaffUser).where(StaffUser.id == staff_id).values(language=language))


async def _change(
    store: Store,
    email: str,
    values: dict[str, object],
    actor: str,
    what: str,
    address: str | None,
) -> None:
    await store.db.run(_apply_change, store, normalize_email(email), values, actor, what, address)


def _apply_change(
    store: Store,
    email: str,
    values: dict[str, object],
    actor: str,
    what: str,
    address: str | None,
) -> None:
    with store.db.sessions.begin() as session:
        user = session.scalars(select(StaffUser).where(StaffUser.email == email)).first()
        if user is None:
            raise UnknownUserError(f"no staff user with email {email}")
        details: dict[str, object] = {"email": email}
        if "role" in values:
            details.update(before=user.role, after=values["role"])
        for key, value in values.items():
            setattr(user, key, value)
        session.add(
            AuditEntry(
                actor=actor,
                action=f"staff_user.{what}",
                subject_type="staff_user",
                subject_id=user.id,
                details=details,
                address=address,
            )
        )
