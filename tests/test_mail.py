"""Mail to site contacts through a real SMTP server on loopback: each kind reaches its
contact in their language, a digest per contact per day or at once, nothing lost while the
mail server is down and nothing sent twice, hostile printer strings harmless."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage

import pytest

from asr_central.domain.mail import MailKind, RetryPolicy, digest_key, message_id
from asr_central.service.mail import smtp
from asr_central.service.mail.sender import MailSender, MailSettings
from asr_central.storage import mail as mail_store
from asr_central.storage import registry
from asr_central.storage.base import Database
from tests.support_mail import DAY, SmtpSink, mail_db, seed, smtp_sink  # noqa: F401

ALL_KINDS = frozenset(MailKind)
NEXT_MORNING = datetime.combine(DAY.date() + timedelta(days=1), time(6, 5), UTC)


def _text(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def _html(msg: EmailMessage) -> str:
    part = msg.get_body(("html",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def _by_recipient(messages: list[EmailMessage]) -> dict[str, list[EmailMessage]]:
    out: dict[str, list[EmailMessage]] = {}
    for m in messages:
        out.setdefault(str(m["To"].addresses[0].addr_spec), []).append(m)
    return out


def test_a_day_of_events_reaches_each_contact_as_one_digest_the_next_morning(
        mail_db: Database, smtp_sink: SmtpSink) -> None:  # noqa: F811
    seed(mail_db)
    sender = MailSender(mail_db, MailSettings(smtp_sink.settings()))
    first = sender.run_once(DAY)
    assert first.collected == 8 and first.sent == 0  # the digest waits for the day's end
    assert smtp_sink.messages == []
    report = sender.run_once(NEXT_MORNING)
    assert (report.sent, report.dropped) == (2, 1)  # the opted-out contact hears nothing
    got = _by_recipient(smtp_sink.messages)
    assert sorted(got) == ["claire@lyon.example", "ops@leeds.example"]
    lyon, = got["claire@lyon.example"]
    assert lyon["Message-ID"] == message_id(digest_key("claire", DAY.date()), "dealer.example")
    assert lyon["Subject"] == "Vos imprimantes : 3 nouvelle(s) du 2 mars 2026"
    assert lyon["Content-Language"] == "fr"
    text = _text(lyon)
    assert "2 × toner noir (106R03528) ; il aurait été épuisé vers le 14 mars 2026" in text
    assert "L'imprimante XRX-LY-2 (Accueil) ne nous a plus rien transmis depuis le " \
           "26 février 2026." in text
    assert "Laissez-la sous tension ; la mise en veille ne pose pas de problème. Vérifiez son " \
           "raccordement au réseau." in text
    assert "La cartouche CART-001 a été installée dans l'imprimante XRX-LY-1 " \
           "(2e étage, comptabilité)" in text
    assert "expédiée pour l'imprimante XRX-LE-1 (Reception)" in text
    leeds, = got["ops@leeds.example"]
    text = _text(leeds)
    assert "1 × black toner (106R03528) for printer XRX-LE-1 (Reception), cartridge(s) " \
           "CART-001." in text
    assert "Use the toner delivered for each printer: its serial is on the parcel label." in text
    assert "tell us before extra supplies are ordered" in text
    assert "while it still held about 123.4 g of toner (41 %)" in text
    assert "Tip: replace a cartridge only when the printer says it is empty." in text
    assert sender.run_once(NEXT_MORNING + timedelta(hours=1)).sent == 0  # nothing twice


def test_each_contact_gets_their_digest_the_morning_after_their_own_day(
        mail_db: Database, smtp_sink: SmtpSink) -> None:  # noqa: F811
    """Claire in Auckland (UTC+13 in March), Leeds in Los Angeles (UTC-8): the same events,
    each digest at 06:00 of its contact's clock, and dated with the contact's day."""
    seed(mail_db)
    with mail_db.transaction() as conn:
        for cid, zone in (("claire", "Pacific/Auckland"), ("ops", "America/Los_Angeles")):
            contact = registry.get_contact(conn, cid)
            assert contact is not None
            registry.upsert_contact(conn, replace(contact, time_zone=zone), DAY)
    sender = MailSender(mail_db, MailSettings(smtp_sink.settings()))
    # 10:00 UTC is 23:00 on 2 March in Auckland and 02:00 on 2 March in Los Angeles
    assert sender.run_once(DAY).sent == 0
    auckland_morning = datetime(2026, 3, 2, 17, 5, tzinfo=UTC)  # 06:05 on 3 March there
    assert sender.run_once(auckland_morning).sent == 1
    lyon, = smtp_sink.messages
    assert lyon["To"].addresses[0].addr_spec == "claire@lyon.example"
    assert lyon["Subject"] == "Vos imprimantes : 3 nouvelle(s) du 2 mars 2026"
    # central's own 06:00 UTC is still night before the 3rd's morning in Los Angeles
    assert sender.run_once(NEXT_MORNING).sent == 0
    la_morning = datetime(2026, 3, 3, 14, 5, tzinfo=UTC)  # 06:05 on 3 March there
    assert sender.run_once(la_morning).sent == 1
    leeds = smtp_sink.messages[-1]
    assert leeds["To"].addresses[0].addr_spec == "ops@leeds.example"
    assert leeds["Subject"] == "Your printers: 4 update(s) for March 2, 2026"


def test_an_event_late_in_the_utc_day_belongs_to_the_next_day_east_of_greenwich(
        mail_db: Database, smtp_sink: SmtpSink) -> None:  # noqa: F811
    """At 22:00 UTC on 2 March it is already 3 March in Auckland: the digest is the 3rd's,
    sent on the 4th's morning there, with the dates its lines quote read there too."""
    late = datetime(2026, 3, 2, 22, 0, tzinfo=UTC)
    seed(mail_db, late)
    with mail_db.transaction() as conn:
        contact = registry.get_contact(conn, "claire")
        assert contact is not None
        registry.upsert_contact(conn, replace(contact, time_zone="Pacific/Auckland"), late)
    sender = MailSender(mail_db, MailSettings(smtp_sink.settings()))
    sender.run_once(late)
    assert sender.run_once(datetime(2026, 3, 3, 17, 5, tzinfo=UTC)).sent == 2  # and Leeds's, on UTC
    lyon = _by_recipient(smtp_sink.messages)["claire@lyon.example"][0]
    assert lyon["Message-ID"] == message_id(digest_key("claire", date(2026, 3, 3)),
                                            "dealer.example")
    assert lyon["Subject"] == "Vos imprimantes : 3 nouvelle(s) du 3 mars 2026"


