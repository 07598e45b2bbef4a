"""POST /v1/summaries: signed summaries verified, stored durably, answered per envelope.

The hot path of central. `Ingest` answers it as a raw ASGI handler that the app calls
before FastAPI's middleware, routing and dependency solving (`CentralApp` in app.py), which
cost more per request than verifying and storing a summary. The same handler also serves as
the plain route documented in the OpenAPI description (taken when the app is mounted under
a prefix). Each request:

1. reads the body, at most `MAX_BODY` bytes (413 beyond), and parses it once (orjson; the
   standard library's parser only for what orjson refuses, so verdicts and messages stay
   those of `json`);
2. verifies each envelope's signature over the payload bytes exactly as sent, and decodes
   the verified bytes once (never re-encoded). The signer's public key comes from a cache
   (`Signers`): a key id is derived from the key and a key never moves to another agent,
   so what the cache holds cannot go stale. Whether the agent and key are still trusted
   (not revoked, not retired) is asked again in the write transaction that stores the
   summary, so a revocation counts from its own commit on, cached key or not;
3. stores the summaries in the database's group commit (`Database.write`) and answers only
   once that commit is on disk: a 201 verdict means the summary survives a power cut.

Per-envelope verdicts (the batch itself answers 200):
    201 accepted · 409 duplicate (idempotency key seen: delivered before, safe to ack)
    409 rejected "replay" (sequence already used by another summary)
    401 unknown agent or key · 403 revoked agent or key, retired key, wrong site/agent
    403 "other_site": the device belongs to another site (asr_central.domain.trust)
    422 "future" / "past": the summary's times lie beyond the clock bounds
    422 bad signature · 400 malformed envelope or payload
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from asr_core.errors import SigningError
from asr_core.signing import verify
from asr_core.wire import (
    CheckedSummary, Envelope, ItemStatus, WireError, check_summary, load_payload,
)
from asr_central.service.api import sender
from asr_central.service.state import SummaryHook
from asr_central.storage.base import Database, UnitOfWork
from asr_central.storage import agents as agents_store
from asr_central.storage import homes as homes_store
from asr_central.storage import summaries as summaries_store
from asr_central.domain.trust import Home, TimeBounds, site_refusal, time_refusal

log = logging.getLogger("asr_central.api")

PATH = "/v1/summaries"
MAX_BATCH = 500
# Bytes of one request body. The agent sends batches of 50 (its default); 50 summaries each
# at every wire_ranges limit (64 supplies, cartridge events and alerts, every text at its
# longest) take 7.01 MiB: 8 MiB leaves 14 % over that. A summary of four supplies is ~3 KiB,
# so a batch of MAX_BATCH real ones fits too. Measured by
# tests/test_body_limits.py::test_the_largest_legal_batch_fits_under_the_limit.
MAX_BODY = 8 * 1024 * 1024
_VERIFY_SLICE = 32  # envelopes verified between two yields to the event loop
AFTER_INGEST_GAP_S = 0.5  # least seconds between two calls of the after-ingest hooks

BatchHook = Callable[[Any, datetime], None]

__all__ = ["PATH", "MAX_BATCH", "MAX_BODY", "Ingest", "Refused", "Signer", "Signers",
           "SummaryHook", "BatchHook", "authenticate", "load_json"]


# --- the body -------------------------------------------------------------------------------

def load_json(data: bytes | str) -> Any:
    """JSON as the standard library reads it, parsed by orjson when orjson can: orjson
    refuses everything `json` refuses, and more (NaN, integers past 64 bits, lone
    surrogates), so what it refuses goes to `json` for the same verdict and message.
    Raises what `json.loads` raises."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


class _BadBatch(Exception):
    """The body is not a batch: answered as FastAPI answers a body that fails its model."""

    def __init__(self, detail: Any, status: int = 422) -> None:
        self.detail = detail
        self.status = status
        super().__init__(str(detail))


def _invalid(kind: str, loc: tuple[str | int, ...], msg: str) -> _BadBatch:
    return _BadBatch([{"type": kind, "loc": ["body", *loc], "msg": msg}])


