"""Delivery to central: the one module that builds an HTTP client, enrolls the agent, and
drains the store's outbox of signed summaries.

    outbox (store, oldest seq first) ──batch of N envelopes──► POST /v1/summaries
        accepted / duplicate ──► mark_acked        rejected ──► parked (mark_failed permanent)
        network, 5xx, 429 ──► retry (tenacity: exponential backoff, full jitter,
                                     Retry-After honoured) ──► give up until next run

Delivery is at least once on the wire and exactly once at central: a row is acked only
after central's 2xx names it accepted or duplicate (its idempotency key is already
stored), so an agent killed between send and ack simply resends, and central answers
"duplicate". A per-envelope rejection (bad signature, unknown or revoked agent, replayed
sequence, malformed, out of range) is permanent: the row is parked (kept on disk with
central's reason, counted in /metrics as `asr_outbox_parked`, listed on the status page),
logged once, never resent, and the rest of the batch and of the outbox goes on.
A whole-request 4xx (wrong URL, a proxy refusing) stops this run and leaves every row
queued: it is a configuration problem, and dropping the queue would lose data.

Outbox bound (documented policy, applied by `bound_outbox`): rows still pending after
`outbox.max_age_days` (default 60) are dropped oldest first, except rows of kind
`summary+events` (a summary carrying a cartridge replacement), which are never dropped
unsent: central needs every replacement to close orders and detect wrong cartridges.
The depth is `store.outbox_depth()`, shown on the status page and in /metrics.

Order status (for the status page): `Uplink.order_status` asks central, in a request signed
like the key-change messages and carrying its time and a one-time nonce (central refuses
it when older than `wire.CONTROL_MAX_AGE_S` or seen before), for the newest open order line
of each supply of this agent's devices.

Clock skew: each answer's `Date` header (uvicorn sends one) is compared with this agent's
clock; the difference is kept (`Uplink.clock_skew_s`, shown on the status page and in
/metrics) and a skew beyond `CLOCK_SKEW_WARN_S` is logged once when it starts, because
central refuses summaries from the future. The Date header has one-second resolution,
so the figure is good to about a second.

TLS is verified by default against certifi's CA bundle; `use_system_trust` uses the OS
trust store (truststore), `ca_bundle` a private CA file. Proxies come from the
environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) or `central.proxy` in the config.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
import tenacity

from asr_agent import __version__
from asr_core.errors import (
    ConfigError, PermanentUplinkError, SigningError, TransientUplinkError, UplinkError,
)
from asr_core.secret import redact_url
from asr_agent.adapters.keys import AgentKey, seal, seal_data
from asr_core.wire import (
    Envelope, ItemResult, ItemStatus, OrderStatus, Summary, WireError, decode_summary,
    format_time, order_status_request,
)

log = logging.getLogger("asr.uplink")

KIND_SUMMARY = "summary"
KIND_SUMMARY_WITH_EVENTS = "summary+events"   # never dropped unsent by the outbox bound
IDENTITY_FILE = "identity.json"
# Central allows a few minutes of skew; warn well before a summary would be refused.
CLOCK_SKEW_WARN_S = 60.0

__all__ = [
    "UplinkSettings", "AgentIdentity", "DrainReport", "Uplink", "build_client", "enroll",
    "queue_summary", "bound_outbox", "KIND_SUMMARY", "KIND_SUMMARY_WITH_EVENTS",
    "redact_url", "fetch_order_status",
]


class OutboxRow(Protocol):
    id: int
    seq: int
    payload: bytes


class Outbox(Protocol):
    """What the uplink needs from the agent's store."""

    def enqueue(self, payload: bytes, kind: str, idempotency_key: str, *,
                seq: int | None = None) -> int: ...
    def pending(self, limit: int) -> Sequence[Any]: ...
    def mark_sent(self, ids: Sequence[int]) -> None: ...
    def mark_acked(self, ids: Sequence[int]) -> None: ...
    def mark_failed(self, id: int, error: str, permanent: bool) -> None: ...
    def outbox_depth(self) -> int: ...


