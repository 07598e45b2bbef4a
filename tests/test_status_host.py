"""The status page's Host and Origin rule, strictly: only exact loopback names and addresses,
with at most a valid port, pass; checked as a pure function and through the real server."""

from __future__ import annotations

import ipaddress
import re

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asr_agent.app.status.security import LOOPBACK_NAMES, is_loopback_host, is_loopback_origin, parse_host
from tests.status_fixtures import StaticSource, running_status_server, sample_snapshot

pytestmark = pytest.mark.trust  # issue 14's attacks: `scripts/test -m trust` runs them all

_PORT = r"(?::(?P<port>[0-9]{1,5}))?"


def spec_accepts(header: str) -> bool:
    """The rule as the specification states it, written apart from the code under test."""
    if not header.isascii():
        return False
    h = header.lower()
    m = re.fullmatch(r"\[(?P<v6>[^\]]*)\]" + _PORT, h) or re.fullmatch(r"(?P<name>[^:\[\]]*)" + _PORT, h)
    if m is None or (m["port"] is not None and not 1 <= int(m["port"]) <= 65535):
        return False
    if m.groupdict().get("v6") is not None:
        try:
            return ipaddress.IPv6Address(m["v6"]) == ipaddress.IPv6Address("::1")
        except ValueError:
            return False
    name = m["name"]
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.IPv4Address(name).is_loopback
    except ValueError:
        return False


LOOPBACK = st.one_of(
    st.sampled_from(sorted(LOOPBACK_NAMES)).flatmap(
        lambda n: st.lists(st.booleans(), min_size=len(n), max_size=len(n)).map(
            lambda up: "".join(c.upper() if u else c for c, u in zip(n, up, strict=True)))),
    st.integers(0x7F000000, 0x7FFFFFFF).map(lambda i: str(ipaddress.IPv4Address(i))),
    st.sampled_from(["[::1]", "[0:0:0:0:0:0:0:1]", "[::0:1]", "[0000::1]"]),
)
PORT = st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}"))
# What an attacker puts after a real loopback host: anything but a valid `:port`.
SUFFIX = st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x00"), min_size=1, max_size=20).filter(
    lambda s: re.fullmatch(r":[0-9]{1,5}", s) is None or not 1 <= int(s[1:]) <= 65535)
HEADER_TEXT = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40)


@pytest.mark.parametrize("header", ["[::1]evil.example", "[::1].evil.example:80", "[::1]:80evil",
                                    "[::1]:", "localhost:", "localhost:0", "localhost:65536",
                                    "127.0.0.1:80:80", "::1", "[::1%25lo]", "localhost.", " localhost",
                                    "127.0.0.1/x", "127.000.0.1", "0x7f.1", "[::ffff:127.0.0.1]"])
def test_near_loopback_hosts_are_refused(header: str) -> None:
    assert not is_loopback_host(header)
    assert not is_loopback_origin(f"http://{header}")


def test_parse_host_reads_brackets_and_ports() -> None:
    assert parse_host("[::1]:8765") == ("::1", 8765)
    assert parse_host("[0:0::1]") == ("::1", None)
    assert parse_host("LocalHost:1") == ("localhost", 1)
    assert parse_host("[::1]evil.example") is None


@given(host=LOOPBACK, port=PORT)
def test_every_loopback_form_passes(host: str, port: str) -> None:
    assert is_loopback_host(host + port)
    assert is_loopback_origin(f"http://{host}{port}") and is_loopback_origin(f"HTTPS://{host}{port}")


@given(host=LOOPBACK, port=PORT, suffix=SUFFIX)
def test_anything_after_a_loopback_host_is_refused(host: str, port: str, suffix: str) -> None:
    header = host + port + suffix
    assert is_loopback_host(header) is spec_accepts(header)
    assert not is_loopback_host(header) or re.fullmatch(r"[0-9]*", suffix)  # only more port digits


@settings(max_examples=500)
@given(header=st.one_of(st.text(max_size=40), HEADER_TEXT))
def test_any_host_passes_only_as_the_specification_says(header: str) -> None:
    assert is_loopback_host(header) is spec_accepts(header)


@given(origin=st.text(max_size=40))
def test_an_origin_needs_an_http_scheme_and_a_loopback_host(origin: str) -> None:
    scheme, sep, host = origin.partition("://")
    expected = sep == "://" and scheme.lower() in ("http", "https") and spec_accepts(host)
    assert is_loopback_origin(origin) is expected


def test_hosts_and_origins_through_the_real_server() -> None:
    source = StaticSource(sample_snapshot())
    with running_status_server(source) as server, httpx.Client(base_url=server.urls[0]) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text).group(1)

        @settings(max_examples=150, deadline=None)
        @given(header=st.one_of(HEADER_TEXT, st.builds(str.__add__, LOOPBACK, PORT),
                                st.builds(lambda h, p, s: h + p + s, LOOPBACK, PORT,
                                          SUFFIX.filter(lambda s: s.isprintable() and s.isascii()
                                                        and " " not in s))))
        def host_rule(header: str) -> None:
            answer = client.get("/api/status.json", headers={"Host": header})
            if spec_accepts(header):
                assert answer.status_code == 200 and "XRX-0001" in answer.text
            else:
                assert answer.status_code in (400, 421), header  # 400: refused by the HTTP parser
                assert "XRX-0001" not in answer.text

        host_rule()

        for origin, allowed in [("http://[::1]evil.example", False), ("http://[::1].evil.example:80", False),
                                ("null", False), ("localhost", False), ("http://localhost:8765", True)]:
            before = len(source.poll_requests)
            answer = client.post("/actions/poll-now", data={"csrf_token": token}, headers={"Origin": origin})
            assert (answer.status_code == 303) is allowed, origin
            assert len(source.poll_requests) - before == int(allowed)
