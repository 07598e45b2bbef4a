"""The check every route of the app runs before its own dependencies: text the database
cannot store (a NUL character, a lone surrogate; see asr_central.storage.text) is refused
at the boundary with an answer that names where it was, whatever the route and its models.

- a path parameter holding it names nothing stored: 404;
- a query parameter, a form field or a JSON body value (keys too) holding it: 422, in the
  shape of FastAPI's own validation answer (`loc` names the field), which the console turns
  into its error page.

One check for every present and future route (an app-wide dependency, so routers included
later get it too), rather than a type on each model's fields: a field or route added without
it would reach the database. It runs before a route's sign-in or admin token check, which
tells a caller nothing but that its text cannot be stored. Not covered: other body types
(a YAML import: its parser checks its text) and the ingest fast path (the wire refuses every
control character). The PostgreSQL engine refuses a NUL that got past anyway
(`UnstorableText`, answered 422 by errors.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from asr_central.storage.text import unstorable

__all__ = ["refuse_unstorable"]

Loc = tuple[str | int, ...]


def _walk(value: Any, loc: Loc) -> Iterator[tuple[Loc, str]]:
    """(where, why) for each text in a parsed JSON value that cannot be stored."""
    if isinstance(value, str):
        why = unstorable(value)
        if why is not None:
            yield loc, why
    elif isinstance(value, dict):
        for key, item in value.items():
            why = unstorable(key)
            if why is not None:
                yield (*loc, key), f"a key {why}"
            yield from _walk(item, (*loc, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, (*loc, i))


def _refused(found: list[tuple[Loc, str]]) -> RequestValidationError:
    return RequestValidationError([{"type": "text_unstorable", "loc": loc, "msg": f"Text {why}"}
                                   for loc, why in found])


async def _body(request: Request) -> list[tuple[Loc, str]]:
    """The body's unstorable texts, if the route took a body (FastAPI has read it, and
    keeps it parsed on the request: nothing is read or parsed twice)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None:
        return []
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        return [found for name, value in form.multi_items() if isinstance(value, str)
                for found in _walk(value, ("body", name))]
    if kind in ("", "application/json") or kind.endswith("+json"):
        if not await request.body():
            return []
        try:
            return list(_walk(await request.json(), ("body",)))
        except ValueError:  # not JSON after all: the route refuses it as it does today
            return []
    return []  # another media type (a YAML upload): its parser checks its text


async def refuse_unstorable(request: Request) -> None:
    """Refuse the request if a path or query parameter, form field or JSON value holds text
    the database cannot store (see the module docstring)."""
    for name, value in request.path_params.items():
        why = unstorable(value) if isinstance(value, str) else None
        if why is not None:
            raise HTTPException(404, f"no {name} {value!r} here: its text {why}")
    found: list[tuple[Loc, str]] = [
        (("query", name), why) for name, value in request.query_params.multi_items()
        if (why := unstorable(value)) is not None]
    found += await _body(request)
    if found:
        raise _refused(found)
