"""Optional alert notifier: new central alerts POSTed as one signed JSON document per batch
to a webhook, from a worker thread of its own, so that neither ingest nor the policy waits.

    policy run ──poke()──► worker ──unnotified()──► POST URL (tenacity: retries, backoff)
                                                       2xx ──► mark_notified()
                                                       else ──► stay unnotified, retried
                                                                 after `retry_interval_s`

The body is JSON: {"delivery_id", "sent_at", "source": "asr-central", "alerts": [...]}.
Header `X-ASR-Signature-256: sha256=<hex>` is the HMAC-SHA256 of the exact body bytes
under the shared secret; a receiver recomputes it over the raw body and compares in
constant time. `sent_at` and `delivery_id` are inside the signed body, so a receiver
can refuse old or repeated deliveries. Delivery is at least once: an alert whose POST
succeeded but whose mark was lost (a crash in between) is sent again, with the same
`alert_key` for the receiver to deduplicate.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import tenacity

from asr_core.errors import AsrError, ConfigError
from asr_central import __version__
from asr_central.service.deps import state_of
from asr_central.storage.base import Database
from asr_central.storage import alerts as alert_store

log = logging.getLogger("asr_central.notify")

SIGNATURE_HEADER = "X-ASR-Signature-256"
DELIVERY_HEADER = "X-ASR-Delivery"
SECRET_ENV = "ASR_CENTRAL_ALERT_WEBHOOK_SECRET"
MIN_SECRET_LENGTH = 16
# Fields of an alert row that leave central; internal bookkeeping stays home.
ALERT_FIELDS = ("alert_key", "kind", "severity", "device_serial", "supply_key", "message",
                "first_seen", "last_seen")

__all__ = ["NotifyError", "WebhookSettings", "WebhookNotifier", "sign", "read_secret",
           "SIGNATURE_HEADER", "DELIVERY_HEADER", "SECRET_ENV"]


class NotifyError(AsrError):
    """The webhook did not take a batch; the alerts stay unnotified and are retried."""


def sign(secret: bytes, body: bytes) -> str:
    """The signature header's value for `body`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def read_secret(path: Path | None) -> bytes:
    """The webhook secret from a file (whitespace around it ignored) or SECRET_ENV."""
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the alert webhook secret: {exc.strerror}",
                              path=str(path), key="--alert-webhook-secret-file") from exc
        where = {"path": str(path)}
    else:
        text = os.environ.get(SECRET_ENV, "").strip()
        where = {"key": SECRET_ENV}
    if not text:
        raise ConfigError("an alert webhook needs a secret to sign its deliveries: pass "
                          f"--alert-webhook-secret-file or set {SECRET_ENV}", **where)
    if len(text) < MIN_SECRET_LENGTH:
        raise ConfigError(f"the alert webhook secret is shorter than {MIN_SECRET_LENGTH} "
                          "characters; use a long random one", **where)
    return text.encode("utf-8")


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    url: str
    secret: bytes
    timeout_s: float = 10.0
    attempts: int = 3               # per batch and try; the worker tries again later
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    retry_interval_s: float = 300.0  # after a failed try, the next one no sooner than this
    batch_size: int = 100
    trust_env: bool = True           # HTTPS_PROXY / NO_PROXY from the environment

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"alert webhook URL {self.url!r} is not an http(s) URL",
                              key="--alert-webhook")
        if parts.username or parts.password:
            raise ConfigError("alert webhook URL must not carry a user or password; the body "
                              "is signed with the webhook secret instead", key="--alert-webhook")
        if self.attempts < 1 or self.batch_size < 1:
            raise ConfigError("alert webhook attempts and batch size must be 1 or more")

    def __repr__(self) -> str:
        return f"WebhookSettings(url={self.url!r}, secret=<secret>)"


class _Retryable(Exception):
    pass


