"""The mail job: `MailSender.run_once()` collects what happened (orders placed and shipped,
alerts for the contact), composes messages (at once for the dealer's immediate kinds, one
digest per contact per day for the rest) and hands the due ones to the mail server.

    orders, alerts ──collect──► mail_events ──compose──► mail_outbox (queued)
                                                            │ deliver: SMTP
                                           taken ──► sent   │ 4xx / down ──► next try (backoff)
                                                            │ 5xx, or past give-up ──► failed

Days are the contact's: an event belongs to the date it happened on in the contact's time
zone (the registry's, else `mail.time_zone`), the dates a message quotes are read there too,
and a digest goes out once the contact's clock reaches `digest_at` (asr_central.domain.mail).

A plain object: the service runs it from one thread (`MailWorker`), and one leader at a
time when central runs as several workers. Each step is its own transaction; a message is
marked sent only after the server took it, so a crash in between sends it again with the
same Message-ID, and collecting or composing twice is a no-op (keys).

Each event's facts, as the templates read them:
    order_placed    order_id, lines[serial, location, color, supply_kind, part_number,
                    quantity, runout_day]
    order_shipped   order_id, tracking, lines[... as above, cartridge_serials]
    device_silent   serial, location, last_seen
    usage_spike     serial, location, color, supply_kind
    premature_replacement  serial, location, color, supply_kind, replaced_on, grams_left,
                    percent_left
    cartridge_misrouted    serial, location, cartridge_serial, shipped_to,
                    shipped_to_location, replaced_on
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from email.message import EmailMessage
from typing import Any

from asr_central.domain.mail import (
    ALERT_KINDS, DEFAULT_IMMEDIATE, DIGEST, MailKind, RetryPolicy, digest_key,
    event_message_key, is_immediate, local_day, message_id, time_zone_named, wants_digest,
)
from asr_central.domain.placement import supply_kind
from asr_central.service.mail import smtp
from asr_central.service.mail.render import Item, render_message
from asr_central.storage import mail as store
from asr_central.storage import orders as order_store
from asr_central.storage import registry
from asr_central.storage.base import Database, Row, UnitOfWork
from asr_central.storage.times import stamp

log = logging.getLogger("asr_central.mail")

__all__ = ["MailSender", "MailSettings", "MailWorker", "RunReport", "attach", "event_facts"]

Send = Callable[[smtp.SmtpSettings, EmailMessage], None]

# Orders and alerts older than this when first seen by the job are not told: a new
# installation (or an upgrade) does not mail the whole history.
LOOKBACK = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class MailSettings:
    smtp: smtp.SmtpSettings
    immediate: frozenset[MailKind] = DEFAULT_IMMEDIATE
    digest_at: time = time(6, 0)    # a day's digest goes out the next day from then
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    time_zone: tzinfo = UTC         # the contacts' clock, unless the registry gives their own


@dataclass(frozen=True, slots=True)
class RunReport:
    collected: int = 0
    composed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0


def _day(moment: str | None, zone: tzinfo) -> str | None:
    """The contact's date of a stored moment."""
    if not moment:
        return None
    return local_day(datetime.fromisoformat(moment.replace("Z", "+00:00")), zone).isoformat()


def _kind_of(row: Row | Mapping[str, Any] | None) -> str:
    if row is None:
        return "consumable"
    return supply_kind(row["type"], row["supply_class"]).value


# ------------------------------------------------------------------------------ facts

def _locations(conn: UnitOfWork) -> dict[str, str | None]:
    return {d.serial: d.location for d in registry.list_devices(conn)}


Where = Mapping[str, str | None]  # serial → its location in the registry


def _order_facts(conn: UnitOfWork, order_id: int, where: Where, zone: tzinfo,
                 after_line: int = 0) -> dict[str, Any]:
    """An order's facts; only its lines after `after_line` (those an amendment added)."""
    order = order_store.get_order(conn, order_id)
    lines = []
    for line in order.lines:
        if line.line_id <= after_line:
            continue
        forecast = store.runout(conn, line.device_serial, line.supply_index)
        runout_day = None
        if forecast is not None and forecast["days_to_empty"] is not None:
            as_of = datetime.fromisoformat(forecast["as_of"].replace("Z", "+00:00"))
            runout_day = local_day(as_of + timedelta(days=forecast["days_to_empty"]),
                                   zone).isoformat()
        lines.append({"serial": line.device_serial, "location": where.get(line.device_serial),
                      "color": line.color, "supply_kind": line.supply_kind,
                      "part_number": line.part_number, "quantity": line.quantity,
                      "runout_day": runout_day,
                      "cartridge_serials": list(line.cartridge_serials)})
    return {"order_id": order.order_id, "tracking": order.tracking, "lines": lines,
            "amended": after_line > 0}


