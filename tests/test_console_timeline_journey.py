"""Each message keeps the journey the bot was in, on both backends: a message in, the journey
when it came; the bot's reply, the journey after its turn; staff's own replies none. The
console's timeline reads it back."""

from __future__ import annotations

from bot.models import AddressKind, InboundMessage, OutboundMessage
from bot.storage import Store
from bot.storage.casework import Outgoing


def _inbound(provider_id: str, text: str) -> InboundMessage:
    return InboundMessage(
        channel="webchat",
        address_kind=AddressKind.WEBCHAT,
        address="session-j1",
        provider_id=provider_id,
        text=text,
    )


async def test_the_timeline_shows_the_journey_of_each_message(store: Store) -> None:
    first = await store.inbound.record_inbound(_inbound("j1", "مرحبا"))
    assert first is not None
    await store.inbound.save_turn(first, "webchat", {}, [OutboundMessage("القائمة")], [])
    second = await store.inbound.record_inbound(_inbound("j2", "٤"))
    assert second is not None
    state = {"flow": "complaint", "step": "category"}
    await store.inbound.save_turn(second, "webchat", state, [OutboundMessage("ما نوعها؟")], [])
    third = await store.inbound.record_inbound(_inbound("j3", "١"))
    assert third is not None
    await store.casework.send(
        Outgoing(
            first.conversation_id, first.address_id, "webchat", OutboundMessage("أهلًا، معك هيفاء")
        ),
        "o@example.org",
    )
    view = await store.casework_reads.conversation(first.conversation_id)
    assert view is not None
    assert [(entry.text, entry.journey) for entry in view.timeline] == [
        ("مرحبا", "menu"),
        ("القائمة", "menu"),
        ("٤", "menu"),  # it came while the bot was at the menu
        ("ما نوعها؟", "complaint"),  # and took it into the complaint journey
        ("١", "complaint"),
        ("أهلًا، معك هيفاء", None),  # staff's own words are in no journey of the bot
    ]
