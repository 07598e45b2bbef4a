"""The status page leaves SIGINT and SIGTERM to the daemon: uvicorn, embedded, must not take
them while it serves (the daemon stops on them, and stops the page itself)."""

from __future__ import annotations

import asyncio
import signal
from types import FrameType

import httpx
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from asr_agent.app.status.server import StatusServer


def _page(request: object) -> PlainTextResponse:
    return PlainTextResponse("ok")


def test_the_daemons_signal_handlers_stay_in_place_while_the_page_serves() -> None:
    def daemon_handler(signum: int, frame: FrameType | None) -> None:
        raise AssertionError("no signal is sent in this test")

    async def serve_and_look() -> tuple[object, object, int]:
        server = StatusServer(Starlette(routes=[Route("/", _page)]), ("127.0.0.1",), 0)
        await server.start()  # in the main thread, as the daemon runs it
        try:
            async with httpx.AsyncClient(trust_env=False) as client:
                status = (await client.get(server.urls[0])).status_code
            return signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM), status
        finally:
            await server.stop()

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGINT, daemon_handler)
    signal.signal(signal.SIGTERM, daemon_handler)
    try:
        sigint, sigterm, status = asyncio.run(serve_and_look())
        after = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGTERM, before[1])
    assert status == 200
    assert sigint is daemon_handler and sigterm is daemon_handler
    assert after == (daemon_handler, daemon_handler)