# --- settings and client --------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class UplinkSettings:
    central_url: str
    ca_bundle: Path | None = None
    use_system_trust: bool = False
    proxy: str | None = None          # overrides the environment's proxy settings
    trust_env: bool = True            # read HTTPS_PROXY / HTTP_PROXY / NO_PROXY
    timeout_s: float = 10.0
    batch_size: int = 50
    max_attempts: int = 5             # per batch and run; the scheduler runs drain again later
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 300.0
    retry_after_max_s: float = 3600.0  # a Retry-After longer than this is capped

    @classmethod
    def from_config(cls, central: Any) -> UplinkSettings:
        """From the config's `central:` section (asr_agent.app.config.CentralConfig)."""
        if not central.url:
            raise ConfigError("no central URL configured: set central.url or pass --central",
                              key="central.url")
        return cls(central_url=central.url, ca_bundle=central.ca_bundle,
                   use_system_trust=central.use_system_trust, proxy=central.proxy,
                   timeout_s=central.timeout_s, batch_size=central.batch_size)


def _ssl_context(settings: UplinkSettings) -> ssl.SSLContext:
    if settings.ca_bundle is not None:
        try:
            return ssl.create_default_context(cafile=str(settings.ca_bundle))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load the CA bundle: {exc}", path=str(settings.ca_bundle),
                              key="central.ca_bundle") from exc
    if settings.use_system_trust:
        import truststore

        return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def build_client(settings: UplinkSettings) -> httpx.Client:
    """The agent's only HTTP client: verified TLS, proxies, timeouts, no redirects."""
    return httpx.Client(
        base_url=settings.central_url.rstrip("/"), verify=_ssl_context(settings),
        proxy=settings.proxy, trust_env=settings.trust_env,
        timeout=httpx.Timeout(settings.timeout_s), follow_redirects=False,
        headers={"User-Agent": f"asr-agent/{__version__}"})


# --- identity -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AgentIdentity:
    """Who central knows this agent as; kept beside the key in the data directory."""

    agent_id: str
    site_id: str
    central_url: str
    key_id: str
    retiring_key_ids: tuple[str, ...] = ()   # still valid at central until the outbox drains

    @classmethod
    def load(cls, key_dir: Path) -> AgentIdentity | None:
        path = Path(key_dir) / IDENTITY_FILE
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(agent_id=data["agent_id"], site_id=data["site_id"],
                       central_url=data["central_url"], key_id=data["key_id"],
                       retiring_key_ids=tuple(data.get("retiring_key_ids", ())))
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"unreadable agent identity ({exc}); re-enroll the agent",
                              path=str(path)) from exc

    def save(self, key_dir: Path) -> None:
        path = Path(key_dir) / IDENTITY_FILE
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"agent_id": self.agent_id, "site_id": self.site_id,
                       "central_url": self.central_url, "key_id": self.key_id,
                       "retiring_key_ids": list(self.retiring_key_ids)}, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])[:300]
    return str(body)[:300]


def enroll(client: httpx.Client, *, token: str, key: AgentKey, site_id: str, agent_name: str,
           agent_id: str | None = None) -> dict[str, str]:
    """Register `key` (and the site) with central using a one-time token."""
    body = {"token": token, "public_key": key.public_b64, "site_id": site_id,
            "agent_name": agent_name, "agent_id": agent_id}
    try:
        r = client.post("/v1/enroll", json=body)
    except httpx.HTTPError as exc:
        raise TransientUplinkError(f"cannot reach central at {redact_url(str(client.base_url))}:"
                                   f" {_transport_reason(exc)}") from exc
    if r.status_code == 201:
        return dict(r.json())
    raise PermanentUplinkError(f"central refused the enrollment ({r.status_code}): {_detail(r)}")


def register_next_key(client: httpx.Client, *, current: AgentKey, new: AgentKey,
                      agent_id: str) -> None:
    """Rotation: ask central to add `new`, proving possession of `current`."""
    env = seal_data({"action": "add_key", "agent_id": agent_id, "public_key": new.public_b64},
                    current, agent_id)
    _control(client, "/v1/keys", env, "register the new key")


