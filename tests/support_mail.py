"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, and a central
database seeded with what each kind of customer mail is about: an order placed and
shipped, a silent printer, a spike, a premature replacement, a misrouted cartridge."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from asr_central.domain.alerts import Alert, AlertKind, Severity
from asr_central.domain.policy import LineReason, Order, OrderLine, SupplyKind
from asr_central.service.mail.smtp import SmtpSettings
from asr_central.storage import alerts as alert_store
from asr_central.storage import open_database
from asr_central.storage import orders as order_store
from asr_central.storage import registry
from asr_central.storage.base import Connection, Database

DAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday morning


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class _Keeper:
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.SMTP)
        with self.lock:
            self.messages.append(msg)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


class SmtpSink:
    """aiosmtpd on 127.0.0.1:`port` (fixed across stop and start: an outage and back)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_tcp_port()
        self.keeper = _Keeper()
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[EmailMessage]:
        with self.keeper.lock:
            return list(self.keeper.messages)

    def start(self) -> SmtpSink:
        self._controller = Controller(self.keeper, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def settings(self, **overrides: Any) -> SmtpSettings:
        values: dict[str, Any] = {"host": "127.0.0.1", "port": self.port, "security": "none",
                                  "sender": "asr@dealer.example", "timeout_s": 5.0}
        values.update(overrides)
        return SmtpSettings(**values)


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


REGISTRY = """
contacts:
  - {id: claire, name: Claire Martin, email: claire@lyon.example, language: fr,
     shipping_address: "12 rue Garibaldi, 69003 Lyon"}
  - {id: ops, name: Sam Ops, email: ops@leeds.example, language: en,
     shipping_address: "1 Park Row, Leeds"}
  - {id: quiet, name: Quiet Person, email: quiet@x.example, language: en, mail_opt_out: true}
sites:
  - {id: lyon, name: Lyon HQ, contact: claire}
  - {id: leeds, name: Leeds office, contact: ops}
  - {id: calm, name: Calm site, contact: quiet}
devices:
  - {serial: XRX-LY-1, site: lyon, location: "2e étage, comptabilité"}
  - {serial: XRX-LY-2, site: lyon, location: "Accueil"}
  - {serial: XRX-LE-1, site: leeds, location: "Reception"}
  - {serial: XRX-CA-1, site: calm}
