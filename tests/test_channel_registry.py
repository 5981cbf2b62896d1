"""The channel table: each channel's on/off status and reason come from its own settings,
read from the environment and `.env` (environment names unchanged), and phone routing from
what the built channels say they can reach."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.app.runtime import phone_route_among
from bot.crypto import Cipher
from bot.media import MediaStore
from bot.models import AddressKind
from bot.profile_loader import load_profile
from bot.settings import load_settings
from channels.base import Channel
from channels.context import ChannelContext
from channels.registry import CHANNELS, build_channels, channel_status
from tests.conftest import PROFILE, REDIS_URL, SECRET_KEY

PREFIXES = ("TWILIO_", "WHATSAPP_", "TELEGRAM_", "SMTP_", "IMAP_")

TWILIO_ACCOUNT = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "secret"}
WHATSAPP = {
    "WHATSAPP_TOKEN": "token",
    "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
    "WHATSAPP_APP_SECRET": "app-secret",
}
TELEGRAM = {"TELEGRAM_BOT_TOKEN": "123:ABC", "TELEGRAM_SECRET_TOKEN": "hook-secret"}
EMAIL = {"SMTP_HOST": "smtp.example.org", "SMTP_FROM": "help@example.org", "IMAP_HOST": "imap"}
EVERYTHING = {**TWILIO_ACCOUNT, "TWILIO_SMS_FROM": "+15005550006", **WHATSAPP, **TELEGRAM, **EMAIL}

NONE_SET = {
    "webchat": None,
    "twilio": "no credentials (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_SMS_FROM unset)",
    "whatsapp": (
        "no credentials (WHATSAPP_TOKEN, WHATSAPP_PHONE_NUMBER_ID, WHATSAPP_APP_SECRET unset)"
    ),
    "telegram": "no credentials (TELEGRAM_BOT_TOKEN, TELEGRAM_SECRET_TOKEN unset)",
    "email": "no credentials (SMTP_HOST, SMTP_FROM, IMAP_HOST unset)",
}

STATUS_CASES: dict[str, tuple[dict[str, str], dict[str, str | None]]] = {
    "nothing set: only the web chat": ({}, NONE_SET),
    "everything set": (EVERYTHING, dict.fromkeys(NONE_SET)),
    "twilio with a WhatsApp sender only": (
        {**TWILIO_ACCOUNT, "TWILIO_WHATSAPP_FROM": "whatsapp:+15005550006"},
        {**NONE_SET, "twilio": None},
    ),
    "twilio without a sender": (
        TWILIO_ACCOUNT,
        {**NONE_SET, "twilio": "no credentials (TWILIO_SMS_FROM unset)"},
    ),
    "an empty value is unset": (
        {**TELEGRAM, "TELEGRAM_SECRET_TOKEN": ""},
        {**NONE_SET, "telegram": "no credentials (TELEGRAM_SECRET_TOKEN unset)"},
    ),
    "email half set": (
        {"SMTP_HOST": "smtp.example.org", "IMAP_PORT": "143"},
        {**NONE_SET, "email": "no credentials (SMTP_FROM, IMAP_HOST unset)"},
    ),
    "whatsapp without its app secret": (
        {k: v for k, v in WHATSAPP.items() if k != "WHATSAPP_APP_SECRET"},
        {**NONE_SET, "whatsapp": "no credentials (WHATSAPP_APP_SECRET unset)"},
    ),
}

Environment = Callable[[dict[str, str]], None]


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Environment:
    """A clean environment (no channel variable, no `.env`) and a way to set variables."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(PREFIXES):
            monkeypatch.delenv(name)

    def set_variables(values: dict[str, str]) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_variables


@pytest.mark.parametrize(("variables", "expected"), STATUS_CASES.values(), ids=list(STATUS_CASES))
def test_status_and_reason_of_every_channel_come_from_the_environment(
    environment: Environment, variables: dict[str, str], expected: dict[str, str | None]
) -> None:
    environment(variables)
    assert channel_status() == expected
    assert list(channel_status()) == list(CHANNELS)  # every registered channel says something


def test_dot_env_is_read_and_the_environment_wins(environment: Environment) -> None:
    Path(".env").write_text(
        "TELEGRAM_BOT_TOKEN=123:FROM-FILE\nTELEGRAM_SECRET_TOKEN=from-file\nSMTP_HOST=file\n",
        encoding="utf-8",
    )
    environment({"SMTP_HOST": ""})  # set, empty, in the environment: wins over the file
    status = channel_status()
    assert status["telegram"] is None
    assert status["email"] == "no credentials (SMTP_HOST, SMTP_FROM, IMAP_HOST unset)"


@pytest.fixture
async def context(tmp_path: Path) -> AsyncIterator[ChannelContext]:
    redis = Redis.from_url(REDIS_URL)
    yield ChannelContext(
        load_settings(var_dir=tmp_path / "var", secret_key=SECRET_KEY, profile=PROFILE),
        redis,
        REDIS_URL,
        Cipher(SECRET_KEY),
        load_profile(PROFILE),
        MediaStore(tmp_path / "var" / "media"),
    )
    await redis.aclose()


async def built(context: ChannelContext) -> dict[str, Channel]:
    channels = build_channels(context)
    for channel in channels.values():
        await channel.close()
    return channels


async def test_build_channels_builds_the_ones_that_are_on_and_logs_why_not(
    environment: Environment, context: ChannelContext, caplog: pytest.LogCaptureFixture
) -> None:
    environment({**TWILIO_ACCOUNT, "TWILIO_SMS_FROM": "+15005550006", **EMAIL})
    with caplog.at_level(logging.INFO, logger="channels.registry"):
        channels = await built(context)
    assert list(channels) == ["webchat", "twilio", "email"]
    assert {name: channel.name for name, channel in channels.items()} == {n: n for n in channels}
    logged = [r.getMessage() for r in caplog.records if r.name == "channels.registry"]
    assert logged == [
        "channel webchat: on",
        "channel twilio: on",
        f"channel whatsapp: off ({NONE_SET['whatsapp']})",
        f"channel telegram: off ({NONE_SET['telegram']})",
        "channel email: on",
    ]


async def test_everything_set_builds_every_channel(
    environment: Environment, context: ChannelContext
) -> None:
    environment(EVERYTHING)
    assert list(await built(context)) == list(CHANNELS)


PHONE_CASES: dict[str, tuple[dict[str, str], tuple[str, AddressKind] | None]] = {
    "twilio SMS before anything": (
        {
            **TWILIO_ACCOUNT,
            "TWILIO_SMS_FROM": "+15005550006",
            "TWILIO_WHATSAPP_FROM": "+15005550007",
            **WHATSAPP,
        },
        ("twilio", AddressKind.SMS),
    ),
    "twilio WhatsApp before Meta's": (
        {**TWILIO_ACCOUNT, "TWILIO_WHATSAPP_FROM": "+15005550007", **WHATSAPP},
        ("twilio", AddressKind.WHATSAPP),
    ),
    "Meta's WhatsApp alone": (WHATSAPP, ("whatsapp", AddressKind.WHATSAPP)),
    "no channel reaches a phone": ({**TELEGRAM, **EMAIL}, None),
}


@pytest.mark.parametrize(("variables", "route"), PHONE_CASES.values(), ids=list(PHONE_CASES))
async def test_phone_route_follows_what_the_channels_declare(
    environment: Environment,
    context: ChannelContext,
    variables: dict[str, str],
    route: tuple[str, AddressKind] | None,
) -> None:
    environment(variables)
    assert phone_route_among(await built(context)) == route
