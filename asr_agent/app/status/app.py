"""The status page's ASGI app: HTML for people, JSON and metrics for machines, one
action (poll now) behind a CSRF token; every route renders the same snapshot."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from asr_agent.app.metrics import CONTENT_TYPE, AgentMetrics
from asr_agent.app.status import charts
from asr_agent.app.status.model import StatusSnapshot, SupplyHistory
from asr_agent.app.status.security import (
    HostGuard, SecurityHeaders, csrf_matches, is_loopback_origin, new_csrf_token,
)

if TYPE_CHECKING:
    from jinja2 import Environment

_TEMPLATES = Path(__file__).parent / "templates"


class StatusSource(Protocol):
    """What the page reads; the daemon implements it over the store (read-only).

    A source may also offer `snapshot_async()` and `history_async(serial)`: the daemon's
    read the store on its store thread, so a page view neither blocks the event loop nor
    opens a second SQLite connection (with its own page cache).
    """

    def snapshot(self) -> StatusSnapshot: ...

    def history(self, serial: str) -> list[SupplyHistory]: ...


def create_status_app(source: StatusSource, *, metrics: AgentMetrics | None = None,
                      poll_now: Callable[[], Awaitable[None]] | None = None,
                      csrf_token: str | None = None,
                      allowed_host_names: frozenset[str] = frozenset(),
                      password_hash: str | None = None) -> Starlette:
    """The page's app. `password_hash` (argon2) is for a page served beyond loopback: every
    request then needs the password, and a Host or Origin by IP address is answered too."""
    token = csrf_token or new_csrf_token()
    remote = password_hash is not None
    metrics = metrics or AgentMetrics()
    templates: list[Environment] = []

    async def snapshot() -> StatusSnapshot:
        read = getattr(source, "snapshot_async", None)
        return await read() if read is not None else source.snapshot()

    async def history(serial: str) -> list[SupplyHistory]:
        read = getattr(source, "history_async", None)
        return await read(serial) if read is not None else source.history(serial)

    def page(name: str, **context: object) -> HTMLResponse:
        if not templates:
            # Built at the first page view: an agent scraped for /metrics, or never looked
            # at, does not carry the template engine.
            from jinja2 import Environment, FileSystemLoader, select_autoescape

            env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html"]))
            env.globals["swatch"] = charts.swatch
            templates.append(env)
        return HTMLResponse(templates[0].get_template(name).render(csrf_token=token, **context))

    async def index(request: Request) -> Response:
        return page("index.html", snap=await snapshot())

    async def device(request: Request) -> Response:
        snap = await snapshot()
        found = snap.device(request.path_params["serial"])
        if found is None:
            return PlainTextResponse("no such printer\n", status_code=404)
        colours = {s.index: charts.swatch(s.color, s.supply_class) for s in found.supplies}
        rendered = {h.index: charts.level_chart(h, colours.get(h.index, "#555"))
                    for h in await history(found.serial)}
        return page("device.html", snap=snap, device=found, charts=rendered)

    async def status_json(request: Request) -> Response:
        return JSONResponse((await snapshot()).to_json())

    async def healthz(request: Request) -> Response:
        snap = await snapshot()
        # 200 while the agent itself works; `warnings` names what needs a look beside it
        # (a printer that never answered, parked summaries, clock skew).
        body = {"healthy": snap.healthy, "problems": list(snap.problems), "warnings": list(snap.warnings)}
        return JSONResponse(body, status_code=200 if snap.healthy else 503)

    async def metrics_route(request: Request) -> Response:
        return Response(metrics.render(await snapshot()), media_type=CONTENT_TYPE)

    async def action_poll_now(request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin is not None and not is_loopback_origin(origin, allowed_host_names, ip_literals=remote):
            return PlainTextResponse("refused: cross-origin action\n", status_code=403)
        form = await request.form()
        given = request.headers.get("x-csrf-token") or form.get("csrf_token")
        if not csrf_matches(token, given if isinstance(given, str) else None):
            return PlainTextResponse("refused: missing or wrong CSRF token\n", status_code=403)
        if poll_now is not None:
            await poll_now()
        return RedirectResponse("/", status_code=303)

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/devices/{serial:path}", device, methods=["GET"]),
        Route("/api/status.json", status_json, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_route, methods=["GET"]),
        Route("/actions/poll-now", action_poll_now, methods=["POST"]),
    ]
    middleware = [Middleware(HostGuard, allowed_names=allowed_host_names, ip_literals=remote),
                  Middleware(SecurityHeaders)]
    if password_hash is not None:
        from asr_agent.app.status.password import PasswordGuard

        middleware.append(Middleware(PasswordGuard, password_hash=password_hash))
    app = Starlette(routes=routes, middleware=middleware)
    app.state.csrf_token = token
    return app