def test_the_kinds_the_dealer_makes_immediate_go_out_at_once(
        mail_db: Database, smtp_sink: SmtpSink) -> None:  # noqa: F811
    seed(mail_db)
    immediate = frozenset({MailKind.ORDER_SHIPPED, MailKind.DEVICE_SILENT})
    sender = MailSender(mail_db, MailSettings(smtp_sink.settings(), immediate=immediate))
    assert sender.run_once(DAY).sent == 2
    subjects = sorted(str(m["Subject"]) for m in smtp_sink.messages)
    assert subjects == ["Order 2: your parcel has shipped", "Une imprimante ne communique plus"]
    assert len({str(m["Message-ID"]) for m in smtp_sink.messages}) == 2
    sender.run_once(NEXT_MORNING)
    digests = [m for m in smtp_sink.messages if "nouvelle" in str(m["Subject"])
               or "update" in str(m["Subject"])]
    assert len(digests) == 2  # the rest, in each contact's digest
    assert all("XRX-LY-2 (Accueil) ne nous" not in _text(m) for m in digests)


def test_mail_server_down_for_a_day_then_back_delivers_every_message_exactly_once(
        mail_db: Database, smtp_sink: SmtpSink) -> None:  # noqa: F811
    seed(mail_db)
    sender = MailSender(mail_db, MailSettings(smtp_sink.settings(), immediate=ALL_KINDS))
    smtp_sink.stop()
    now = DAY
    for _ in range(24 * 6):  # every ten minutes for a day
        report = sender.run_once(now)
        # one connection attempt per run while the server is away, not one per message
        assert report.sent == 0 and report.failed == 0 and report.retried <= 1
        now += timedelta(minutes=10)
    queued = mail_store.list_outbox(mail_db.connection(), "queued")
    assert len(queued) == 7  # the opted-out contact's was dropped
    # backoff from the row: far fewer attempts than runs, and the error kept
    assert all(2 < m.attempts < 40 for m in queued), [m.attempts for m in queued]
    assert sum(m.attempts for m in queued) <= 24 * 6
    assert all("cannot reach the mail server" in (m.last_error or "") for m in queued)
    smtp_sink.start()
    for _ in range(12):  # two more hours: the longest pause is one
        sender.run_once(now)
        now += timedelta(minutes=10)
    ids = Counter(str(m["Message-ID"]) for m in smtp_sink.messages)
    assert len(ids) == 7 and set(ids.values()) == {1}  # the opted-out one was never sent
    assert ids.keys() == {m.message_id for m in mail_store.list_outbox(mail_db.connection(),
                                                                         "sent")}
    assert [m.message_id for m in mail_store.list_outbox(mail_db.connection(), "dropped")]


