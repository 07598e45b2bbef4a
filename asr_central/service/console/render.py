"""HTML answers of the console: Jinja2 templates shipped in the package, autoescaped
(printer strings are untrusted), and the headers every console answer carries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Query
from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.responses import HTMLResponse, RedirectResponse

__all__ = ["SECURITY_HEADERS", "PageNumber", "Pager", "page", "redirect"]

# `?p=` of a paged list: bounded, so that no offset overflows the database's integers.
PageNumber = Annotated[int, Query(ge=1, le=1_000_000)]

# No script runs (the console needs none), nothing loads from elsewhere, no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_ENV = Environment(loader=PackageLoader("asr_central.service.console", "templates"),
                   autoescape=True, undefined=StrictUndefined, trim_blocks=True,
                   lstrip_blocks=True)


@dataclass(frozen=True, slots=True)
class Pager:
    """One page of a longer list: `number` from 1."""

    number: int
    size: int
    total: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def page(name: str, http_status: int = 200, /, **context: Any) -> HTMLResponse:
    """Template `name` rendered with `context` (positional-only arguments: any name is
    free for the template)."""
    html = _ENV.get_template(name).render(**context)
    return HTMLResponse(html, status_code=http_status, headers=SECURITY_HEADERS)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)
