"""SMTP over TLS to a real aiosmtpd on loopback: STARTTLS with a login (the password a
secret that never prints), implicit TLS, and a certificate nobody vouched for refused."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from asr_core.secret import Secret
from asr_central.service.mail import smtp
from asr_central.service.mail.render import Item, render_message
from tests.support_mail import _Keeper, free_tcp_port
from tests.test_uplink import _self_signed

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
PASSWORD = "s3cret-smtp-password"


def _message(settings: smtp.SmtpSettings) -> Any:
    rendered = render_message("en", "Sam Ops", "test", [Item("test", {})], date(2026, 3, 2))
    return smtp.build_message(settings, "Sam Ops", "ops@leeds.example", rendered,
                              "<tls-test@dealer.example>", NOW, "en")


class _Server:
    def __init__(self, tmp_path: Path, *, implicit: bool) -> None:
        self.cert, key = _self_signed(tmp_path)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, key)
        self.keeper = _Keeper()
        self.logins: list[str] = []
        self.port = free_tcp_port()
        if implicit:
            self.controller = Controller(self.keeper, hostname="127.0.0.1", port=self.port,
                                         ssl_context=context)
        else:
            self.controller = Controller(self.keeper, hostname="127.0.0.1", port=self.port,
                                         tls_context=context, require_starttls=True,
                                         authenticator=self._check, auth_require_tls=True)

    def _check(self, server: Any, session: Any, envelope: Any, mechanism: str,
               data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password == PASSWORD.encode()
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)  # False: aiosmtpd answers 535 itself


@pytest.fixture
def starttls_server(tmp_path: Path) -> Iterator[_Server]:
    server = _Server(tmp_path, implicit=False)
    server.controller.start()
    yield server
    server.controller.stop()


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[_Server]:
    server = _Server(tmp_path, implicit=True)
    server.controller.start()
    yield server
    server.controller.stop()


def test_starttls_with_a_login_delivers_and_the_password_never_prints(
        starttls_server: _Server) -> None:
    settings = smtp.SmtpSettings(host="127.0.0.1", port=starttls_server.port,
                                 sender="asr@dealer.example", security="starttls",
                                 username="asr", password=Secret(PASSWORD),
                                 ca_file=starttls_server.cert, timeout_s=5)
    smtp.send(settings, _message(settings))
    assert starttls_server.logins == ["asr"]
    got, = starttls_server.keeper.messages
    assert got["Message-ID"] == "<tls-test@dealer.example>"
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings)


def test_a_wrong_password_is_kept_for_later_and_says_what_to_check(
        starttls_server: _Server) -> None:
    settings = smtp.SmtpSettings(host="127.0.0.1", port=starttls_server.port,
                                 sender="asr@dealer.example", username="asr",
                                 password=Secret("wrong"), ca_file=starttls_server.cert,
                                 timeout_s=5)
    with pytest.raises(smtp.TransientMailError, match="refused the SMTP credentials"):
        smtp.send(settings, _message(settings))
    assert starttls_server.keeper.messages == []


def test_implicit_tls_delivers(tls_server: _Server) -> None:
    settings = smtp.SmtpSettings(host="127.0.0.1", port=tls_server.port,
                                 sender="asr@dealer.example", security="tls",
                                 ca_file=tls_server.cert, timeout_s=5)
    smtp.send(settings, _message(settings))
    assert len(tls_server.keeper.messages) == 1


def test_a_certificate_nobody_vouched_for_is_refused(starttls_server: _Server) -> None:
    settings = smtp.SmtpSettings(host="127.0.0.1", port=starttls_server.port,
                                 sender="asr@dealer.example", username="asr",
                                 password=Secret(PASSWORD), timeout_s=5)
    with pytest.raises(smtp.TransientMailError, match="CERTIFICATE_VERIFY_FAILED"):
        smtp.send(settings, _message(settings))
    assert starttls_server.logins == [] and starttls_server.keeper.messages == []