def test_a_crash_between_send_and_mark_sends_again_under_the_same_message_id(
        mail_db: Database, smtp_sink: SmtpSink) -> None:  # noqa: F811
    seed(mail_db)
    settings = MailSettings(smtp_sink.settings(), immediate=frozenset({MailKind.ORDER_PLACED}))

    class Crash(BaseException):
        pass

    def send_then_die(s: smtp.SmtpSettings, msg: EmailMessage) -> None:
        # a fault no real part produces on demand: the process dies right after the
        # server took the message, before the outbox row is marked
        smtp.send(s, msg)
        raise Crash

    with pytest.raises(Crash):
        MailSender(mail_db, settings, send=send_then_die).run_once(DAY)
    MailSender(mail_db, settings).run_once(DAY)
    first, again, other = smtp_sink.messages  # two orders placed; the first sent twice
    assert first["Message-ID"] == again["Message-ID"] != other["Message-ID"]
    assert _text(first) == _text(again)
    assert MailSender(mail_db, settings).run_once(DAY + timedelta(hours=1)).sent == 0


def test_a_message_the_server_refuses_for_good_fails_and_is_not_retried(
        mail_db: Database) -> None:  # noqa: F811
    seed(mail_db)
    refusals = []

    def refuse(s: smtp.SmtpSettings, msg: EmailMessage) -> None:
        refusals.append(msg["Message-ID"])
        raise smtp.PermanentMailError("550 no such user")

    settings = MailSettings(SmtpSink().settings(), immediate=ALL_KINDS)
    sender = MailSender(mail_db, settings, send=refuse)
    assert sender.run_once(DAY).failed == 7
    assert sender.run_once(DAY + timedelta(hours=2)).failed == 0
    assert len(refusals) == 7
    assert {m.last_error for m in mail_store.list_outbox(mail_db.connection(), "failed")} == {
        "550 no such user"}


def test_collecting_again_adds_nothing_and_old_history_is_not_mailed(
        mail_db: Database, smtp_sink: SmtpSink) -> None:  # noqa: F811
    seed(mail_db, DAY - timedelta(days=10))
    sender = MailSender(mail_db, MailSettings(smtp_sink.settings(), immediate=ALL_KINDS))
    assert sender.run_once(DAY).collected == 0  # an installation does not mail its past
    seed_db = mail_db
    assert mail_store.pending_events(seed_db.connection()) == []


def test_the_retry_pause_doubles_up_to_an_hour_and_gives_up_after_four_days() -> None:
    policy = RetryPolicy()
    pauses = [policy.next_try(n, DAY) - DAY for n in (1, 2, 3, 7, 50)]
    assert pauses == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4),
                      timedelta(hours=1), timedelta(hours=1)]
    assert not policy.gives_up(DAY, DAY + timedelta(days=3))
    assert policy.gives_up(DAY, DAY + timedelta(days=4))