def _alert_facts(conn: UnitOfWork, alert: Row | Mapping[str, Any], where: Where,
                 zone: tzinfo) -> dict[str, Any]:
    serial = alert["device_serial"]
    facts: dict[str, Any] = {"serial": serial, "location": where.get(serial)}
    kind = alert["kind"]
    supply = alert["supply_key"]
    forecast = store.runout(conn, serial, int(supply)) if supply else None
    facts["color"] = forecast["color"] if forecast is not None else None
    facts["supply_kind"] = _kind_of(forecast)
    if kind == MailKind.DEVICE_SILENT.value:
        facts["last_seen"] = _day(store.last_seen(conn, serial), zone)
    elif kind in (MailKind.PREMATURE_REPLACEMENT.value, MailKind.CARTRIDGE_MISROUTED.value):
        # an event alert's key ends with the replacement's moment (domain.alerts)
        occurred = datetime.fromisoformat(alert["alert_key"].rsplit("|", 1)[1])
        change = store.replacement(conn, serial, int(supply), stamp(occurred))
        facts["replaced_on"] = local_day(occurred, zone).isoformat()
        facts["grams_left"] = change["grams_wasted"] if change is not None else None
        facts["percent_left"] = change["removed_percent"] if change is not None else None
        cartridge = change["cartridge_serial"] if change is not None else None
        facts["cartridge_serial"] = cartridge
        shipped_to = store.shipped_for(conn, cartridge) if cartridge else None
        facts["shipped_to"] = shipped_to
        facts["shipped_to_location"] = where.get(shipped_to) if shipped_to else None
    return facts


def event_facts(conn: UnitOfWork, kind: MailKind, *, order_id: int | None = None,
                alert: Mapping[str, Any] | None = None, zone: tzinfo = UTC) -> dict[str, Any]:
    """What a message of `kind` says about an order or an alert, from the database, its
    dates read in `zone`."""
    if order_id is not None:
        return _order_facts(conn, order_id, _locations(conn), zone)
    assert alert is not None
    return _alert_facts(conn, alert, _locations(conn), zone)


def contact_zones(conn: UnitOfWork, default: tzinfo) -> dict[str, tzinfo]:
    """Each contact's time zone; `default` for those without one, or with one this
    machine's time zone database no longer knows (logged: their mail still goes out)."""
    zones: dict[str, tzinfo] = {}
    for contact in registry.list_contacts(conn):
        zones[contact.contact_id] = default
        if contact.time_zone:
            try:
                zones[contact.contact_id] = time_zone_named(contact.time_zone)
            except ValueError as exc:
                log.warning("contact %s: %s; their mail follows mail.time_zone",
                            contact.contact_id, exc)
    return zones


# ------------------------------------------------------------------------------ the job

