"""Helpers for conversation tests: valid national IDs, sending a message and reading all its
replies, and reading the live gateway's database."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import Database
from bot.fields.national_id import luhn_valid
from bot.i18n import translator
from bot.profile_loader import load_profile
from bot.tables import MessageMedia
from bot.work_calendar import WorkCalendar
from tests.chat_client import ChatClient

RIYADH = ZoneInfo("Asia/Riyadh")
EXAMPLE_PROFILE = Path(__file__).resolve().parent.parent / "profiles" / "example.yaml"


def national_id(seed: int, first: str = "1") -> str:
    """A valid national ID (first digit 1) or iqama (2), different for each seed."""
    body = f"{first}{seed:08d}"
    return next(body + str(check) for check in range(10) if luhn_valid(body + str(check)))


# The main menu's titles in Arabic, as every channel shows them (the last switches language).
MENU_AR = [
    "أسئلة واستفسارات",
    "تقديم طلب دعم",
    "حالة الطلب",
    "شكوى أو اقتراح",
    "التحدث مع موظف",
    "اشتراك التحديثات",
    "الخصوصية وبياناتي",
    "English",
]


def form_answers_ar(nid: str) -> list[str]:
    """Correct Arabic answers to the example form's first ten questions (all but documents)."""
    return [
        "أحمد علي صالح الحربي",
        nid,
        "12/05/1410",
        "15/08/1450",
        "0501234567",
        "الرياض",
        "5",
        "3500",
        "3",
        "نحن أسرة من خمسة أفراد ونحتاج المساعدة في الإيجار.",
    ]


def arabic_digits(text: str) -> str:
    return text.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))


async def exchange(
    chat: ChatClient, text: str, replies: int = 1, button_id: str | None = None
) -> list[str]:
    """Send one message and return the texts of the `replies` it gets."""
    response = await chat.post(text, button_id=button_id)
    assert response.status == 202
    return [reply["text"] for reply in await chat.replies(replies)]


def due_date_text(language: str, days: int = 14) -> str:
    """How the bot writes "today + days" (Riyadh), Hijri beside Gregorian: working days on
    the example profile's calendar (the promises count them), or days ago when negative."""
    now = datetime.now(RIYADH)
    if days > 0:
        due = WorkCalendar(load_profile(EXAMPLE_PROFILE)).add_days(now, days).astimezone(RIYADH)
    else:
        due = now + timedelta(days=days)
    return translator(language).format_date(due.date())


@contextmanager
def database(url: str) -> Iterator[Session]:
    db = Database(url)
    try:
        with db.sessions() as session:
            yield session
    finally:
        db.close()


def stored_attachment(url: str, kept: Mapping[str, Any], timeout: float = 30.0) -> Path:
    """The file a request or complaint keeps (its message and position), once the worker
    fetched it: files arrive after the message is recorded (bot/storage/attachments.py)."""
    deadline = time.monotonic() + timeout
    while True:
        with database(url) as db:
            row = db.scalar(
                select(MessageMedia).where(
                    MessageMedia.message_id == kept["message_id"],
                    MessageMedia.position == kept["media_index"],
                )
            )
            if row is not None and row.stored_path:
                return Path(row.stored_path)
        if time.monotonic() > deadline:
            raise AssertionError(f"attachment {dict(kept)} not fetched: {row and row.error}")
        time.sleep(0.05)
