"""The status page beyond loopback: a password really checked (HTTP Basic, argon2) on every
request, over TLS on a real server, wrong ones logged with the client address and
throttled; the config takes the hash or env:VAR, never the password itself."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import logging
import ssl
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from asr_agent.app.config import load_config
from asr_core.errors import ConfigError
from asr_core.secret import Secret
from asr_agent.app.status.app import create_status_app
from asr_agent.app.status.password import FAILED_ATTEMPTS, guard_options, password_hash
from asr_agent.app.status.server import StatusServer
from tests.conftest import REPO
from tests.status_fixtures import StaticSource, sample_snapshot

pytestmark = pytest.mark.trust  # issue 14's attacks: `scripts/test -m trust` runs them all

PASSWORD = "correct horse battery staple"
ROUTES = [("GET", "/"), ("GET", "/api/status.json"), ("GET", "/healthz"), ("GET", "/metrics"),
          ("GET", "/devices/XRX-0001"), ("POST", "/actions/poll-now")]


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "asr-status-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@contextmanager
def remote_page(tmp_path: Path, source: StaticSource) -> Iterator[httpx.Client]:
    """The page as the daemon builds it for a remote bind, served with TLS on loopback."""
    cert, key = self_signed(tmp_path)
    options = guard_options(["0.0.0.0"], Secret(PASSWORD))  # what a remote bind gets; nothing binds it
    app = create_status_app(source, poll_now=source.poll_now, **options)
    server = StatusServer(app, ("127.0.0.1",), 0, tls_cert=str(cert), tls_key=str(key))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    try:
        assert server.urls[0].startswith("https://127.0.0.1:")
        with httpx.Client(base_url=server.urls[0], verify=ssl.create_default_context(cafile=str(cert))) as client:
            yield client
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_every_route_needs_the_password_and_the_right_one_opens_them(tmp_path: Path) -> None:
    source = StaticSource(sample_snapshot())
    with remote_page(tmp_path, source) as client:
        for method, path in ROUTES:
            answer = client.request(method, path)
            assert answer.status_code == 401, path
            assert answer.headers["www-authenticate"].startswith("Basic ")
            assert "XRX-0001" not in answer.text
        assert source.poll_requests == []
        auth = httpx.BasicAuth("anyone", PASSWORD)
        page = client.get("/", auth=auth)
        assert page.status_code == 200 and "XRX-0001" in page.text
        assert page.headers["x-frame-options"] == "DENY"
        for method, path in ROUTES[1:-1]:
            assert client.request(method, path, auth=auth).status_code in (200, 503), path
        # reached by its address, as a page beyond loopback is; still no foreign names
        assert client.get("/healthz", auth=auth, headers={"Host": "192.0.2.7:8765"}).status_code == 200
        assert client.get("/healthz", auth=auth, headers={"Host": "evil.example"}).status_code == 421


def test_wrong_passwords_are_logged_then_throttled_right_one_included(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    allowed = int(FAILED_ATTEMPTS.split("/")[0])
    with remote_page(tmp_path, StaticSource(sample_snapshot())) as client, \
            caplog.at_level(logging.WARNING, logger="asr.status"):
        for attempt in range(allowed):
            answer = client.get("/api/status.json", auth=httpx.BasicAuth("admin", f"guess-{attempt}"))
            assert answer.status_code == 401
        throttled = client.get("/api/status.json", auth=httpx.BasicAuth("admin", PASSWORD))
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1
        assert "XRX-0001" not in throttled.text
    wrong = [r.getMessage() for r in caplog.records if r.getMessage().startswith("status page: wrong password")]
    assert len(wrong) == allowed and all("127.0.0.1" in m for m in wrong)
    assert any("throttled" in r.getMessage() and "127.0.0.1" in r.getMessage() for r in caplog.records)
    assert not any(PASSWORD in r.getMessage() or "guess-" in r.getMessage() for r in caplog.records)


def test_a_garbled_authorization_header_is_refused_not_crashed(tmp_path: Path) -> None:
    with remote_page(tmp_path, StaticSource(sample_snapshot())) as client:
        for value in ("Basic", "Basic !!!", "Basic " + "QQ==", "Bearer " + PASSWORD, "Basic gA=="):
            assert client.get("/healthz", headers={"Authorization": value}).status_code == 401


def test_loopback_binds_get_no_password_and_remote_ones_only_a_hash() -> None:
    assert guard_options(["127.0.0.1", "::1"], Secret(PASSWORD)) == {}
    options = guard_options(["127.0.0.1", "192.0.2.1"], Secret(PASSWORD))
    assert options["password_hash"].startswith("$argon2id$") and PASSWORD not in str(options)
    assert PasswordHasher().verify(options["password_hash"], PASSWORD)
    existing = password_hash(PASSWORD)
    assert guard_options(["::"], Secret(existing))["password_hash"] == existing  # a hash is kept as is


def test_status_password_command_prints_a_hash_the_config_takes(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "asr_agent.cli", "status-password"], input=PASSWORD + "\n",
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    hashed = done.stdout.strip()
    assert PasswordHasher().verify(hashed, PASSWORD) and PASSWORD not in done.stdout
    config = tmp_path / "agent.yaml"
    config.write_text(textwrap.dedent(f"""\
        site: {{id: s1}}
        status_page:
          bind: ["::"]
          allow_remote: true
          tls_cert: cert.pem
          tls_key: key.pem
          password: '{hashed}'
        """))
    assert load_config(config, env={}).status_page.password.reveal() == hashed
    short = subprocess.run([sys.executable, "-m", "asr_agent.cli", "status-password"], input="short\n",
                           capture_output=True, text=True, cwd=REPO, timeout=60)
    assert short.returncode == 2 and "shorter than 12" in short.stderr


def test_a_plain_password_in_the_config_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(f"site: {{id: s1}}\nstatus_page:\n  password: {PASSWORD}\n")
    with pytest.raises(ConfigError) as info:
        load_config(config, env={})
    assert (info.value.line, info.value.key) == (3, "status_page.password")
    assert "status-password" in str(info.value) and PASSWORD not in str(info.value)
    config.write_text("site: {id: s1}\nstatus_page:\n  password: env:PAGE_PW\n")
    assert load_config(config, env={"PAGE_PW": PASSWORD}).status_page.password.reveal() == PASSWORD


def test_concurrent_guesses_get_no_more_tries_than_the_limit(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    allowed = int(FAILED_ATTEMPTS.split("/")[0])
    with remote_page(tmp_path, StaticSource(sample_snapshot())) as client:
        with ThreadPoolExecutor(max_workers=20) as pool:
            codes = list(pool.map(lambda i: client.get("/healthz", auth=httpx.BasicAuth("a", f"g{i}")).status_code,
                                  range(20)))
    assert codes.count(401) == allowed and codes.count(429) == 20 - allowed
