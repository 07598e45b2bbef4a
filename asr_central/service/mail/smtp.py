"""The one SMTP client: settings (STARTTLS or implicit TLS, credentials as secrets), the
message built by the standard library's `email` package, and the mail server's answers
sorted into 'try again later' and 'never'.

Headers hold only our words, an order number, the contact's address and a derived
Message-ID: no printer string. The `email` package refuses a CR or LF in a header value,
and a contact name is cleaned to one line before it becomes a display name.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from asr_core.errors import AsrError, ConfigError
from asr_core.secret import Secret
from asr_central import __version__
from asr_central.service.mail.render import Rendered, clean

__all__ = ["SECURITY", "MailError", "PermanentMailError", "ServerUnreachable", "SmtpSettings",
           "TransientMailError", "build_message", "send"]

SECURITY = ("starttls", "tls", "none")


class MailError(AsrError):
    """A message the mail server did not take."""


class TransientMailError(MailError):
    """Worth trying again later: the server is down, busy, or answered 4xx."""


class ServerUnreachable(TransientMailError):
    """No conversation with the server at all: the next messages would fare no better."""


class PermanentMailError(MailError):
    """Never worth trying again as it is: the server refused it for good (5xx), or the
    address cannot be written."""


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    sender: str                           # the From address
    port: int = 587
    security: str = "starttls"            # starttls | tls (implicit, port 465) | none
    username: str | None = None
    password: Secret | None = field(default=None, repr=False)
    timeout_s: float = 30.0
    ca_file: Path | None = None           # a private CA for the mail server's certificate

    def __post_init__(self) -> None:
        if self.security not in SECURITY:
            raise ConfigError(f"{self.security!r}: expected one of {', '.join(SECURITY)}",
                              key="--smtp-security")
        if self.security == "none" and not _loopback(self.host):
            # credentials and customer data never cross a network in clear
            raise ConfigError(f"SMTP without TLS is allowed on loopback only, not {self.host}; "
                              "use --smtp-security starttls or tls", key="--smtp-security")
        if not 0 < self.port < 65536:
            raise ConfigError(f"port {self.port} is out of range 1-65535", key="--smtp-port")
        if "@" not in self.sender or any(c in self.sender for c in "\r\n<>\" "):
            raise ConfigError(f"{self.sender!r} is not an e-mail address", key="--mail-from")
        if (self.username is None) != (self.password is None):
            raise ConfigError("give both an SMTP user and its password, or neither",
                              key="--smtp-user")

    @property
    def domain(self) -> str:
        """The right-hand side of our Message-IDs: the sender's domain."""
        return self.sender.rpartition("@")[2]


def build_message(settings: SmtpSettings, to_name: str, to_address: str, rendered: Rendered,
                  message_id: str, now: datetime, language: str) -> EmailMessage:
    """The MIME message: a text part and its HTML alternative."""
    msg = EmailMessage()
    try:
        msg["From"] = Address("ASR", addr_spec=settings.sender)
        msg["To"] = Address(clean(to_name), addr_spec=to_address.strip())
    except (ValueError, IndexError) as exc:  # the email package's verdict on an address
        raise PermanentMailError(f"cannot address a message to {to_address!r}: {exc}; fix the "
                                 "contact's e-mail in the registry") from None
    msg["Subject"] = clean(rendered.subject)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to us
    msg["X-Mailer"] = f"asr-central/{__version__}"
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    msg["Content-Language"] = language  # after: making the alternative moves Content-* down
    return msg


def _context(settings: SmtpSettings) -> ssl.SSLContext:
    return ssl.create_default_context(
        cafile=str(settings.ca_file) if settings.ca_file is not None else None)


def send(settings: SmtpSettings, msg: EmailMessage) -> None:
    """Hand `msg` to the mail server; raises TransientMailError or PermanentMailError."""
    where = f"{settings.host}:{settings.port}"
    try:
        client: smtplib.SMTP
        if settings.security == "tls":
            client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout_s,
                                      context=_context(settings))
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s)
        with client:
            if settings.security == "starttls":
                client.starttls(context=_context(settings))
            if settings.username is not None and settings.password is not None:
                client.login(settings.username, settings.password.reveal())
            client.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = {code for code, _ in exc.recipients.values()}
        kind = PermanentMailError if all(500 <= c < 600 for c in codes) else TransientMailError
        raise kind(f"{where} refused the recipient: {exc.recipients}") from None
    except smtplib.SMTPAuthenticationError as exc:
        # a configuration fault: kept queued (and retried) until the dealer fixes it
        raise TransientMailError(f"{where} refused the SMTP credentials ({exc.smtp_code}); "
                                 "check --smtp-user and its password") from None
    except smtplib.SMTPResponseException as exc:
        kind = PermanentMailError if 500 <= exc.smtp_code < 600 else TransientMailError
        raise kind(f"{where} answered {exc.smtp_code}: {exc.smtp_error!r}") from None
    except (OSError, smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected) as exc:
        raise ServerUnreachable(f"cannot reach the mail server {where}: "
                                f"{exc or type(exc).__name__}") from None
    except smtplib.SMTPException as exc:
        raise TransientMailError(f"cannot reach the mail server {where}: "
                                 f"{exc or type(exc).__name__}") from None
