"""The test responder itself: it serves a recording on loopback and refuses other hosts."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from asr_dev.snmpsim_process import SnmpSim

# A v2c GET of sysObjectID.0 for community "public", request id 1, BER-encoded by hand
# so this test does not depend on the agent's SNMP client.
GET_SYSOBJECTID = bytes.fromhex(
    "302602010104067075626c6963a019020101020100020100300e300c06082b06010201010200" "0500"
)


def test_responder_answers_on_loopback(tmp_path: Path, snmpsim, udp_port: int) -> None:
    (tmp_path / "public.snmprec").write_text(
        "1.3.6.1.2.1.1.1.0|4|Test printer\n1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.253.8.62.1.1\n"
    )
    snmpsim(tmp_path, [("127.0.0.1", udp_port)])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(GET_SYSOBJECTID, ("127.0.0.1", udp_port))
        answer, _ = s.recvfrom(4096)
    # The OID value 1.3.6.1.4.1.253.8.62.1.1 encodes as 2b 06 01 04 01 81 7d 08 3e 01 01.
    assert bytes.fromhex("2b0601040181 7d083e0101".replace(" ", "")) in answer


def test_responder_refuses_non_loopback(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="loopback"):
        SnmpSim(tmp_path, [("192.0.2.1", 161)])