def retire_key(client: httpx.Client, *, current: AgentKey, agent_id: str, key_id: str) -> None:
    env = seal_data({"action": "retire_key", "agent_id": agent_id, "key_id": key_id},
                    current, agent_id)
    _control(client, "/v1/keys/retire", env, f"retire key {key_id}")


def _control(client: httpx.Client, path: str, env: Envelope, what: str) -> None:
    try:
        r = client.post(path, json=env.to_dict())
    except httpx.HTTPError as exc:
        raise TransientUplinkError(f"cannot {what}: {_transport_reason(exc)}") from exc
    if r.is_success:
        return
    if r.status_code >= 500 or r.status_code == 429:
        raise TransientUplinkError(f"cannot {what}: central answered {r.status_code}")
    raise PermanentUplinkError(f"central refused to {what} ({r.status_code}): {_detail(r)}")


def fetch_order_status(client: httpx.Client, *, key: AgentKey, agent_id: str,
                       now: datetime) -> dict[tuple[str, int], OrderStatus]:
    """Central's newest open order line per (device serial, supply index) of this agent's
    devices; a supply with no open order is absent. One signed, single-use request."""
    env = seal_data(order_status_request(agent_id, now, secrets.token_urlsafe(18)), key,
                    agent_id)
    what = "fetch the order status"
    try:
        r = client.post("/v1/agent/order-status", json=env.to_dict())
    except httpx.HTTPError as exc:
        raise TransientUplinkError(f"cannot {what}: {_transport_reason(exc)}") from exc
    if r.status_code >= 500 or r.status_code in (408, 429):
        raise TransientUplinkError(f"cannot {what}: central answered {r.status_code}")
    if not r.is_success:
        raise PermanentUplinkError(f"central refused to {what} ({r.status_code}): {_detail(r)}")
    try:
        lines = [OrderStatus.from_dict(x, f"lines[{i}]")
                 for i, x in enumerate(r.json()["lines"])]
    except (ValueError, KeyError, TypeError, WireError) as exc:
        raise TransientUplinkError(f"cannot {what}: central's answer is not understood: "
                                   f"{exc}") from exc
    return {(line.device_serial, line.supply_index): line for line in lines}


# --- queueing -------------------------------------------------------------------------------

def queue_summary(outbox: Outbox, summary: Summary, key: AgentKey) -> int:
    """Sign `summary` now and queue the envelope; the signed bytes are what will be sent."""
    envelope = seal(summary, key)
    payload = json.dumps(envelope.to_dict(), separators=(",", ":")).encode()
    kind = KIND_SUMMARY_WITH_EVENTS if summary.cartridge_events else KIND_SUMMARY
    return outbox.enqueue(payload, kind, summary.idempotency_key, seq=summary.sequence)


def requeue_parked(store: Any, item: Any, key: AgentKey, agent_id: str) -> int:
    """Queue a parked summary again once what central refused it for is mended (a moved
    printer confirmed at this agent's site, a clock set right): the same summary, signed
    anew under a fresh sequence (central has seen the old one; the key or the agent's id
    may have changed since) and the same idempotency key, so central keeps it once whatever
    it stored before. Returns the new sequence; WireError if the row holds no summary."""
    envelope = Envelope.from_dict(json.loads(item.payload))
    summary = decode_summary(envelope.payload)
    fresh = replace(summary, agent_id=agent_id, sequence=store.next_sequence())
    payload = json.dumps(seal(fresh, key).to_dict(), separators=(",", ":")).encode()
    store.requeue_parked(item.id, payload, fresh.sequence)
    return fresh.sequence


def bound_outbox(store: Any, now: datetime, max_age_days: float) -> int:
    """Apply the outbox bound (see the module docstring); returns rows dropped."""
    cutoff = now - timedelta(days=max_age_days)
    doomed = [row.id for row in store.pending(store.outbox_depth())
              if row.created_at < cutoff and row.kind != KIND_SUMMARY_WITH_EVENTS]
    if not doomed:
        return 0
    dropped = int(store.delete_outbox(doomed))
    log.warning("outbox bound: dropped %d unsent summaries older than %s (summaries with "
                "cartridge events are kept)", dropped, format_time(cutoff))
    return dropped