def _batch(body: bytes, content_type: str | None) -> list[dict[str, Any]]:
    """The envelopes of a POST /v1/summaries body (the SummaryBatch model), or _BadBatch."""
    media = (content_type or "").partition(";")[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/")
                                            and media.endswith("+json")):
        raise _invalid("model_attributes_type", (),
                       "Input should be a JSON object (Content-Type: application/json)")
    if not body:
        raise _invalid("missing", (), "Field required")
    try:
        data = load_json(body)
    except UnicodeDecodeError:
        raise _BadBatch("There was an error parsing the body", 400) from None
    except json.JSONDecodeError as exc:
        raise _invalid("json_invalid", (exc.pos,), f"JSON decode error: {exc.msg}") from None
    except RecursionError:
        raise _invalid("json_invalid", (0,), "JSON decode error: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer past Python's int-str digit limit
        raise _invalid("json_invalid", (0,), f"JSON decode error: {exc}") from None
    if not isinstance(data, dict):
        raise _invalid("model_attributes_type", (),
                       "Input should be a valid dictionary or object to extract fields from")
    if "envelopes" not in data:
        raise _invalid("missing", ("envelopes",), "Field required")
    envelopes = data["envelopes"]
    if not isinstance(envelopes, list):
        raise _invalid("list_type", ("envelopes",), "Input should be a valid list")
    if len(envelopes) > MAX_BATCH:
        raise _invalid("too_long", ("envelopes",), f"List should have at most {MAX_BATCH} "
                       f"items after validation, not {len(envelopes)}")
    for i, item in enumerate(envelopes):
        if not isinstance(item, dict):
            raise _invalid("dict_type", ("envelopes", i), "Input should be a valid dictionary")
    return envelopes


def _summary(payload: bytes) -> CheckedSummary:
    """The summary in verified payload bytes: parsed once, checked field by field (its
    records built only for the hooks that ask, see _store_verified)."""
    try:
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            data = load_payload(payload)  # json's verdict and message (see load_json)
        return check_summary(data)
    except RecursionError:
        raise WireError("summary payload is nested too deeply") from None


Result = dict[str, Any]


def _result(status: ItemStatus, code: int, reason: str | None = None,
            key: str | None = None, sequence: int | None = None) -> Result:
    """An envelope's verdict as `ItemResult.to_dict` gives it, built directly: a record per
    envelope, then its dict, cost a tenth of what storing a summary does."""
    return {"status": status.value, "code": code, "reason": reason, "idempotency_key": key,
            "sequence": sequence}


# --- verification ---------------------------------------------------------------------------

class Refused(Exception):
    """An envelope refused for who signed it or how; `code` is the verdict's status."""

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(reason)


Signer = tuple[agents_store.AgentRow, bytes]  # the agent and the raw public key it signs with


def signer(conn: UnitOfWork, agent_id: str, key_id: str) -> Signer:
    """The agent and the public key it may sign with, or Refused with the status to answer."""
    agent, key = agents_store.get_signer(conn, agent_id, key_id)
    if agent is None:
        raise Refused(401, f"unknown_agent: {agent_id} is not enrolled here")
    if agent.revoked_at is not None:
        raise Refused(403, f"agent_revoked: {agent_id} was revoked at {agent.revoked_at}")
    if key is None:
        raise Refused(401, f"unknown_key: {key_id} is not a key of agent {agent_id}")
    if key.revoked_at is not None:
        raise Refused(403, f"key_revoked: {key_id} was revoked at {key.revoked_at}")
    if key.retired_at is not None:
        raise Refused(403, f"key_retired: {key_id} was retired at {key.retired_at}")
    return agent, key.public_key


class Signers:
    """Signers (agent and public key) by (agent id, key id), looked up once: each writer
    commit empties the page cache of the connection that reads them, so a query per
    request cost more than verifying the signature. Holds only keys found usable; whether
    they still are is `still_trusted`'s question, asked in the write transaction."""

    MAX_ENTRIES = 50_000  # far more keys than a fleet has; emptied rather than grown beyond

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], Signer] = {}

    def get(self, conn: UnitOfWork, agent_id: str, key_id: str) -> Signer:
        """The signer, or Refused (unknown, revoked, retired: nothing cached then)."""
        by = self._known.get((agent_id, key_id))
        if by is None:
            by = signer(conn, agent_id, key_id)
            if len(self._known) >= self.MAX_ENTRIES:
                self._known.clear()
            self._known[agent_id, key_id] = by
        return by

    def forget(self, agent_id: str, key_id: str) -> None:
        """A key no longer trusted (revocation and retirement are for good)."""
        self._known.pop((agent_id, key_id), None)


