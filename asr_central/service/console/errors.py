"""Error answers of the console as pages, not JSON: a person at a browser reads them.

Every console route is a `ConsoleRoute`: an HTTPException or a request that fails
validation, raised by the route or its dependencies (sign-in, permissions, CSRF), or text
the database refused (storage.text.UnstorableText), becomes the error page with its status; a redirect (sign in first) stays a redirect."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import Response

from asr_central.service.console.render import page, redirect
from asr_central.storage.text import UnstorableText

__all__ = ["ConsoleRoute"]

_TITLES = {403: "Not allowed", 404: "Not found", 409: "Conflict", 422: "Not understood"}


class ConsoleRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except HTTPException as exc:
                if exc.status_code == 303 and exc.headers and "Location" in exc.headers:
                    return redirect(exc.headers["Location"])
                return _error_page(exc.status_code, str(exc.detail))
            except RequestValidationError as exc:
                where = "; ".join(".".join(str(p) for p in e.get("loc", ())) + ": " +
                                  str(e.get("msg", "")) for e in exc.errors())
                return _error_page(422, f"the request was not understood ({where})")
            except UnstorableText as exc:  # past the request check: the engine refused it
                return _error_page(422, f"the request was not understood ({exc})")

        return answer


def _error_page(status: int, message: str) -> Response:
    return page("error.html", status, viewer=None, title=_TITLES.get(status, "Error"),
                status=status, message=message)
