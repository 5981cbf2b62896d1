"""`build_dispatcher`: every journey wired in priority order."""

from __future__ import annotations

from bot.faq_live import FaqSource, StaticFaq
from bot.profile import Profile
from handlers.base import Dispatcher, Flow, Turn
from handlers.complaint import ComplaintFlow
from handlers.consent import UpdatesFlow
from handlers.handoff import HandoffFlow, StaffHasConversation
from handlers.inquiries import InquiriesFlow, not_understood, understand
from handlers.language import LanguageHandler
from handlers.link_phone import LinkPhoneFlow, LinkPhoneWords
from handlers.menu import MenuHandler, MenuWordHandler
from handlers.privacy import PrivacyFlow
from handlers.request_status import RequestStatusFlow
from handlers.subscription import OptInHandler, OptOutHandler
from handlers.support_request import SupportRequestFlow
from handlers.survey import SurveyFlow


def build_dispatcher(profile: Profile, faq: FaqSource | None = None) -> Dispatcher:
    """Opt-out/opt-in first (any state, even while staff hold the conversation), then the
    staff hand-off's silence, language and menu words, then the active journey, then the menu
    (which tries the FAQ on anything that is not a menu choice). `faq` is the FAQ staff
    teach (bot/faq_live.py); the profile's alone when None."""
    index = StaticFaq(profile) if faq is None else faq
    link_phone = LinkPhoneFlow()
    flows: dict[str, Flow] = {
        flow.name: flow
        for flow in (
            InquiriesFlow(index),
            SupportRequestFlow(),
            RequestStatusFlow(),
            HandoffFlow(),
            ComplaintFlow(),
            UpdatesFlow(),
            PrivacyFlow(),
            link_phone,
        )
    }

    async def free_text(turn: Turn) -> bool:
        return await understand(turn, index) or await not_understood(turn)

    menu = MenuHandler(flows, free_text)
    # The satisfaction survey the worker starts; what is no answer to it goes to the menu.
    survey = SurveyFlow(menu, flows)
    flows[survey.name] = survey
    return Dispatcher(
        global_handlers=[
            OptOutHandler(flows),
            OptInHandler(flows),
            StaffHasConversation(),
            LinkPhoneWords(link_phone),
            LanguageHandler(),
            MenuWordHandler(),
        ],
        flows=flows,
        fallback=menu,
    )
