"""The registry's mail settings: a contact's language and opt-out and a printer's location,
read from YAML strictly and stored (migration 090)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from asr_core.errors import ConfigError
from asr_central.storage import registry
from asr_central.storage.base import Database
from tests.support_mail import mail_db  # noqa: F401

NOW = datetime(2026, 3, 2, tzinfo=UTC)

DOC = """
contacts:
  - {id: ops, name: Sam Ops, email: ops@x.example, language: en, mail_opt_out: true}
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
    assert ops is not None and (ops.language, ops.mail_opt_out) == ("en", True)
    # French, the leaflet's language, and mail on, unless the registry says otherwise
    assert claire is not None and (claire.language, claire.mail_opt_out) == ("fr", False)
    device = registry.get_device(conn, "XRX-1")
    assert device is not None and device.location == "Hall B, 1st floor"


@pytest.mark.parametrize(("entry", "message"), [
    ("language: de", "contacts[0].language: 'de': expected one of fr, en"),
    ("mail_opt_out: 'yes'", "contacts[0].mail_opt_out: expected bool, got str 'yes'"),
    ("mail_opt_out: 1", "contacts[0].mail_opt_out: expected bool, got int 1"),
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