class MailSender:
    """Collect, compose, deliver: one `run_once()` does all three for what is due."""

    def __init__(self, db: Database, settings: MailSettings, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 send: Send = smtp.send) -> None:
        self.db = db
        self.settings = settings
        self._clock = clock
        self._send = send
        self._lock = threading.Lock()   # one run at a time: no message handed over twice
        self.last_error: str | None = None

    def run_once(self, now: datetime | None = None) -> RunReport:
        now = now or self._clock()
        with self._lock:
            collected = self._collect(now)
            composed = self._compose(now)
            sent, retried, failed, dropped = self._deliver(now)
        report = RunReport(collected, composed, sent, retried, failed, dropped)
        if sent or failed or retried:
            log.info("mail: %d sent, %d to retry, %d failed", sent, retried, failed)
        return report

    # --- collect ----------------------------------------------------------------------------

    def _collect(self, now: datetime) -> int:
        since = now - LOOKBACK
        count = 0
        with self.db.transaction() as conn:
            where = _locations(conn)  # read once per run: the facts of every event use it
            zones = contact_zones(conn, self.settings.time_zone)

            def zone(contact_id: str) -> tzinfo:
                return zones.get(contact_id, self.settings.time_zone)

            placed = MailKind.ORDER_PLACED.value
            for order_id, told, mark in store.untold_lines(conn, since):
                order = order_store.get_order(conn, order_id)
                z = zone(order.contact_id)
                count += store.add_event(conn, f"{placed}|{order_id}|{mark}", order.contact_id,
                                         placed, _order_facts(conn, order_id, where, z, told),
                                         now, local_day(now, z), order_id=order_id,
                                         line_mark=mark)
            shipped = MailKind.ORDER_SHIPPED.value
            for order_id in store.uncollected_shipments(conn, since):
                order = order_store.get_order(conn, order_id)
                z = zone(order.contact_id)
                count += store.add_event(conn, f"{shipped}|{order_id}", order.contact_id,
                                         shipped, _order_facts(conn, order_id, where, z), now,
                                         local_day(now, z), order_id=order_id)
            contacts = registry.assignments(conn)
            for alert in store.uncollected_alerts(conn, {k.value for k in ALERT_KINDS}, since):
                assignment = contacts.get(alert["device_serial"])
                if assignment is None or assignment.contact_id is None:
                    continue  # no one to tell: registry_missing is the dealer's alert
                z = zone(assignment.contact_id)
                facts = _alert_facts(conn, alert, where, z)
                count += store.add_event(
                    conn, f"alert|{alert['alert_key']}|{alert['first_seen']}",
                    assignment.contact_id, alert["kind"], facts, now, local_day(now, z),
                    alert_key=alert["alert_key"])
        return count

    # --- compose ----------------------------------------------------------------------------

    def _compose(self, now: datetime) -> int:
        domain = self.settings.smtp.domain
        count = 0
        with self.db.transaction() as conn:
            zones = contact_zones(conn, self.settings.time_zone)
            digests: dict[tuple[str, str], list[str]] = {}
            for event in store.pending_events(conn):
                if is_immediate(MailKind(event.kind), self.settings.immediate):
                    mid = message_id(event_message_key(event.event_key), domain)
                    count += store.compose(conn, mid, event.contact_id, event.kind,
                                           date.fromisoformat(event.day), [event.event_key], now)
                elif wants_digest(date.fromisoformat(event.day), now,
                                  zones.get(event.contact_id, self.settings.time_zone),
                                  self.settings.digest_at):
                    digests.setdefault((event.contact_id, event.day), []).append(event.event_key)
            for (contact_id, day), keys in sorted(digests.items()):
                when = date.fromisoformat(day)
                mid = message_id(digest_key(contact_id, when), domain)
                count += store.compose(conn, mid, contact_id, DIGEST, when, keys, now)
        return count

    # --- deliver ----------------------------------------------------------------------------

    def _deliver(self, now: datetime) -> tuple[int, int, int, int]:
        sent = retried = failed = dropped = 0
        for row in store.due_messages(self.db.connection(), now):
            conn = self.db.connection()
            contact = registry.get_contact(conn, row.contact_id)
            if contact is None or contact.mail_opt_out:
                why = "the contact opted out" if contact else "the contact is gone"
                with self.db.transaction() as w:
                    store.mark_dropped(w, row.message_id, why)
                dropped += 1
                continue
            items = [Item(e.kind, e.facts) for e in store.events_of(conn, row.message_id)]
            try:
                rendered = render_message(contact.language, contact.name, row.kind, items,
                                          date.fromisoformat(row.day))
            except Exception as exc:  # one message that cannot be written must not hold
                # up the others behind it in the queue
                log.exception("mail %s cannot be rendered", row.message_id)
                with self.db.transaction() as w:
                    store.mark_failed(w, row.message_id, f"cannot be rendered: {exc!r}")
                failed += 1
                continue
            try:
                msg = smtp.build_message(self.settings.smtp, contact.name, contact.email,
                                         rendered, row.message_id, now, contact.language)
                self._send(self.settings.smtp, msg)
            except smtp.TransientMailError as exc:
                self.last_error = str(exc)
                queued = datetime.fromisoformat(row.created_at.replace("Z", "+00:00"))
                with self.db.transaction() as w:
                    if self.settings.retry.gives_up(queued, now):
                        store.mark_failed(w, row.message_id, f"gave up: {exc}")
                        failed += 1
                    else:
                        store.mark_retry(w, row.message_id,
                                         self.settings.retry.next_try(row.attempts + 1, now),
                                         str(exc))
                        retried += 1
                log.warning("mail %s to %s not sent: %s", row.message_id, row.contact_id, exc)
                if isinstance(exc, smtp.ServerUnreachable):
                    break  # one connection attempt per run while the server is away
                continue
            except smtp.PermanentMailError as exc:
                self.last_error = str(exc)
                with self.db.transaction() as w:
                    store.mark_failed(w, row.message_id, str(exc))
                failed += 1
                log.error("mail %s to %s refused for good: %s", row.message_id,
                          row.contact_id, exc)
                continue
            with self.db.transaction() as w:
                store.mark_sent(w, row.message_id, now)
            sent += 1
            self.last_error = None
        return sent, retried, failed, dropped


class MailWorker:
    """Runs `sender.run_once()` every `interval_s` in a thread of its own until `close()`."""

    def __init__(self, sender: MailSender, interval_s: float = 60.0) -> None:
        self.sender = sender
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="mail", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        self._wake.set()

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                self.sender.run_once()
            except Exception:  # the worker must outlive a database or template hiccup
                log.exception("mail run failed; trying again later")
            self._wake.wait(self.interval_s)
            self._wake.clear()

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)


def attach(app: Any, worker: MailWorker) -> None:
    """Run `worker` while the app serves: started with it, stopped before the app closes
    its database. (Where central runs several workers, the leader's job instead.)"""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with inner(a) as state:
            worker.start()
            try:
                yield state
            finally:
                await asyncio.to_thread(worker.close)

    app.router.lifespan_context = lifespan
