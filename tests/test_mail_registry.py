"""The registry's mail settings: a contact's language, opt-out and time zone and a printer's
location, read from YAML strictly and stored (migrations 090 and 140)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asr_core.errors import ConfigError
from asr_central.storage import registry
from asr_central.storage.base import Database
from tests.support_mail import mail_db  # noqa: F401

NOW = datetime(2026, 3, 2, tzinfo=UTC)

DOC = """
contacts:
  - {id: ops, name: Sam Ops, email: ops@x.example, language: en, mail_opt_out: true,
     time_zone: America/Los_Angeles}
  - {id: claire, name: Claire, email: claire@x.example}
sites:
  - {id: hq, contact: ops}
devices:
  - {serial: XRX-1, site: hq, location: "Hall B, 1st floor"}
"""


def test_language_opt_out_and_location_are_read_and_stored(mail_db: Database) -> None:  # noqa: F811
    doc = registry.parse_registry_yaml(DOC)
    with mail_db.transaction() as conn:
        registry.save_document(conn, doc, NOW)
    conn = mail_db.connection()
    ops, claire = registry.get_contact(conn, "ops"), registry.get_contact(conn, "claire")
    assert ops is not None and (ops.language, ops.mail_opt_out, ops.time_zone) == (
        "en", True, "America/Los_Angeles")
    # French, the leaflet's language, mail on and central's clock, unless the registry says
    # otherwise
    assert claire is not None and (claire.language, claire.mail_opt_out, claire.time_zone) == (
        "fr", False, None)
    device = registry.get_device(conn, "XRX-1")
    assert device is not None and device.location == "Hall B, 1st floor"


@pytest.mark.parametrize(("entry", "message"), [
    ("language: de", "contacts[0].language: 'de': expected one of fr, en"),
    ("mail_opt_out: 'yes'", "contacts[0].mail_opt_out: expected bool, got str 'yes'"),
    ("mail_opt_out: 1", "contacts[0].mail_opt_out: expected bool, got int 1"),
    ("time_zone: Europe/Lyon", "contacts[0].time_zone: 'Europe/Lyon' is not a time zone: "
                               "write an IANA name such as Europe/Paris, America/New_York or UTC"),
    ("time_zone: Europe", "contacts[0].time_zone: 'Europe' is not a time zone: write an IANA "
                          "name such as Europe/Paris, America/New_York or UTC"),
    ("time_zone: ../../etc/passwd", "contacts[0].time_zone: '../../etc/passwd' is not a time "
                                    "zone: write an IANA name such as Europe/Paris, "
                                    "America/New_York or UTC"),
    ("time_zone: 2", "contacts[0].time_zone: expected str, got int 2"),
])
def test_a_wrong_mail_setting_names_line_and_key(entry: str, message: str) -> None:
    text = f"contacts:\n  - {{id: a, name: A, email: a@x.example, {entry}}}\n"
    with pytest.raises(ConfigError) as caught:
        registry.parse_registry_yaml(text)
    assert str(caught.value) == f"<registry>:2: {message}"


def test_a_boolean_is_still_refused_where_a_number_or_text_is_expected() -> None:
    with pytest.raises(ConfigError, match=r"devices\[0\].location: expected str, got bool"):
        registry.parse_registry_yaml(
            "sites:\n  - {id: hq}\ndevices:\n  - {serial: X, site: hq, location: true}\n")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_any_text_as_a_time_zone_is_a_zone_or_an_error_naming_its_key(zone: str) -> None:
    """Hostile text (paths, NUL, lone surrogates, very long names) never reaches the zone
    database as a file name it could escape with, nor fails with anything but the key's
    error."""
    import json

    text = ("contacts:\n  - {id: a, name: A, email: a@x.example, time_zone: "
            + json.dumps(zone) + "}\n")  # a JSON string is a YAML string, escapes and all
    try:
        doc = registry.parse_registry_yaml(text)
    except ConfigError as exc:
        assert str(exc).startswith("<registry>:2: contacts[0].time_zone: ")
        return
    from zoneinfo import ZoneInfo

    assert doc.contacts[0].time_zone == zone
    ZoneInfo(zone)  # accepted only if it names a zone
