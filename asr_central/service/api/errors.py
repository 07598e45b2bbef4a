"""Error answers that cannot fail in turn: no input, however odd, gets a 500.

FastAPI's own 422 answer echoes the input back and fails to encode it when it holds a
non-finite number (`1e999` parses as infinity) or a lone surrogate (`"\\ud800"`), which
turned a bad request into a 500; and a lone surrogate that passes validation makes SQLite
raise when it is stored. Both become a 4xx that names the problem. Text the database
cannot store that got past the request check (asr_central.service.api.storable) is a 422.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response

from asr_central.storage.text import UnstorableText

__all__ = ["install"]

log = logging.getLogger("asr_central.api")


def _plain(value: object) -> Any:
    """JSON-encodable data with non-finite numbers as text (JSON has no infinity)."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _json(status: int, content: Any) -> Response:
    # ensure_ascii: a lone surrogate goes out as its \u escape, which encodes as ASCII.
    body = json.dumps(_plain(content), ensure_ascii=True, allow_nan=False)
    return Response(body, status_code=status, media_type="application/json")


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return _json(422, {"detail": jsonable_encoder(exc.errors())})


async def _unencodable(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UnicodeEncodeError)
    log.warning("request %s %s refused: text with a lone surrogate", request.method,
                request.url.path)
    return _json(400, {"detail": "a text value holds a lone surrogate (U+D800 to U+DFFF), "
                                 "which cannot be stored: send valid Unicode text"})


async def _unstorable(request: Request, exc: Exception) -> Response:
    log.error("request %s %s refused by the database: %s", request.method, request.url.path,
              exc)
    return _json(422, {"detail": str(exc)})


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(UnicodeEncodeError, _unencodable)
    app.add_exception_handler(UnstorableText, _unstorable)