"""


def _report(conn: Connection, serial: str, site: str, last_seen: datetime,
            summary_id: int, spike: bool = False) -> None:
    """What ingest would have stored for a device: a summary, its status, a supply."""
    conn.execute("INSERT INTO agents (agent_id, site_id, name, created_at) VALUES (?, ?, ?, ?) "
                 "ON CONFLICT DO NOTHING", (f"agent-{site}", site, site, "2026-01-01T00:00:00Z"))
    stamp = last_seen.strftime("%Y-%m-%dT%H:%M:%SZ")
    conn.execute("INSERT INTO summaries (id, agent_id, sequence, idempotency_key, key_id, "
                 "site_id, device_serial, period_start, period_end, received_at, payload, "
                 "signature) VALUES (?, ?, ?, ?, 'k', ?, ?, ?, ?, ?, ?, ?)",
                 (summary_id, f"agent-{site}", summary_id, f"idem-{summary_id}", site, serial,
                  stamp, stamp, stamp, b"\x00", b"\x00"))
    conn.execute("INSERT INTO device_status (serial, site_id, agent_id, asr_compatible, state, "
                 "last_seen, last_summary_id) VALUES (?, ?, ?, 1, 'ok', ?, ?)",
                 (serial, site, f"agent-{site}", stamp, summary_id))
    conn.execute("INSERT INTO supply_latest (device_serial, supply_index, type, supply_class, "
                 "color, level_state, days_to_empty, forecast_status, spike, part_number, "
                 "as_of, summary_id) VALUES (?, 1, 'toner', 'supplyThatIsConsumed', 'black', "
                 "'ok', 12.5, 'ok', ?, '106R03528', ?, ?)", (serial, int(spike), stamp, summary_id))


def seed(db: Database, now: datetime = DAY) -> dict[str, int]:
    """Registry, device reports, an order placed (Lyon) and one shipped (Leeds), and one
    alert of each kind the contact hears about; all at `now`."""
    with db.transaction() as conn:
        doc = registry.parse_registry_yaml(REGISTRY)
        registry.save_document(conn, doc, now)
    with db.transaction() as raw:
        _report(raw, "XRX-LY-1", "lyon", now - timedelta(hours=2), 1)
        _report(raw, "XRX-LY-2", "lyon", now - timedelta(days=4), 2)
        # the agent's spike flag behind the usage-spike alert below: a policy run keeps it
        _report(raw, "XRX-LE-1", "leeds", now - timedelta(hours=1), 3, spike=True)
        _report(raw, "XRX-CA-1", "calm", now - timedelta(hours=1), 4)
    line = OrderLine("XRX-LY-1", "1", SupplyKind.CONSUMABLE, 2, LineReason.DUE, 30.0, 0.05,
                     "106R03528")
    meta = {("XRX-LY-1", "1"): order_store.LineMeta(1, "toner", "black", "106R03528"),
            ("XRX-LE-1", "1"): order_store.LineMeta(1, "toner", "black", "106R03528")}
    with db.transaction() as conn:
        placed, = order_store.create_orders(
            conn, [Order("lyon", "claire", now.date(), (line,))], now, meta)
        shipped, = order_store.create_orders(
            conn, [Order("leeds", "ops", now.date(), (
                OrderLine("XRX-LE-1", "1", SupplyKind.CONSUMABLE, 1, LineReason.DUE, 30.0, 0.05,
                          "106R03528"),))], now, meta)
        line_id = order_store.get_order(conn, shipped).lines[0].line_id
        order_store.mark_shipped(conn, shipped, now, serials={line_id: ["CART-001"]},
                                 tracking="TRK-42")
    replaced = now - timedelta(hours=3)
    with db.transaction() as raw:
        # the Leeds cartridge went into a Lyon printer; a Lyon cartridge went out early
        for sid, serial, cartridge, premature, grams, pct in (
                (5, "XRX-LY-1", "CART-001", 0, None, None),
                (6, "XRX-LE-1", "CART-777", 1, 123.4, 41.0)):
            raw.execute("INSERT INTO summaries (id, agent_id, sequence, idempotency_key, key_id, "
                        "site_id, device_serial, period_start, period_end, received_at, "
                        "payload, signature) VALUES (?, 'agent-lyon', ?, ?, 'k', 'lyon', ?, ?, "
                        "?, ?, ?, ?)", (sid, sid, f"idem-{sid}", serial, "x", "x", "x", b"\x00",
                                        b"\x00"))
            raw.execute("INSERT INTO cartridge_events (summary_id, device_serial, supply_index, "
                        "replaced_at, premature, grams_wasted, removed_percent, "
                        "cartridge_serial) VALUES (?, ?, 1, ?, ?, ?, ?, ?)",
                        (sid, serial, replaced.strftime("%Y-%m-%dT%H:%M:%SZ"), premature,
                         grams, pct, cartridge))
    db.reset_identities()  # the summaries above were given their ids
    alerts = [
        Alert(AlertKind.DEVICE_SILENT, Severity.WARNING, "XRX-LY-2", None, "silent", now),
        Alert(AlertKind.USAGE_SPIKE, Severity.WARNING, "XRX-LE-1", "1", "spike", now),
        Alert(AlertKind.PREMATURE_REPLACEMENT, Severity.WARNING, "XRX-LE-1", "1", "early",
              replaced, replaced.isoformat()),
        Alert(AlertKind.CARTRIDGE_MISROUTED, Severity.WARNING, "XRX-LY-1", "1", "misrouted",
              replaced, replaced.isoformat()),
        Alert(AlertKind.DEVICE_SILENT, Severity.WARNING, "XRX-CA-1", None, "silent", now),
    ]
    with db.transaction() as conn:
        alert_store.sync_alerts(conn, [a for a in alerts if a.kind in (
            AlertKind.DEVICE_SILENT, AlertKind.USAGE_SPIKE)], [a for a in alerts if a.kind in (
                AlertKind.PREMATURE_REPLACEMENT, AlertKind.CARTRIDGE_MISROUTED)], now)
    return {"placed": placed, "shipped": shipped}


@pytest.fixture
def mail_db(central_db_url: str) -> Iterator[Database]:
    """Central's database with the mail tables, on each engine in turn."""
    db = open_database(central_db_url)
    yield db
    db.close()
