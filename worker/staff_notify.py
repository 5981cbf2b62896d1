"""Staff notifications, sent as digests: by email (SMTP_*, as the email channel sends) to a
staff member, or to the staff Telegram chat (through the Telegram channel).

The SLA watch stores each notification (worker/sla.py); here every recipient whose oldest
waiting one has waited the profile's `digest_seconds` gets everything waiting for them in
one message, claimed first and marked sent after (bot/storage/staff_notifications.py).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from bot.i18n import N_, Translator, translator
from bot.models import AddressKind, OutboundMessage
from bot.storage.staff_notifications import Pending
from channels.email.settings import EmailSettings
from channels.email.smtp import SmtpSender
from worker.context import WorkerContext
from worker.sla import staff_languages, translator_for

log = logging.getLogger(__name__)

SUBJECT = N_("{name}: {count} new items for you")
HEADER = N_("Items waiting for you in the console:")


class NotSendable(Exception):
    """This deployment has no way to reach the recipient (channel off, no SMTP)."""


def digest_text(t: Translator, items: list[Pending]) -> str:
    """The digest's body: each item with its console link, oldest first."""
    lines = [t.gettext(HEADER), ""]
    for item in items:
        lines += [f"• {item.text}", f"  {item.link}"]
    return "\n".join(lines)


async def send_digests(context: WorkerContext, now: datetime) -> int:
    """Send every complete digest; returns how many notifications went out."""
    profile, store = context.profile, context.store.staff_notifications
    window = timedelta(seconds=profile.notifications.digest_seconds)
    default = translator(profile.default_language)
    recipients = await store.due_recipients(now, window)
    languages = await staff_languages(context.store) if recipients else {}
    sent = 0
    for recipient in recipients:
        token = uuid.uuid4().hex
        items = await store.claim(recipient, now, token)
        if not items:
            continue  # another worker took them
        try:
            await _send(context, translator_for(recipient, languages, default), recipient, items)
        except Exception as exc:  # any failure: released for the next round, never lost
            log.warning("staff notification to %s not sent: %s", recipient, exc)
            await store.release(token, f"{type(exc).__name__}: {exc}")
            continue
        await store.mark_sent(token, now)
        sent += len(items)
    return sent


async def _send(
    context: WorkerContext, t: Translator, recipient: str, items: list[Pending]
) -> None:
    channel, _, address = recipient.partition(":")
    name = context.profile.short_name.get(t.language)
    body = digest_text(t, items)
    if channel == "telegram":
        telegram = context.channels.get("telegram")
        if telegram is None:
            raise NotSendable("the Telegram channel is off (TELEGRAM_BOT_TOKEN unset)")
        await telegram.send(AddressKind.TELEGRAM, address, OutboundMessage(text=body))
        return
    if channel != "email":
        raise NotSendable(f"unknown recipient {recipient!r}")
    if len(items) == 1:
        subject = f"{name}: {items[0].text}"  # the item says itself
    else:
        subject = t.gettext(SUBJECT).format(name=name, count=t.format_number(len(items)))
    await send_email(address, subject, body)


async def send_email(address: str, subject: str, body: str) -> None:
    """One text/plain UTF-8 email from SMTP_FROM through the SMTP_* server."""
    settings = EmailSettings()
    if not settings.smtp_host or not settings.smtp_from:
        raise NotSendable("email is off (SMTP_HOST or SMTP_FROM unset)")
    _, sender = parseaddr(settings.smtp_from)
    mail = EmailMessage()
    mail["From"] = settings.smtp_from
    mail["To"] = address
    mail["Subject"] = subject
    mail["Date"] = format_datetime(datetime.now(UTC))
    mail["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    mail.set_content(body, charset="utf-8")
    smtp = SmtpSender(settings, sender)
    try:
        await smtp.send(mail, address)
    finally:
        await smtp.close()