# --- draining -------------------------------------------------------------------------------

@dataclass(slots=True)
class DrainReport:
    batches: int = 0
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    remaining: int = 0
    errors: list[str] = field(default_factory=list)


def _retry_after(response: httpx.Response, now: float) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def _transport_reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    seen = 0
    while cause is not None and seen < 5:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (f"TLS certificate not trusted ({cause.verify_message}); set central.ca_bundle"
                    " or central.use_system_trust if central uses a private CA")
        cause = cause.__cause__ or cause.__context__
        seen += 1
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return (f"TLS certificate not trusted ({text}); set central.ca_bundle or "
                "central.use_system_trust if central uses a private CA")
    return text


class Uplink:
    """Drains an outbox to central. One instance per process; `close()` it at shutdown."""

    def __init__(self, settings: UplinkSettings, outbox: Outbox, *,
                 client: httpx.Client | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.settings = settings
        self.outbox = outbox
        self.client = client or build_client(settings)
        self._sleep = sleep
        self._clock = clock  # the host's clock, which signs and stamps what is sent
        self.last_success: float | None = None
        self.last_error: str | None = None
        self.clock_skew_s: float | None = None  # this agent's clock minus central's Date

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Uplink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # A custom wait: central's Retry-After when it gave one, else full-jitter exponential.
    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientUplinkError) and exc.retry_after is not None:
            return min(exc.retry_after, self.settings.retry_after_max_s)
        jitter = tenacity.wait_random_exponential(multiplier=self.settings.backoff_initial_s,
                                                  max=self.settings.backoff_max_s)
        return float(jitter(state))

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("uplink attempt %d failed: %s; retrying in %.1f s", state.attempt_number,
                    exc, wait)

    def post_batch(self, envelopes: Sequence[dict[str, Any]]) -> list[ItemResult]:
        """One POST, classified: results, TransientUplinkError or PermanentUplinkError."""
        try:
            # Date: central keeps this agent's skew from it, as this side does from answers
            sent = format_datetime(self._clock().astimezone(UTC), usegmt=True)
            r = self.client.post("/v1/summaries", json={"envelopes": list(envelopes)},
                                 headers={"Date": sent})
        except httpx.HTTPError as exc:
            raise TransientUplinkError(
                f"cannot reach central at {redact_url(str(self.client.base_url))}: "
                f"{_transport_reason(exc)}") from exc
        self._measure_skew(r)
        if r.status_code in (408, 429) or r.status_code >= 500:
            raise TransientUplinkError(f"central answered {r.status_code}: {_detail(r)}",
                                       retry_after=_retry_after(r, time.time()))
        if not r.is_success:
            raise PermanentUplinkError(f"central refused the whole batch ({r.status_code}): "
                                       f"{_detail(r)}")
        try:
            results = [ItemResult.from_dict(x) for x in r.json()["results"]]
        except (ValueError, KeyError, TypeError, WireError) as exc:
            raise TransientUplinkError(f"central's answer is not understood: {exc}") from exc
        if len(results) != len(envelopes):
            raise TransientUplinkError(f"central answered {len(results)} results for "
                                       f"{len(envelopes)} envelopes")
        return results

    @property
    def clock_off(self) -> bool:
        """The last measured skew is beyond what this agent tolerates quietly."""
        return self.clock_skew_s is not None and abs(self.clock_skew_s) > CLOCK_SKEW_WARN_S

    def _measure_skew(self, response: httpx.Response) -> None:
        value = response.headers.get("date")
        if not value:
            return
        try:
            theirs = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return
        if theirs.tzinfo is None:
            return  # not an HTTP date (those are GMT); no basis for a comparison
        # Date is truncated to the second: half a second is the best middle guess.
        skew = (self._clock() - theirs).total_seconds() - 0.5
        was_off = self.clock_off
        self.clock_skew_s = round(skew, 1)
        if self.clock_off and not was_off:
            log.warning("this agent's clock is %+.0f s off central's (its Date header %s); set the "
                        "system clock (NTP): central refuses summaries from the future", skew, value)
        elif was_off and not self.clock_off:
            log.info("this agent's clock agrees with central's again (%+.1f s)", skew)

    def _post_with_retries(self, envelopes: Sequence[dict[str, Any]]) -> list[ItemResult]:
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.settings.max_attempts),
            wait=self._wait, retry=tenacity.retry_if_exception_type(TransientUplinkError),
            before_sleep=self._log_retry, sleep=self._sleep, reraise=True)
        return retrying(self.post_batch, envelopes)

    def drain(self, *, max_batches: int | None = None) -> DrainReport:
        """Send pending rows oldest first until the outbox is empty or central is unreachable.

        Raises TransientUplinkError when retries are exhausted (rows stay queued) and
        PermanentUplinkError when central refuses the whole request (rows stay queued).
        """
        report = DrainReport()
        try:
            while max_batches is None or report.batches < max_batches:
                rows = list(self.outbox.pending(self.settings.batch_size))
                if not rows:
                    break
                sendable: list[tuple[Any, dict[str, Any]]] = []
                for row in rows:
                    try:
                        sendable.append((row, json.loads(bytes(row.payload))))
                    except ValueError as exc:
                        self.outbox.mark_failed(row.id, f"unreadable outbox row: {exc}", True)
                        log.error("outbox row %s is unreadable and was parked (kept, not resent): %s", row.id, exc)
                        report.rejected += 1
                if not sendable:
                    continue
                self.outbox.mark_sent([row.id for row, _ in sendable])
                results = self._post_with_retries([env for _, env in sendable])
                report.batches += 1
                report.sent += len(sendable)
                acked: list[int] = []
                for (row, _), result in zip(sendable, results, strict=True):
                    if result.status is ItemStatus.ACCEPTED:
                        acked.append(row.id)
                        report.accepted += 1
                    elif result.status is ItemStatus.DUPLICATE:
                        acked.append(row.id)
                        report.duplicates += 1
                    else:
                        reason = f"{result.code} {result.reason}"
                        self.outbox.mark_failed(row.id, reason, True)
                        report.rejected += 1
                        log.error("central permanently rejected summary seq %s (%s); it is "
                                  "parked (kept, shown on the status page) and will not be resent",
                                  getattr(row, "seq", row.id), reason)
                if acked:
                    self.outbox.mark_acked(acked)
                self.last_success = time.time()
        except UplinkError as exc:
            self.last_error = str(exc)
            report.errors.append(str(exc))
            report.remaining = self.outbox.outbox_depth()
            if isinstance(exc, PermanentUplinkError):
                log.error("uplink stopped: %s; summaries stay queued until this is fixed", exc)
            else:
                log.warning("uplink gave up for now: %s; %d summaries stay queued", exc,
                            report.remaining)
            raise
        report.remaining = self.outbox.outbox_depth()
        return report

    def order_status(self, identity: AgentIdentity, key: AgentKey, *,
                     now: datetime | None = None) -> dict[tuple[str, int], OrderStatus]:
        """Open orders central holds for this agent's supplies (see `fetch_order_status`).

        One attempt, no retries: it is display data, asked for again after the next drain.
        `now` is the signing time and defaults to the wall clock, which central checks it
        against (pass no simulated time here). Raises TransientUplinkError or
        PermanentUplinkError (a refused or stale request).
        """
        return fetch_order_status(self.client, key=key, agent_id=identity.agent_id,
                                  now=now or datetime.now(UTC))

    def retire_drained_keys(self, identity: AgentIdentity, key: AgentKey,
                            key_dir: Path) -> AgentIdentity:
        """Once nothing is queued, tell central the old keys may go; returns the new identity."""
        if not identity.retiring_key_ids or self.outbox.outbox_depth() > 0:
            return identity
        left = list(identity.retiring_key_ids)
        for key_id in identity.retiring_key_ids:
            try:
                retire_key(self.client, current=key, agent_id=identity.agent_id, key_id=key_id)
            except (UplinkError, SigningError) as exc:
                log.warning("could not retire old key %s yet: %s", key_id, exc)
                continue
            left.remove(key_id)
            log.info("old key %s retired at central", key_id)
        updated = replace(identity, retiring_key_ids=tuple(left))
        updated.save(key_dir)
        return updated
