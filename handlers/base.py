"""Check-then-handle handlers (python-telegram-bot's model) over one conversation turn.

A handler sees a `Turn`: the message, the conversation's state, the beneficiary's translator
and the organisation profile. It answers by appending replies and effects; the router stores
them. Handlers know nothing of providers or SQL.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from bot.attempts import Attempts
from bot.effects import Effect, SetLanguage
from bot.i18n import N_, Translator, translator
from bot.models import AddressKind, Button, InboundMessage, OutboundMessage
from bot.profile import Profile
from bot.storage.reads import Reads
from bot.text import normalize_for_matching

__all__ = ["N_", "ConversationState", "Dispatcher", "Flow", "Handler", "Turn"]


@dataclass
class ConversationState:
    """Where the conversation is: the active journey and its step, plus what it collected."""

    flow: str | None = None
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    greeted: bool = False
    misunderstood: int = 0
    handoff: int | None = None
    consent_asked: bool = False
    drafts: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> ConversationState:
        if not data:
            return cls()
        return cls(
            flow=data.get("flow"),
            step=data.get("step"),
            data=dict(data.get("data") or {}),
            greeted=bool(data.get("greeted")),
            misunderstood=int(data.get("misunderstood") or 0),
            handoff=data.get("handoff"),
            consent_asked=bool(data.get("consent_asked")),
            drafts=dict(data.get("drafts") or {}),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "flow": self.flow,
            "step": self.step,
            "data": self.data,
            "greeted": self.greeted,
            "misunderstood": self.misunderstood,
            "handoff": self.handoff,
            "consent_asked": self.consent_asked,
            "drafts": self.drafts,
        }

    def enter(self, flow: str | None, step: str | None = None) -> None:
        """Start a journey (or return to the menu with None), forgetting the last one's data."""
        self.flow, self.step, self.data = flow, step, {}


@dataclass
class Turn:
    """One inbound message being handled, and what the handlers decide to do about it."""

    message: InboundMessage
    state: ConversationState
    contact_id: int
    conversation_id: int
    profile: Profile
    records: Reads  # lookups only: what the turn writes goes in `effects`
    t: Translator
    now: datetime
    replies: list[OutboundMessage] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    # How this gateway reaches a phone (channel, address kind), e.g. ("twilio", SMS); None
    # when no SMS or WhatsApp channel is on.
    phone_route: tuple[str, AddressKind] | None = None
    # The stored inbound message's id: what a request or complaint keeps to find its files.
    message_id: int | None = None
    # Attempt limits shared by every process (codes sent, codes and identities tried); None
    # where there is no Redis to keep them, and then what they guard is refused.
    attempts: Attempts | None = None

    def lookup_hash(self, text: str) -> str:
        """The keyed hash of `text`, to keep a secret such as a code only as its hash."""
        return self.records.lookup_hash(text)

    @property
    def channel(self) -> str:
        return self.message.channel

    @cached_property
    def text(self) -> str:
        """The message normalised for matching (digits, Arabic letter forms, case); every
        handler's check asks for it, so it is worked out once."""
        return normalize_for_matching(self.message.text)

    def say(self, text: str, buttons: Sequence[Button] = ()) -> None:
        self.replies.append(OutboundMessage(text=text, buttons=tuple(buttons)))

    def switch_language(self, language: str) -> None:
        """Answer in `language` from now on, this reply included."""
        self.t = translator(language)
        self.effects.append(SetLanguage(self.t.language))

    def effect(self, effect: Effect) -> None:
        self.effects.append(effect)


class Handler(ABC):
    """A handler answers a turn when `check` says the turn is its own. `handle` may return
    False to pass the turn on after all (a hand-off that staff have closed meanwhile)."""

    def check(self, turn: Turn) -> bool:
        return True

    @abstractmethod
    async def handle(self, turn: Turn) -> bool | None: ...


class Dispatcher:
    """Global handlers first (opt-out works in any state), then the active journey, then the
    menu: the first whose check passes handles the turn."""

    def __init__(
        self,
        global_handlers: Iterable[Handler],
        flows: Mapping[str, Handler],
        fallback: Handler,
    ) -> None:
        self.global_handlers = tuple(global_handlers)
        self.flows = dict(flows)
        self.fallback = fallback

    async def dispatch(self, turn: Turn) -> None:
        for handler in self.global_handlers:
            if handler.check(turn) and await handler.handle(turn) is not False:
                return
        flow = self.flows.get(turn.state.flow or "")
        if flow is not None and flow.check(turn):
            await flow.handle(turn)
            return
        await self.fallback.handle(turn)


class Flow(Handler):
    """A journey started from the menu (support request, complaint…); it owns the turns while
    the conversation's state names it."""

    name: str

    @abstractmethod
    async def start(self, turn: Turn) -> None: ...

    @abstractmethod
    async def handle(self, turn: Turn) -> None: ...

    def ask_again(self, turn: Turn) -> bool:
        """Repeat the question the journey waits for, after a word that works everywhere
        (STOP, START) was answered in between; False when there is nothing to repeat."""
        return False
