"""What central tells a site's contact by e-mail, and when: the kinds of message, the
Message-ID each one keeps for good, the digest rule and the retry schedule. Pure.

An *event* (an order placed, a parcel shipped, an alert raised) is collected once under a
stable key; events are carried to the contact either at once (the kinds the dealer makes
immediate) or in one digest per contact per day. A message's Message-ID is derived from
what it carries, so the same message sent again after a crash is recognisably the same.

A contact's day is their own: an event belongs to the date it happened on where the contact
is (their `time_zone`, else central's `mail.time_zone`), and their digest goes out at
`mail.digest_at` of their clock, so a contact in Auckland does not get Monday's digest on
Monday evening and one in Los Angeles does not get it before Monday is over for them.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "ALERT_KINDS", "DEFAULT_IMMEDIATE", "DIGEST", "MailKind", "RetryPolicy", "digest_key",
    "event_message_key", "is_immediate", "local_day", "message_id", "time_zone_named",
    "wants_digest",
]


class MailKind(enum.Enum):
    """One kind of thing a contact hears about (the alert kinds share the alert codes)."""

    ORDER_PLACED = "order_placed"
    ORDER_SHIPPED = "order_shipped"
    DEVICE_SILENT = "device_silent"
    USAGE_SPIKE = "usage_spike"
    PREMATURE_REPLACEMENT = "premature_replacement"
    CARTRIDGE_MISROUTED = "cartridge_misrouted"


# The alert kinds that become mail to the contact; the rest are the dealer's business.
ALERT_KINDS = frozenset({MailKind.DEVICE_SILENT, MailKind.USAGE_SPIKE,
                         MailKind.PREMATURE_REPLACEMENT, MailKind.CARTRIDGE_MISROUTED})

# By default every kind waits for the contact's daily digest; a dealer names the ones that
# cannot wait (`serve --mail-immediate`).
DEFAULT_IMMEDIATE: frozenset[MailKind] = frozenset()

DIGEST = "digest"  # the outbox kind of a message carrying a day's events


def time_zone_named(name: str) -> ZoneInfo:
    """The IANA time zone `name` ("Europe/Paris", "UTC"); ValueError saying what is wrong."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder such as "Europe"
        pass
    shown = name if len(name) <= 60 else name[:57] + "..."
    raise ValueError(f"{shown!r} is not a time zone: write an IANA name such as "
                     "Europe/Paris, America/New_York or UTC")


def local_day(moment: datetime, zone: tzinfo) -> date:
    """The date `moment` falls on in `zone`: the day an event belongs to for a contact."""
    return moment.astimezone(zone).date()


def wants_digest(event_day: date, now: datetime, zone: tzinfo, digest_at: time) -> bool:
    """Whether the digest of `event_day` is due at `now` for a contact in `zone`: their
    day is over and their clock has reached `digest_at`, or a further day has passed (a
    central that was down at that hour sends it as soon as it runs)."""
    local = now.astimezone(zone)
    today = local.date()
    if event_day >= today:
        return False
    return local.time().replace(tzinfo=None) >= digest_at or event_day < today - timedelta(days=1)


def is_immediate(kind: MailKind, immediate: Collection[MailKind]) -> bool:
    return kind in immediate


def event_message_key(event_key: str) -> str:
    """The outbox key of a message sent for one event alone."""
    return f"event|{event_key}"


def digest_key(contact_id: str, day: date) -> str:
    """The outbox key of a contact's digest for `day`: one per contact per day."""
    return f"digest|{contact_id}|{day.isoformat()}"


def message_id(key: str, domain: str) -> str:
    """The RFC 5322 Message-ID of the message with outbox `key`: the same key always gives
    the same id, so a receiver (and a test) can tell a resend from a new message."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{domain}>"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When a message the mail server did not take is tried again: doubling pauses from
    `first` up to `longest`, and after `give_up_after` since it was queued it fails for
    good (the dealer sees it in the outbox). The defaults ride out a day-long outage."""

    first: timedelta = timedelta(minutes=1)
    longest: timedelta = timedelta(hours=1)
    give_up_after: timedelta = timedelta(days=4)

    def next_try(self, attempts: int, now: datetime) -> datetime:
        """When to try again after `attempts` failed attempts (1 or more)."""
        pause = self.first * (1 << min(max(attempts - 1, 0), 30))
        return now + min(pause, self.longest)

    def gives_up(self, queued_at: datetime, now: datetime) -> bool:
        return now - queued_at >= self.give_up_after