def test_plain_smtp_is_refused_off_loopback() -> None:
    from asr_core.errors import ConfigError

    with pytest.raises(ConfigError, match="loopback only"):
        smtp.SmtpSettings(host="mail.example", sender="a@b.example", security="none")


def test_lines_joining_an_unshipped_order_are_told_alone_and_once(
        mail_db: Database, smtp_sink: SmtpSink) -> None:  # noqa: F811
    from asr_central.domain.policy import LineReason, Order, OrderLine, SupplyKind
    from asr_central.storage import orders as order_store

    ids = seed(mail_db)
    settings = MailSettings(smtp_sink.settings(), immediate=frozenset({MailKind.ORDER_PLACED}))
    sender = MailSender(mail_db, settings)
    sender.run_once(DAY)
    assert len(smtp_sink.messages) == 2  # the Lyon and the Leeds orders
    later = DAY + timedelta(days=3)  # past the look-back: the order is still open to lines
    joining = OrderLine("XRX-LY-2", "1", SupplyKind.CONSUMABLE, 1, LineReason.PULL_FORWARD,
                        25.0, 0.04, "106R03528")
    with mail_db.transaction() as conn:
        order_store.create_orders(conn, [Order("lyon", "claire", later.date(), (joining,),
                                               amends=str(ids["placed"]))], later,
                                  {("XRX-LY-2", "1"): order_store.LineMeta(
                                      1, "toner", "black", "106R03528")})
    sender.run_once(later)  # (the first day's digests go out too)
    assert sender.run_once(later + timedelta(hours=1)).sent == 0
    subject = f"Commande n° {ids['placed']} : vos fournitures arrivent"
    first, amendment = [m for m in smtp_sink.messages if m["Subject"] == subject]
    assert first["Message-ID"] != amendment["Message-ID"]
    text = _text(amendment)
    assert "D'autres fournitures rejoignent ce colis, qui n'est pas encore parti :" in text
    assert "XRX-LY-2 (Accueil) : 1 × toner noir" in text
    assert "XRX-LY-1" not in text  # told in the first message


def test_a_message_that_cannot_be_written_fails_alone_and_the_rest_go_out(
        mail_db: Database, smtp_sink: SmtpSink) -> None:  # noqa: F811
    seed(mail_db)
    with mail_db.transaction() as conn:  # facts an older version might have stored
        mail_store.add_event(conn, "broken", "claire", "device_silent", {},
                             DAY - timedelta(hours=1), DAY.date())
    sender = MailSender(mail_db, MailSettings(smtp_sink.settings(), immediate=ALL_KINDS))
    report = sender.run_once(DAY)
    assert (report.failed, report.sent) == (1, 7)
    failed, = mail_store.list_outbox(mail_db.connection(), "failed")
    assert failed.last_error is not None and "cannot be rendered" in failed.last_error


def test_a_contact_address_naming_two_mailboxes_is_refused_not_sent_to_both(
        mail_db: Database, smtp_sink: SmtpSink) -> None:  # noqa: F811
    from asr_central.storage import registry

    seed(mail_db)
    with mail_db.transaction() as conn:  # the YAML import only checks for an '@'
        claire = registry.get_contact(conn, "claire")
        assert claire is not None
        registry.upsert_contact(conn, registry.Contact(
            "claire", claire.name, "claire@lyon.example, thief@evil.example", "", None, "fr"),
            DAY)
    sender = MailSender(mail_db, MailSettings(smtp_sink.settings(), immediate=ALL_KINDS))
    report = sender.run_once(DAY)
    assert report.failed == 3  # Claire's three messages
    assert all("thief" not in str(rcpts) for _, rcpts in smtp_sink.keeper.envelopes)
    errors = {m.last_error for m in mail_store.list_outbox(mail_db.connection(), "failed")}
    assert errors and all(e and "fix the contact's e-mail in the registry" in e for e in errors)
