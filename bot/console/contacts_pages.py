"""Beneficiaries in the console (/console/contacts): find one by phone, national ID, a
reference or exact name (through the keyed hashes: the values themselves are encrypted), the
contact card (addresses, language, consent history per purpose, requests, complaints,
hand-offs), merging two contacts, a deletion request (erase the personal fields, keep the
counts) and a data-access request (everything held, as a JSON file to download). Every view
and change is audited."""

from __future__ import annotations

import json

from aiohttp import web

from bot.crypto import Cipher
from bot.fields.national_id import luhn_valid
from bot.i18n import N_
from bot.profile_types import normalise_phone
from bot.storage.audit import Subject
from bot.storage.casework import NotAllowed
from bot.storage.contact_cases import ContactCard
from bot.storage.references import typed_reference
from bot.text import normalize_digits

from .beneficiary import beneficiary_translator, notice, push
from .casework_common import int_id
from .context import audit, console, staff
from .rendering import render

NOT_UNDERSTOOD = N_(
    "Write a mobile number, a national ID, a reference number (R-, C- or T- and its digits) or "
    "the beneficiary's full name exactly as they gave it."
)
# The longest name the support form takes (profiles' full_name max_length).
MAX_QUERY = 100
NOTHING_FOUND = N_("No beneficiary matches.")
MERGE_WHAT = N_("Write the number of the contact to merge into this one (it is then removed).")
ERASE_CONFIRM = N_("Type ERASE to confirm the deletion.")
REFERENCE_PREFIXES = ("R", "C", "T")
# Translators: sent to the beneficiary when staff have erased their data (the privacy
# journey's deletion request promised to tell them here).
DELETION_DONE = N_(
    "Your personal data has been deleted as you asked: your name, ID number, addresses and "
    "messages. Some records, such as decisions on support requests and complaints, are kept "
    "without them for the period the law requires; they stay confidential and are deleted when "
    "that period ends. Thank you for contacting us."
)
# How long the erase waits for the worker to send that notice: it must leave before the
# address it goes to is wiped.
NOTICE_WAIT_SECONDS = 20.0


def _search_terms(cipher: Cipher, typed: str) -> dict[str, str | None]:
    """What a typed query can be: a phone, a national ID, a reference, or a name (found by
    its keyed hash: the same name with or without diacritics, tatweel, hamza forms)."""
    text = normalize_digits(typed).strip()
    terms: dict[str, str | None] = dict.fromkeys(
        ("phone_hash", "national_id_hash", "reference", "name_hash")
    )
    head = text[:1].upper()
    if head in REFERENCE_PREFIXES and any(ch.isdigit() for ch in text):
        terms["reference"] = typed_reference(head, text)
        return terms
    if any(ch.isalpha() for ch in text):
        terms["name_hash"] = cipher.name_hash(text)
        return terms
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) == 10 and digits[0] in "12" and luhn_valid(digits):
        terms["national_id_hash"] = cipher.lookup_hash(digits)
    try:
        terms["phone_hash"] = cipher.lookup_hash(normalise_phone(text))
    except ValueError:
        pass
    return terms


async def contacts_page(request: web.Request) -> web.Response:
    typed = request.query.get("q", "").strip()[:MAX_QUERY]
    ctx = console(request)
    cards: list[ContactCard] = []
    error = None
    if typed:
        terms = _search_terms(ctx.store.cipher, typed)
        if not any(terms.values()):
            error = NOT_UNDERSTOOD
        else:
            ids = await ctx.store.contact_cases.find(**terms)
            for contact_id in ids:
                card = await ctx.store.contact_cases.card(contact_id)
                if card is not None:
                    cards.append(card)
            await audit(request, "contact.searched", None, {"found": len(cards)})
            if not cards:
                error = NOTHING_FOUND
    return render(request, "contacts.html", {"q": typed, "cards": cards, "error": error})


async def _card(request: web.Request) -> ContactCard:
    card = await console(request).store.contact_cases.card(int_id(request))
    if card is None:
        raise web.HTTPNotFound()
    return card


async def contact_page(
    request: web.Request, error: str | None = None, status: int = 200
) -> web.Response:
    card = await _card(request)
    await audit(
        request, "contact.viewed", Subject("contact", card.id), {"fields": ["name", "addresses"]}
    )
    return render(request, "contact.html", {"card": card, "error": error}, status=status)


async def merge(request: web.Request) -> web.Response:
    card = await _card(request)
    form = await request.post()
    try:
        gone = int(normalize_digits(str(form.get("other", ""))).strip())
    except ValueError:
        return await contact_page(request, MERGE_WHAT, 400)
    try:
        await console(request).store.contact_cases.merge(card.id, gone, staff(request).email)
    except (KeyError, NotAllowed):
        return await contact_page(request, MERGE_WHAT, 400)
    raise web.HTTPFound(f"/console/contacts/{card.id}")


async def erase(request: web.Request) -> web.Response:
    card = await _card(request)
    form = await request.post()
    if str(form.get("confirm", "")).strip().upper() != "ERASE":
        return await contact_page(request, ERASE_CONFIRM, 400)
    await _tell_deletion_done(request, card)
    files = await console(request).store.contact_cases.erase(card.id, staff(request).email)
    media = console(request).media
    if media is not None:
        await media.remove(files)
    raise web.HTTPFound(f"/console/contacts/{card.id}")


async def _tell_deletion_done(request: web.Request, card: ContactCard) -> None:
    """Keep the deletion journey's promise: tell the beneficiary, in their language, on the
    address they last wrote from, and wait for the notice to leave before the erase wipes that
    address (a notice still queued then is marked failed by the erase, and shown so)."""
    if card.conversation_id is None:
        return
    store = console(request).store
    route = await store.casework_reads.reply_route(card.conversation_id)
    text = beneficiary_translator(request, card.language).gettext(DELETION_DONE)
    message = notice(request, card.conversation_id, route, text, None)
    if message is None or message.not_sent:  # no address, or WhatsApp's window closed
        return
    message_id = await store.casework.send(message, staff(request).email)
    await push(request, message_id)
    await store.contact_cases.wait_until_sent(message_id, NOTICE_WAIT_SECONDS)


async def export(request: web.Request) -> web.Response:
    contact_id = int_id(request)
    data = await console(request).store.contact_cases.export(contact_id)
    if data is None:
        raise web.HTTPNotFound()
    await audit(request, "contact.exported", Subject("contact", contact_id), {"fields": ["all"]})
    body = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    return web.Response(
        text=body,
        content_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="beneficiary-{contact_id}.json"',
            "Cache-Control": "no-store",
        },
    )


def contact_routes() -> list[web.RouteDef]:
    return [
        web.get("/contacts", contacts_page),
        web.get("/contacts/{id}", contact_page),
        web.get("/contacts/{id}/export", export),
        web.post("/contacts/{id}/merge", merge),
        web.post("/contacts/{id}/erase", erase),
    ]
