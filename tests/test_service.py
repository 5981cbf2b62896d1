"""Health, metrics, and the web app's answers to things that are not chat messages."""

from __future__ import annotations

import aiohttp

from tests.chat_client import ChatClient
from tests.conftest import LiveGateway


async def test_healthz_checks_database_and_redis(live_gateway: LiveGateway) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{live_gateway.url}/healthz") as response:
            assert response.status == 200
            assert await response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


async def test_metrics_count_messages_per_channel(live_gateway: LiveGateway) -> None:
    async with aiohttp.ClientSession() as http:
        chat = await ChatClient(http, live_gateway.url).start()
        await chat.say("مرحبا")
        async with http.get(f"{live_gateway.url}/metrics") as response:
            assert response.status == 200
            body = await response.text()
    lines = {line.split(" ")[0]: line.split(" ")[1] for line in body.splitlines() if " " in line}
    assert float(lines['tawasul_messages_in_total{channel="webchat"}']) >= 1
    assert float(lines['tawasul_messages_out_total{channel="webchat"}']) >= 1
    assert 'tawasul_handler_seconds_bucket{channel="webchat",le="0.05"}' in lines
    assert any(key.startswith("tawasul_queue_depth{") for key in lines)


async def test_unknown_route_is_404_and_root_goes_to_chat(live_gateway: LiveGateway) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{live_gateway.url}/nope") as response:
            assert response.status == 404
        async with http.get(f"{live_gateway.url}/", allow_redirects=False) as response:
            assert response.status == 302 and response.headers["Location"] == "/chat"
