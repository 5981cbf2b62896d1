"""Helpers for conversation tests: valid national IDs, sending a message and reading all its
replies, and reading the live gateway's database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.db import Database
from bot.fields.national_id import luhn_valid
from bot.i18n import translator
from tests.chat_client import ChatClient

RIYADH = ZoneInfo("Asia/Riyadh")


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
    """How the bot writes "today + days" (Riyadh), Hijri beside Gregorian."""
    due = (datetime.now(RIYADH) + timedelta(days=days)).date()
    return translator(language).format_date(due)


@contextmanager
def database(url: str) -> Iterator[Session]:
    db = Database(url)
    try:
        with db.sessions() as session:
            yield session
    finally:
        db.close()
