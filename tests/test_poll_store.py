"""`asr-agent poll --store` records a reading where `asr-agent status` finds it: the whole
read → store → consumption path by hand, against a real SNMP responder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from asr_agent.cli import main
from asr_dev.simulated_printers import recording


def test_poll_store_then_status_shows_the_printer(tmp_path: Path, snmpsim, udp_port: int, capsys) -> None:
    data = tmp_path / "printer"
    data.mkdir()
    (data / "public.snmprec").write_text(recording("xerox_altalink_c8135"))
    snmpsim(data, [("127.0.0.1", udp_port)])
    store_dir = tmp_path / "agent-data"
    for _ in range(2):
        assert main(["poll", f"127.0.0.1:{udp_port}", "--store", "--data-dir", str(store_dir)]) == 0
    err = capsys.readouterr().err
    assert f"recorded in {store_dir}" in err

    assert main(["status", "--data-dir", str(store_dir), "--json"]) == 0
    devices = json.loads(capsys.readouterr().out)
    assert [d["serial"] for d in devices] == ["XRX9000123"]
    black = next(s for s in devices[0]["supplies"] if s["index"] == 1)
    assert black["color"] == "black" and black["remaining_percent"] is not None
    assert black["forecast_status"] == "warming_up"  # two readings seconds apart: no forecast yet
    shutil.rmtree(store_dir)