def still_trusted(conn: UnitOfWork, agent_id: str, key_id: str) -> Refused | None:
    """None if the agent and key may still sign, else the refusal (as `signer` words it)."""
    if agents_store.signer_usable(conn, agent_id, key_id):
        return None
    try:
        signer(conn, agent_id, key_id)
    except Refused as exc:
        return exc
    return None  # usable after all: changed in between (cannot happen inside a write)


def verified(env: Envelope, by: Signer) -> bytes:
    """The payload bytes if `by` signed them, else Refused 422."""
    try:
        return verify(env, by[1])
    except SigningError as exc:
        raise Refused(422, f"bad_signature: {exc}") from None


def authenticate(conn: UnitOfWork, env: Envelope) -> tuple[agents_store.AgentRow, bytes]:
    """The agent and the verified payload, or Refused with the status to answer."""
    by = signer(conn, env.agent_id, env.key_id)
    return by[0], verified(env, by)


# --- storage --------------------------------------------------------------------------------

Item = tuple[int, Envelope, CheckedSummary]


def _admitted(conn: UnitOfWork, items: list[Item], now: datetime, bounds: TimeBounds,
              out: list[tuple[int, Result]]) -> list[Item]:
    """The items whose times are possible and whose agent's site may speak for the device
    (asr_central.domain.trust); the others' verdicts go to `out`. Asked in the write transaction,
    in the batch's order: a serial no site owns yet is bound to the first site whose
    summary of it is accepted, and a report from another site is held (alerted)."""
    found, stored = homes_store.homes(conn, {item[2].device.serial for item in items})
    kept: list[Item] = []
    for item in items:
        s = item[2]
        reason = time_refusal(s.period_end, [e.replaced_at for e in s.cartridge_events],
                              now, bounds)
        code = 422
        serial = s.device.serial
        home = found.get(serial)
        if reason is None:
            reason, code = site_refusal(serial, home, s.site_id), 403
        if reason is not None and not _stored_before(conn, s):
            if code == 403:
                assert home is not None
                homes_store.hold(conn, serial, home, s.site_id, s.agent_id, now)
            out.append((item[0], _result(ItemStatus.REJECTED, code, reason,
                                         s.idempotency_key, s.sequence)))
            continue
        if reason is not None:
            kept.append(item)  # accepted once, before a move: answered as the duplicate it is
            continue
        if home is None:
            found[serial] = Home(s.site_id, False)  # bound to its first reporting site
        elif stored.get(serial, s.site_id) != s.site_id:
            homes_store.rehome(conn, serial, s.site_id, now)  # the registry moved it here
            stored[serial] = s.site_id
        kept.append(item)
    return kept


def _stored_before(conn: UnitOfWork, s: CheckedSummary) -> bool:
    """This very summary was accepted before (resent: its acknowledgement was lost)."""
    return summaries_store.stored_before(conn, s.idempotency_key, s.agent_id)


def _store_verified(conn: UnitOfWork, batch: list[Item],
                    hooks: Sequence[SummaryHook], now: datetime, signers: Signers,
                    bounds: TimeBounds = TimeBounds()) -> list[tuple[int, Result]]:
    """Store a batch's verified summaries (in the writer's group transaction), each only
    if its signer is still trusted in this transaction and the trust rules admit it (see
    _admitted); then run the hooks for each new summary, in the batch's order."""
    out: list[tuple[int, Result]] = []
    trust: dict[tuple[str, str], Refused | None] = {}
    kept: list[tuple[int, Envelope, CheckedSummary]] = []
    for item in batch:
        env = item[1]
        who = (env.agent_id, env.key_id)
        if who not in trust:
            trust[who] = refused = still_trusted(conn, *who)
            if refused is not None:
                signers.forget(*who)
        refused = trust[who]
        if refused is not None:
            out.append((item[0], _result(ItemStatus.REJECTED, refused.code, refused.reason)))
        else:
            kept.append(item)
    kept = _admitted(conn, kept, now, bounds, out)
    if not kept:
        return out
    stored = summaries_store.store_summaries(conn, [(s, env) for _, env, s in kept], now)
    for (i, _, summary), done in zip(kept, stored, strict=True):
        key, seq = summary.idempotency_key, summary.sequence
        if done.outcome == "accepted":
            out.append((i, _result(ItemStatus.ACCEPTED, 201, None, key, seq)))
        elif done.outcome == "duplicate":
            out.append((i, _result(ItemStatus.DUPLICATE, 409, f"duplicate: {done.detail}",
                                   key, seq)))
        else:
            out.append((i, _result(ItemStatus.REJECTED, 409, f"replay: {done.detail}",
                                   key, seq)))
    if hooks:
        for (_, _, summary), done in zip(kept, stored, strict=True):
            if done.summary_id is not None:
                built = summary.summary()
                for hook in hooks:
                    hook(conn, built, done.summary_id, now)
    return out


