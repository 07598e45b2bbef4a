"""`asr-agent poll` as a user runs it: JSON shape, the table, and one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from asr_agent.cli import main
from asr_agent.app.commands.poll import parse_target
from asr_core.errors import ConfigError
from asr_dev.snmpsim_process import SnmpSim, SnmpSimUnavailable, V3User
from conftest import REPO, free_port, require

SIMULATED = REPO / "asr_dev" / "data" / "simulated"
RECORDINGS = Path(__file__).parent / "recordings"
USER = V3User(user="asr", auth_key="auth-key-123", priv_key="priv-key-456")

NULLABLE_STR = {"type": ["string", "null"]}
NULLABLE_INT = {"type": ["integer", "null"]}
# The shape promised for `poll --json` (more keys are allowed).
SCHEMA = {
    "type": "object",
    "required": ["host", "port", "vendor", "asr_compatible", "model", "serial", "sys_object_id",
                 "page_count", "supplies"],
    "properties": {
        "host": {"type": "string"}, "port": {"type": "integer"}, "vendor": NULLABLE_STR,
        "asr_compatible": {"type": "boolean"}, "model": NULLABLE_STR, "serial": NULLABLE_STR,
        "sys_object_id": {"type": "string"}, "page_count": NULLABLE_INT,
        "supplies": {"type": "array", "items": {
            "type": "object",
            "required": ["index", "description", "type", "supply_class", "color", "unit", "max_capacity",
                         "level", "remaining_percent", "level_state", "part_number", "cartridge_serial"],
            "properties": {
                "index": {"type": "integer"}, "description": {"type": "string"},
                "type": {"type": "string"},
                "supply_class": {"enum": ["consumed", "receptacle", "other"]},
                "color": NULLABLE_STR, "unit": NULLABLE_STR, "max_capacity": NULLABLE_INT,
                "level": NULLABLE_INT,
                "remaining_percent": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
                "level_state": {"enum": ["ok", "some_remaining", "unknown", "unlimited"]},
                "part_number": NULLABLE_STR, "cartridge_serial": NULLABLE_STR,
            },
        }},
    },
}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The bundled demo printers (community = file name) on 127.0.0.1 and ::1, same port."""
    data = tmp_path_factory.mktemp("fleet")
    for recording in SIMULATED.glob("*.snmprec"):
        shutil.copy(recording, data / recording.name)
    shutil.copy(RECORDINGS / "not_a_printer.snmprec", data / "server.snmprec")
    port = free_port()
    sim = SnmpSim(data, [("127.0.0.1", port), ("::1", port)], v3_user=USER)
    try:
        sim.start()
    except SnmpSimUnavailable as exc:
        require(False, str(exc))
    yield port
    sim.stop()


def poll(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["poll", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_for_the_bundled_xerox_mfp(fleet: int, capsys) -> None:
    code, out, _ = poll(capsys, f"127.0.0.1:{fleet}", "--community", "xerox_altalink_c8135", "--json")
    assert code == 0
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMA)
    assert (doc["vendor"], doc["asr_compatible"], doc["serial"], doc["page_count"]) == ("xerox", True, "XRX9000123", 391842)
    black = doc["supplies"][0]
    assert black == {**black, "description": "Black Toner", "type": "toner", "color": "black",
                     "unit": "tenths_of_grams", "max_capacity": 5300, "level": 3180,
                     "remaining_percent": 60.0, "part_number": "006R01746",
                     "cartridge_serial": "5A1F3C80E0000501"}
    waste = next(s for s in doc["supplies"] if s["type"] == "waste_toner")
    assert (waste["supply_class"], waste["remaining_percent"]) == ("receptacle", 62.0)


def test_ipv6_target_and_v3_with_context(fleet: int, capsys) -> None:
    code, out, _ = poll(capsys, f"[::1]:{fleet}", "--v3-user", USER.user, "--auth-key", USER.auth_key,
                        "--priv-key", USER.priv_key, "--context", "fujifilm_apeos_c5570", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["host"] == "::1" and doc["vendor"] == "fujifilm"
    assert [s["index"] for s in doc["supplies"]] == [2, 3, 4, 5, 6, 30, 31]


def test_table_for_a_mono_printer_says_monitored_only(fleet: int, capsys) -> None:
    code, out, _ = poll(capsys, f"127.0.0.1:{fleet}", "--community", "hp_laserjet_m507")
    assert code == 0
    assert "monitored only" in out and "Black Cartridge HP W1480A" in out and "37%" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["--community", "wrong", "--timeout", "0.3", "--retries", "0"], "no answer to SNMPv2c community"),
    (["--v3-user", "asr", "--auth-key", "bad-auth-key", "--priv-key", USER.priv_key,
      "--context", "hp_laserjet_m507"], "refused SNMPv3 user 'asr'"),
    (["--community", "server"], "no Printer-MIB supplies table"),
])
def test_failures_are_one_line_and_exit_non_zero(fleet: int, capsys, argv, message) -> None:
    code, out, err = poll(capsys, f"127.0.0.1:{fleet}", *argv)
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and message in err and err.startswith("asr-agent poll: error:")
    assert "bad-auth-key" not in err


def test_console_script_exits_non_zero_for_a_silent_host(fleet: int) -> None:
    script = Path(sys.executable).with_name("asr-agent")
    silent = free_port()
    result = subprocess.run([str(script), "poll", f"127.0.0.1:{silent}", "--timeout", "0.3", "--retries", "0"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and f"127.0.0.1:{silent}: no answer" in result.stderr


def test_target_forms() -> None:
    assert parse_target("10.0.0.5") == ("10.0.0.5", 161)
    assert parse_target("printer.local:1161") == ("printer.local", 1161)
    assert parse_target("[::1]:16100") == ("::1", 16100)
    assert parse_target("::1") == ("::1", 161)
    for bad in ("[::1", "host:0", "host:x", ":161"):
        with pytest.raises(ConfigError):
            parse_target(bad)
