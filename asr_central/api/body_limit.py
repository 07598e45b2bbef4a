"""Request body limits for every endpoint but the ingest fast path (which applies its own,
`ingest.MAX_BODY`, the same way): a declared Content-Length over the limit is answered 413
before a byte is read, and a body without one is counted as it streams in and refused 413
once past the limit, before anything parses it."""

from __future__ import annotations

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asr_central.api import ingest

__all__ = ["JSON_BODY", "REGISTRY_BODY", "BodyLimit", "limit_for"]

# The largest control message (an enrollment, a signed key change or order-status request,
# a shipment with its cartridge serials) is under 4 KiB: 64 KiB leaves a wide margin.
JSON_BODY = 64 * 1024
# A registry YAML import: 10,000 devices take about 600 KiB.
REGISTRY_BODY = 4 * 1024 * 1024
_REGISTRY_IMPORT = "/v1/registry/import"


def limit_for(path: str) -> int:
    """The most bytes a request body to `path` may hold (a prefix before it is allowed)."""
    if path.endswith(ingest.PATH):
        return ingest.MAX_BODY
    if path.endswith(_REGISTRY_IMPORT):
        return REGISTRY_BODY
    return JSON_BODY


def _too_large(limit: int) -> str:
    return f"Content Too Large: at most {limit} bytes for this endpoint"


class BodyLimit:
    """ASGI middleware applying `limit_for` to each HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["path"])
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                body = orjson.dumps({"detail": _too_large(limit)})
                await send({"type": "http.response.start", "status": 413, "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
                await send({"type": "http.response.body", "body": body})
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Raised where the app reads its body: FastAPI passes it on, and the
                    # app's exception middleware answers 413 before any parsing.
                    raise HTTPException(413, _too_large(limit))
            return message

        await self.app(scope, counted, send)
