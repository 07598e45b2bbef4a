"""`asr-agent discover` with its defaults, measured from the wire: packets/s and requests in flight.

A silent UDP listener counts every request the command sends to a loopback range, with
the kernel's receive timestamps. Nothing answers, so a request is in flight from its send
until its timeout: the requests received in any one timeout are the requests in flight.
"""

from __future__ import annotations

import bisect
import collections
import ipaddress
import socket
import struct
import subprocess
import sys
import threading
import time

from asr_agent.adapters.snmp.sweep import (
    DEFAULT_RATE,
    LOOPBACK_RATE,
    MAX_WINDOW,
    UNLIMITED_WINDOW,
    in_flight_window,
)
from asr_agent.app.discovery import default_rate, plan_targets
from tests.conftest import REPO, free_port

_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
_IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)


class WireCounter:
    """Receives (and never answers) every UDP datagram to one port on any 127.x address.

    Bound to the wildcard address because a sweep asks thousands of loopback addresses;
    it only ever receives.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, 64 << 20)
        except OSError:  # not root: the kernel's rmem_max is the ceiling
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        self.sock.setsockopt(socket.IPPROTO_IP, _IP_PKTINFO, 1)  # which address was asked
        self.sock.bind(("0.0.0.0", self.port))
        self.sock.settimeout(0.2)
        self.stamps: list[float] = []
        self.asked: collections.Counter[str] = collections.Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                _, ancillary, _, _ = self.sock.recvmsg(
                    2048, socket.CMSG_SPACE(16) + socket.CMSG_SPACE(12))
            except TimeoutError:
                continue
            for level, kind, data in ancillary:
                if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                    seconds, nanos = struct.unpack("qq", data[:16])
                    self.stamps.append(seconds + nanos / 1e9)
                elif level == socket.IPPROTO_IP and kind == _IP_PKTINFO:
                    self.asked[socket.inet_ntoa(data[8:12])] += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()

    def most_within(self, span: float) -> int:
        """The most datagrams received within any `span` seconds."""
        stamps = sorted(self.stamps)
        return max((bisect.bisect_right(stamps, t + span) - i for i, t in enumerate(stamps)),
                   default=0)


def test_the_default_rate_is_polite_on_a_network_and_fast_on_loopback() -> None:
    assert default_rate(plan_targets(["192.0.2.0/24"])) == DEFAULT_RATE == 200
    assert default_rate(plan_targets(["127.0.0.0/16", "::1"])) == LOOPBACK_RATE
    # One routed address in the mix and the whole sweep goes at the polite rate.
    assert default_rate(plan_targets(["127.0.0.0/16", "198.51.100.7"])) == DEFAULT_RATE
    assert default_rate(plan_targets([])) == DEFAULT_RATE


def test_the_window_is_rate_times_timeout_and_bounded() -> None:
    assert in_flight_window(200, 1.0) == 230  # 220 + a 10-packet burst
    assert in_flight_window(LOOPBACK_RATE, 1.0) == 46_000
    assert in_flight_window(1, 0.1) == 16
    assert in_flight_window(100_000, 30) == MAX_WINDOW
    assert in_flight_window(0, 1.0) == UNLIMITED_WINDOW


def test_the_cli_defaults_keep_the_rate_and_rate_times_timeout_in_flight() -> None:
    timeout = 0.25
    net = ipaddress.ip_network("127.23.0.0/18")
    addresses = net.num_addresses - 2
    counter = WireCounter()
    try:
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "asr_agent.cli", "discover", str(net), "--port",
             str(counter.port), "--timeout", str(timeout), "--loopback-only"],
            capture_output=True, text=True, cwd=REPO, timeout=120)
        elapsed = time.monotonic() - started
        time.sleep(0.2)  # the last datagrams reach the counter's thread
    finally:
        counter.close()
    assert proc.returncode == 0, proc.stderr
    assert f"0 printer(s), 0 other SNMP device(s), {addresses} silent" in proc.stdout
    # The default retry: every address asked twice, none missed, nothing else touched.
    assert len(counter.stamps) == 2 * addresses
    assert counter.asked == {str(a): 2 for a in net.hosts()}
    burst = LOOPBACK_RATE / 20
    # Never above the rate: no 100 ms holds more than 100 ms of rate plus one burst.
    assert counter.most_within(0.1) <= LOOPBACK_RATE * 0.1 + burst + 100
    # At most rate x timeout (+ burst, + 10 %) in flight.
    assert counter.most_within(timeout) <= LOOPBACK_RATE * timeout * 1.1 + burst
    # And the loopback rate is used, not the network one: 32,764 packets at 200/s would
    # take 164 s; at 40,000/s they take about one second plus two timeouts.
    # (Bounds loose enough for a loaded machine, far from what 200/s could do.)
    assert elapsed < 20, f"{elapsed:.1f} s"
    assert counter.most_within(0.1) >= DEFAULT_RATE * 0.1 * 10


def test_an_explicit_rate_is_kept_on_loopback_too() -> None:
    rate, timeout = 2000.0, 0.5
    net = ipaddress.ip_network("127.24.0.0/22")
    counter = WireCounter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "asr_agent.cli", "discover", str(net), "--port",
             str(counter.port), "--timeout", str(timeout), "--retries", "0", "--rate",
             str(rate), "--loopback-only"],
            capture_output=True, text=True, cwd=REPO, timeout=60)
        time.sleep(0.2)
    finally:
        counter.close()
    assert proc.returncode == 0, proc.stderr
    assert counter.asked == {str(a): 1 for a in net.hosts()}
    burst = rate / 20
    assert counter.most_within(0.5) <= rate * 0.5 + burst + 5
    assert counter.most_within(timeout) <= rate * timeout * 1.1 + burst