class _AfterIngest:
    """Runs the after-ingest hooks in a worker thread, at most once per AFTER_INGEST_GAP_S:
    the first commit after a quiet spell at once, the commits during a run or the gap after
    it folded into one call at the gap's end. A thread hop for every commit cost more CPU
    than the hooks did (the policy run keeps its own interval anyway). Event loop only."""

    def __init__(self, app: Any, hooks: Sequence[BatchHook]) -> None:
        self._app = app
        self._hooks = hooks
        self._due: datetime | None = None  # the newest commit not yet handed to the hooks
        self._busy = False  # a call, or the gap after it, is under way

    def notify(self, now: datetime) -> None:
        self._due = now
        if not self._busy:
            self._start()

    def _start(self) -> None:
        now, self._due = self._due, None
        self._busy = True
        loop = asyncio.get_running_loop()
        done = loop.run_in_executor(None, self._run, now)
        done.add_done_callback(lambda _: loop.call_later(AFTER_INGEST_GAP_S, self._next))

    def _next(self) -> None:
        self._busy = False
        if self._due is not None:
            self._start()

    def _run(self, now: datetime) -> None:
        for hook in self._hooks:
            try:
                hook(self._app, now)
            except Exception:  # a failing hook must not stop the others or later runs
                log.exception("after-ingest hook %s failed", getattr(hook, "__qualname__", hook))


# --- the handler ----------------------------------------------------------------------------

_REJECTED = ItemStatus.REJECTED.value
_JSON_HEADERS = [(b"content-type", b"application/json")]


class _TooLarge(Exception):
    pass


_TOO_LARGE = (413, {"detail": f"Content Too Large: at most {MAX_BODY} bytes"})


