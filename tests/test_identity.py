"""One device-key rule (asr_agent.domain.identity): the key the daemon gives a reading is
the key the store files it under, for any serial a printer may send, and a printer without
a serial is never keyed by its address."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asr_agent.adapters.store import Store
from asr_agent.domain.identity import IDENTITY_PREFIX, device_key, hashed_identity, identified
from tests.test_store import XEROX, reading, toner

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
NO_SERIAL = replace(XEROX, serial=None)


def test_a_printer_without_a_serial_is_keyed_by_what_it_says_it_is_not_its_address(tmp_path: Path) -> None:
    with Store.in_dir(tmp_path) as store:
        store.record_reading(reading(T0, toner(2650), device=NO_SERIAL, host="127.0.0.5", port=16100))
        store.record_reading(reading(T0, toner(2600), device=NO_SERIAL, host="127.0.0.6", port=16100))
        keys = [d.serial for d in store.devices()]
    # The address moved (DHCP): still one printer, under the key the daemon gives it.
    assert keys == [hashed_identity(XEROX.sys_object_id, XEROX.sys_descr, None)]
    assert keys[0].startswith(IDENTITY_PREFIX)


def test_an_identity_from_discovery_wins_over_the_hash() -> None:
    assert device_key(NO_SERIAL, "h:from-discovery") == "h:from-discovery"
    assert device_key(XEROX, "h:from-discovery") == "XRX001"  # a serial always wins


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(serial=st.none() | st.text(max_size=40))
def test_the_daemon_s_key_is_the_store_s_key_for_any_serial(tmp_path_factory, serial: str | None) -> None:
    device = replace(XEROX, serial=serial)
    keyed = identified(reading(T0, toner(2650), device=device))
    assert keyed.device.serial == device_key(device)
    assert identified(keyed) == keyed  # keying twice changes nothing
    with Store.in_dir(tmp_path_factory.mktemp("store")) as store:
        store.record_reading(keyed)
        assert [d.serial for d in store.devices()] == [keyed.device.serial]
