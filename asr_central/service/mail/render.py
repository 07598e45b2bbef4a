"""Mail and packing slips as the contact reads them: Jinja2 templates per language (text
and HTML parts, the HTML autoescaped: printer serials and locations are untrusted), dates
and numbers in the contact's locale by Babel.

Babel rather than the standard library's `locale`: that one formats through the process's
C locale (global, not thread-safe, and only the locales the host has generated), while
Babel carries the CLDR data for French and English with the package.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import jinja2
from babel.dates import format_date
from babel.numbers import format_decimal

from asr_central.domain.mail import DIGEST

__all__ = ["Item", "Rendered", "clean", "render_message", "render_packing_slip", "subject"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def clean(value: Any) -> str:
    """A printer string fit for one line of text: control characters (CR, LF, escapes)
    become one space. HTML escaping is the templates' autoescape's job."""
    return _CONTROL.sub(" ", "" if value is None else str(value)).strip()


def _day(value: str | date | None, lang: str) -> str:
    if not value:
        return "?"
    when = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    return format_date(when, "long", locale=lang)


def _number(value: float | int | None, lang: str) -> str:
    if value is None:
        return "?"
    return format_decimal(value, "#,##0.#", locale=lang)


def _first_up(text: str) -> str:
    """Jinja's `capitalize` lowercases the rest, serials included: only the first letter."""
    return text[:1].upper() + text[1:]


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("asr_central.service.mail", "templates"),
        autoescape=autoescape, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(day=_day, number=_number, clean=clean, first_up=_first_up)
    return env


_TEXT = _environment(autoescape=False)
_HTML = _environment(autoescape=True)


@dataclass(frozen=True, slots=True)
class Item:
    """One thing told: an event's kind and its facts (see sender.py for each kind's)."""

    kind: str
    facts: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


_SUBJECTS = {
    "fr": {"order_placed": "Commande n° {order_id} : vos fournitures arrivent",
           "order_shipped": "Commande n° {order_id} : votre colis est parti",
           "device_silent": "Une imprimante ne communique plus",
           "usage_spike": "Une imprimante imprime beaucoup plus que d'habitude",
           "premature_replacement": "Une cartouche a été remplacée trop tôt",
           "cartridge_misrouted": "Une cartouche a été installée dans une autre imprimante",
           DIGEST: "Vos imprimantes : {count} nouvelle(s) du {day}",
           "test": "Message d'essai d'ASR"},
    "en": {"order_placed": "Order {order_id}: your supplies are on their way",
           "order_shipped": "Order {order_id}: your parcel has shipped",
           "device_silent": "A printer has stopped communicating",
           "usage_spike": "A printer is printing much more than usual",
           "premature_replacement": "A cartridge was replaced too early",
           "cartridge_misrouted": "A cartridge was installed in another printer",
           DIGEST: "Your printers: {count} update(s) for {day}",
           "test": "ASR test message"},
}


def subject(lang: str, kind: str, items: Sequence[Item], day: date) -> str:
    """The Subject: words of ours, an order number and a date; never a printer string."""
    order_id = items[0].facts.get("order_id", "") if items else ""
    return _SUBJECTS[lang][kind].format(order_id=int(order_id) if order_id != "" else "",
                                        count=len(items), day=_day(day, lang))


def render_message(lang: str, contact_name: str, kind: str, items: Sequence[Item],
                   day: date) -> Rendered:
    """The message of `kind` (an event kind, 'digest' or 'test') carrying `items`."""
    context = {"lang": lang, "name": contact_name, "kind": kind, "items": items, "day": day}
    return Rendered(subject(lang, kind, items, day),
                    _TEXT.get_template("message.txt.j2").render(context),
                    _HTML.get_template("message.html.j2").render(context))


def render_packing_slip(lang: str, order: Mapping[str, Any], contact: Mapping[str, Any],
                        site_name: str) -> str:
    """The printable HTML slip packed in a parcel: each line with its printer's serial and
    location and the part number."""
    return _HTML.get_template("packing_slip.html.j2").render(
        lang=lang, order=order, contact=contact, site_name=site_name)