def _length(value: bytes | str) -> int:
    """A Content-Length header's value; 0 when absent or not a number (then the bytes
    read are what counts)."""
    return int(value) if value.isascii() and value.isdigit() else 0


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge()
        chunks.append(chunk)
        more = message.get("more_body", False)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class Ingest:
    """The POST /v1/summaries handler of one app: `await ingest(scope, receive, send)` as
    raw ASGI, `ingest.endpoint(request)` as a Starlette endpoint; both call `answer`.

    `hooks` run in the write transaction for each new summary; `batch_hooks(app, now)`
    after a commit that stored at least one (see app.py). Both lists may grow after this
    is built (extensions register as they are imported)."""

    def __init__(self, app: Any, db: Database, clock: Callable[[], datetime],
                 hooks: list[SummaryHook], batch_hooks: list[BatchHook]) -> None:
        self._db = db
        self._clock = clock
        self._hooks = hooks
        self._batch_hooks = batch_hooks
        self._after = _AfterIngest(app, batch_hooks)
        self._signers = Signers()
        self.bounds = TimeBounds()  # the times a summary may speak of (create_app sets it)
        # Told every answer's results (the metrics count verdicts); create_app sets it.
        self.observe: Callable[[list[Result]], None] | None = None

    async def answer(self, body: bytes, content_type: str | None,
                     user_agent: str | None = None, date: str | None = None
                     ) -> tuple[int, Any]:
        """(status, JSON-able answer) for one request body; `user_agent` and `date` are
        the request's headers (the agent's version and clock, kept per agent)."""
        try:
            envelopes = _batch(body, content_type)
        except _BadBatch as exc:
            return exc.status, {"detail": exc.detail}
        now = self._clock()
        results: list[Result | None] = [None] * len(envelopes)
        accepted: list[tuple[int, Envelope, CheckedSummary]] = []
        conn = self._db.connection()
        # A batch comes from one agent, signed with one key: look it up once.
        signers: dict[tuple[str, str], Signer | Refused] = {}
        known = self._signers
        for i, raw in enumerate(envelopes):
            if i and i % _VERIFY_SLICE == 0:
                await asyncio.sleep(0)  # a large batch must not hold other requests up
            try:
                env = Envelope.from_dict(raw, f"envelopes[{i}]")
                by = signers.get((env.agent_id, env.key_id))
                if by is None:
                    try:
                        by = known.get(conn, env.agent_id, env.key_id)
                    except Refused as exc:
                        by = exc
                    signers[env.agent_id, env.key_id] = by
                if isinstance(by, Refused):
                    raise by
                summary = _summary(verified(env, by))
                if summary.agent_id != env.agent_id:
                    raise Refused(403, "agent_mismatch: summary agent_id differs from the signer")
                if summary.site_id != by[0].site_id:
                    raise Refused(403, f"site_mismatch: agent is enrolled for site "
                                       f"{by[0].site_id!r}, summary says {summary.site_id!r}")
            except WireError as exc:
                results[i] = _result(ItemStatus.REJECTED, 400, f"malformed: {exc}")
                continue
            except Refused as exc:
                results[i] = _result(ItemStatus.REJECTED, exc.code, exc.reason)
                continue
            accepted.append((i, env, summary))
        if accepted:
            hooks, bounds = self._hooks, self.bounds
            # Answered only once the group holding this batch is committed and on disk.
            about = (sender.agent_version(user_agent), sender.clock_skew_s(date, now))

            def store(wconn: UnitOfWork) -> list[tuple[int, Result]]:
                done = _store_verified(wconn, accepted, hooks, now, known, bounds)
                # One UPDATE per agent in the batch (a batch comes from one agent).
                for agent_id in {env.agent_id for _, env, _ in accepted}:
                    agents_store.note_batch(wconn, agent_id, now, *about)
                return done

            stored = await self._db.write(store)
            for i, result in stored:
                results[i] = result
            if self._batch_hooks and any(r["code"] == 201 for _, r in stored):
                self._after.notify(now)
        for r in results:
            assert r is not None
            if r["status"] == _REJECTED:
                log.warning("summary rejected (%d): %s", r["code"], r["reason"])
        if self.observe is not None:
            self.observe(results)
        # Plain dicts: validating our own answer through a response model cost more than
        # storing a summary. The model still documents it in the OpenAPI description.
        return 200, {"results": results}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        content_type = user_agent = date = None
        length = 0
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                length = _length(value)
            elif name == b"user-agent":
                user_agent = value.decode("latin-1")
            elif name == b"date":
                date = value.decode("latin-1")
        started = False

        async def respond(status: int, answer: Any) -> None:
            nonlocal started
            data = orjson.dumps(answer)
            started = True
            await send({"type": "http.response.start", "status": status, "headers": [
                *_JSON_HEADERS, (b"content-length", str(len(data)).encode())]})
            await send({"type": "http.response.body", "body": data})

        try:
            if length > MAX_BODY:  # declared too large: refused before reading
                raise _TooLarge()
            body = await _read_body(receive, MAX_BODY)
            await respond(*await self.answer(body, content_type, user_agent, date))
        except _TooLarge:
            await respond(*_TOO_LARGE)
        except ClientDisconnect:
            return
        except Exception:
            # As Starlette's ServerErrorMiddleware: a bare 500, then the server logs it.
            if not started:
                await send({"type": "http.response.start", "status": 500, "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", b"21")]})
                await send({"type": "http.response.body", "body": b"Internal Server Error"})
            raise

    async def endpoint(self, request: Request) -> Response:
        """The same, as a Starlette endpoint (routed requests)."""
        try:
            if _length(request.headers.get("content-length", "")) > MAX_BODY:
                raise _TooLarge()
            body = await _read_body(request.receive, MAX_BODY)
        except _TooLarge:
            return _json(*_TOO_LARGE)
        headers = request.headers
        return _json(*await self.answer(body, headers.get("content-type"),
                                        headers.get("user-agent"), headers.get("date")))


def _json(status: int, answer: Any) -> Response:
    return Response(orjson.dumps(answer), status_code=status, media_type="application/json")