class WebhookNotifier:
    """Sends unnotified alerts to one webhook. `poke()` after each policy run; `flush()`
    sends synchronously (the worker calls it); `close()` at shutdown."""

    def __init__(self, settings: WebhookSettings, db: Database, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.db = db
        self._clock = clock
        self._sleep = sleep
        self._client = httpx.Client(
            timeout=httpx.Timeout(settings.timeout_s), follow_redirects=False,
            trust_env=settings.trust_env,
            headers={"User-Agent": f"asr-central/{__version__}"})
        self._send_lock = threading.Lock()   # one delivery at a time: no alert sent twice
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.sent = 0
        self.last_error: str | None = None

    # --- sending ----------------------------------------------------------------------------

    def _post(self, body: bytes, delivery_id: str) -> None:
        headers = {"Content-Type": "application/json",
                   SIGNATURE_HEADER: sign(self.settings.secret, body),
                   DELIVERY_HEADER: delivery_id}
        try:
            r = self._client.post(self.settings.url, content=body, headers=headers)
        except httpx.TransportError as exc:
            raise _Retryable(f"cannot reach {self.settings.url}: {exc or type(exc).__name__}"
                             ) from exc
        if r.status_code in (408, 429) or r.status_code >= 500:
            raise _Retryable(f"{self.settings.url} answered {r.status_code}")
        if not r.is_success:
            raise NotifyError(f"{self.settings.url} refused the alerts ({r.status_code}: "
                              f"{r.text[:200]}); check the webhook URL and secret")

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("alert webhook attempt %d failed: %s; retrying in %.1f s",
                    state.attempt_number, exc, wait)

    def _deliver(self, alerts: Sequence[dict[str, Any]]) -> None:
        delivery_id = str(uuid.uuid4())
        document = {"delivery_id": delivery_id, "sent_at": self._clock().isoformat(),
                    "source": "asr-central", "alerts": [
                        {k: a.get(k) for k in ALERT_FIELDS} for a in alerts]}
        body = json.dumps(document, separators=(",", ":"), sort_keys=True).encode("utf-8")
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.settings.attempts),
            wait=tenacity.wait_random_exponential(multiplier=self.settings.backoff_initial_s,
                                                  max=self.settings.backoff_max_s),
            retry=tenacity.retry_if_exception_type(_Retryable), before_sleep=self._log_retry,
            sleep=self._sleep, reraise=True)
        try:
            retrying(self._post, body, delivery_id)
        except _Retryable as exc:
            raise NotifyError(f"alert webhook gave up after {self.settings.attempts} "
                              f"attempt(s): {exc}") from exc

    def flush(self) -> int:
        """Send every unnotified alert, a batch per POST; returns how many were sent.
        Raises NotifyError when a batch is not taken (it and the rest stay unnotified)."""
        sent = 0
        with self._send_lock:
            while True:
                pending = alert_store.unnotified(self.db.connection())
                batch = pending[:self.settings.batch_size]
                if not batch:
                    break
                try:
                    self._deliver(batch)
                except NotifyError as exc:
                    self.last_error = str(exc)
                    raise
                with self.db.transaction() as conn:
                    alert_store.mark_notified(conn, [a["alert_key"] for a in batch],
                                              self._clock())
                sent += len(batch)
                self.sent += len(batch)
                self.last_error = None
        if sent:
            log.info("alert webhook: %d alert(s) delivered", sent)
        return sent

    # --- the worker -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def poke(self) -> None:
        """Ask the worker to send what is pending; returns at once."""
        with self._start_lock:
            if self._stop.is_set():
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="alert-webhook",
                                                daemon=True)
                self._thread.start()
        self._wake.set()

    def _work(self) -> None:
        retry_at: float | None = None
        while not self._stop.is_set():
            timeout = None if retry_at is None else max(0.0, retry_at - time.monotonic())
            self._wake.wait(timeout)
            if self._stop.is_set():
                break
            if retry_at is not None and time.monotonic() < retry_at:
                # a poke during the pause after a failure: the pause wins, the webhook is
                # not hammered by every policy run
                self._wake.clear()
                continue
            self._wake.clear()
            try:
                self.flush()
                retry_at = None
            except NotifyError as exc:
                log.error("%s; the alerts stay pending and are tried again in %.0f s", exc,
                          self.settings.retry_interval_s)
                retry_at = time.monotonic() + self.settings.retry_interval_s
            except Exception:  # the worker must outlive a database hiccup
                log.exception("alert webhook run failed; trying again later")
                retry_at = time.monotonic() + self.settings.retry_interval_s

    def close(self, timeout: float = 10.0) -> None:
        with self._start_lock:
            self._stop.set()
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(timeout)
        self._client.close()


def attach(app: Any, notifier: WebhookNotifier) -> None:
    """Make the app's policy runs poke `notifier`, and stop it when the app shuts down
    (before the app closes its database). The leader's first try sends whatever is already
    pending (asr_central.service.leader); a follower's notifier stays idle."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with inner(a) as state:
            try:
                yield state
            finally:
                await asyncio.to_thread(notifier.close)

    app.router.lifespan_context = lifespan
    state = state_of(app)
    state.alert_notifier = notifier
    if state.duties is not None:
        state.duties.wake()


def poke(app: Any) -> None:
    """Called after a policy run and at each try of the leader: hand over to the app's
    notifier, if one is configured and this worker leads (one worker sends, not each)."""
    state = state_of(app)
    notifier = state.alert_notifier
    if notifier is not None and state.is_leader:
        notifier.poke()
