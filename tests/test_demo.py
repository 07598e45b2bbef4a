"""`asr-agent demo`, the README's main job: within a couple of minutes the status page
lists the simulated printers and central places one consolidated order for the site."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import REPO, free_port


@pytest.mark.slow
def test_demo_shows_printers_and_places_a_consolidated_order() -> None:
    port = free_port(kind=socket.SOCK_STREAM)
    demo = subprocess.Popen(
        [sys.executable, "-m", "asr_agent.cli", "demo", "--minutes", "1.5", "--port", str(port), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
        env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        assert demo.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            lines.append(line)
            if line.strip().startswith("status"):
                break
        assert f"http://127.0.0.1:{port}/" in "".join(lines), "".join(lines)
        _sign_in_to_the_console(lines)
        time.sleep(15)
        status = httpx.get(f"http://127.0.0.1:{port}/api/status.json", timeout=10).json()
        out, _ = demo.communicate(timeout=180)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 0, out
    assert {d["serial"] for d in status["devices"]} == {"XRX-DEMO-001", "XRX-DEMO-002", "FF-DEMO-003", "HP-DEMO-004"}
    orders = json.loads(out[out.index("\n[", out.index("Demo stopped")) + 1:])
    assert orders, out
    consolidated = [o for o in orders if len({line["device_serial"] for line in o["lines"]}) >= 2]
    assert consolidated, orders
    assert all(o["site_id"] == "demo-hq" and o["contact_id"] == "facilities" for o in orders)
    # The HP is monitored only: never ordered for.
    assert not [line for o in orders for line in o["lines"] if line["device_serial"] == "HP-DEMO-004"]


def _sign_in_to_the_console(lines: list[str]) -> None:
    """The operator sign-in the demo prints opens its console."""
    printed = next((line for line in lines if line.strip().startswith("console")), "")
    found = re.search(r"(http://127\.0\.0\.1:\d+/console/)\s+\(sign in as (\S+) / (\S+)\)",
                      printed)
    assert found, "".join(lines)
    url, username, password = found.groups()
    with httpx.Client(trust_env=False, timeout=10) as client:
        form = client.get(url + "sign-in")
        token = re.search(r'name="form_token" value="([^"]+)"', form.text)
        assert token, form.text
        signed = client.post(url + "sign-in", data={"username": username, "password": password,
                                                    "form_token": token[1]})
        assert signed.status_code == 303, signed.text
        assert client.get(url + "orders").status_code == 200
