"""Telegram through the Bot API, with python-telegram-bot (22.x) as the client.

Telegram posts each update to `POST /webhooks/telegram` with the secret token given to
`setWebhook` in the `X-Telegram-Bot-Api-Secret-Token` header; that header is the whole
authentication. Updates are decoded with `telegram.Update.de_json` and become
`InboundMessage`s: messages (text, captions, photos, documents, voice notes) and inline-keyboard
presses (`callback_query`). Edited messages, group chats and other update kinds are
acknowledged and dropped.

Replies go out with `sendMessage`: buttons as an inline keyboard (one per row, the button id
as `callback_data`), long texts split at 4,096 characters. No python-telegram-bot type leaves
this package: the router sees `InboundMessage`, the worker sees `SendError`s.

`TELEGRAM_API_BASE` points the client at another Bot API server (a local `telegram-bot-api`,
or a fake in tests). Its format is python-telegram-bot's `base_url`: `<server>/bot`, to which
the token is appended; files are fetched from `<server>/file/bot<token>/<path>`.

One module per job, as courier's handlers are cut: `settings` (TELEGRAM_*), `bot_api` (the
client, its addresses, keeping the token out of logs), `inbound` (the secret check and
updates as InboundMessages), `outbound` (a message as text and an inline keyboard), `errors`
(the Bot API's errors as the worker's typed send errors), `media` (downloading files, in the
worker), `webhook` (`tawasul telegram set-webhook`) and `channel` (the class that ties them).
"""

from channels.telegram.bot_api import api_bases
from channels.telegram.channel import TelegramChannel
from channels.telegram.inbound import WEBHOOK_PATH
from channels.telegram.settings import TelegramSettings
from channels.telegram.webhook import TelegramSetupError, set_webhook

__all__ = [
    "WEBHOOK_PATH",
    "TelegramChannel",
    "TelegramSettings",
    "TelegramSetupError",
    "api_bases",
    "set_webhook",
]
