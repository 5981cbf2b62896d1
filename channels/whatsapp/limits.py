"""What the Graph API accepts in one message, what our tables store, and how long we wait:
shared by rendering, parsing, sending and the channel's declared capabilities."""

from __future__ import annotations

import aiohttp

MAX_TEXT = 4096
MAX_INTERACTIVE_BODY = 1024
MAX_REPLY_BUTTONS = 3
MAX_REPLY_BUTTON_TITLE = 20
MAX_REPLY_BUTTON_ID = 256
MAX_LIST_ROWS = 10
MAX_ROW_TITLE = 24
MAX_ROW_DESCRIPTION = 72
MAX_ROW_ID = 200
MAX_CHALLENGE = 1024
MAX_PROVIDER_ID = 128  # the messages table's provider_id column

SEND_TIMEOUT = aiohttp.ClientTimeout(total=20, sock_connect=10)
MEDIA_TIMEOUT = aiohttp.ClientTimeout(total=120, sock_connect=10)
