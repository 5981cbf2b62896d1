"""What becomes of a message from a sender over their limit (bot/rate_limit.py).

The web chat's browser is answered 429 and sends again later. A provider must be answered
2xx, or it retries without end, so its message is recorded and marked handled like any other
(nothing is lost, nothing handles it twice later), but without running the journeys: no
reply, except one notice in the sender's language the first time. An opt-out still works at
once. These turns cost a record and a save, never a handler's work or a reply to deliver, so
a flood from one sender does not hold up anyone else's reply.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.app.router import Outcome, Router
from bot.i18n import N_
from bot.models import InboundMessage
from handlers.base import Dispatcher, Turn
from handlers.subscription import OptOutHandler

SLOW_DOWN = N_(
    "You have sent us many messages in a short time. They are all saved, but we will not "
    "answer new ones for about a minute. Please wait a little, then write again."
)


class _Held(Dispatcher):
    """Only an opt-out is acted on; otherwise silence, or the notice when `tell` is set."""

    def __init__(self, tell: bool) -> None:
        super().__init__([OptOutHandler()], {}, OptOutHandler())
        self.tell = tell

    async def dispatch(self, turn: Turn) -> None:
        for handler in self.global_handlers:
            if handler.check(turn) and await handler.handle(turn) is not False:
                return
        if self.tell:
            turn.say(turn.t.gettext(SLOW_DOWN))


@dataclass
class HeldRouters:
    """Two routers over the main router's store, Redis and outbox: one that tells the sender
    to slow down, one that says nothing."""

    telling: Router
    silent: Router

    @classmethod
    def beside(cls, router: Router) -> HeldRouters:
        def held(tell: bool) -> Router:
            beside = Router(
                router.store,
                router.redis,
                router.outbox,
                _Held(tell),
                router.profile,
                router.phone_route,
            )
            # One queue per person across all three, so a sender's messages are still taken
            # in the order they came, whichever router takes each.
            beside._local_locks = router._local_locks
            return beside

        return cls(held(True), held(False))

    async def handle(self, message: InboundMessage, tell_sender: bool) -> Outcome:
        return await (self.telling if tell_sender else self.silent).handle(message)
