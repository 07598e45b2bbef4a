"""The mail job configured by central's config file (`mail:`): `serve` from the file alone
mails the contacts through a real aiosmtpd on loopback, as one process and as workers;
`mail test --config`; the SMTP flags override their keys; a bad kind, plain SMTP off
loopback or a password written in the file refused by file:line:key; the password never
shown."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, time as time_of_day
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from support_central_process import CentralProcess

from asr_core.errors import ConfigError
from asr_core.secret import Secret
from asr_central.cli import build_parser, main
from asr_central.commands.config_flags import settings_from_args
from asr_central.config import CentralSettings, load_settings
from asr_central.domain.mail import MailKind
from asr_central.storage import open_database
from tests.support_mail import SmtpSink, seed, smtp_sink  # noqa: F401
from tests.test_mail_tls import PASSWORD, _Server, starttls_server  # noqa: F401

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str, name: str = "central.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def seeded_db(tmp_path: Path) -> Path:
    """A SQLite central holding an order placed and one shipped, and alerts, as of now."""
    path = tmp_path / "central.db"
    db = open_database(f"sqlite:///{path}")
    try:
        seed(db, datetime.now(UTC))
    finally:
        db.close()
    return path


def mail_section(port: int, **extra: str) -> str:
    lines = {"host": "127.0.0.1", "port": str(port), "security": "none",
             "from_address": "asr@dealer.example", **extra}
    return "mail:\n" + "".join(f"  {k}: {v}\n" for k, v in lines.items())


# --- serve ----------------------------------------------------------------------------------

@pytest.mark.parametrize("workers", [1, 2])
def test_serve_with_a_mail_section_mails_the_contacts_through_the_mail_server(
        tmp_path: Path, smtp_sink: SmtpSink, workers: int) -> None:  # noqa: F811
    """The file alone names the mail server; as workers, each rebuilt from the encoded
    arguments reads it again, and the leader alone delivers: each message goes out once
    (every worker ran the job before, and two of them sent the same message)."""
    db_path = seeded_db(tmp_path)
    # order_shipped alone at once: the alerts seeded may be settled by the policy run at
    # start before the job sees them, and the rest waits for tomorrow's digest
    config = write(tmp_path, mail_section(smtp_sink.port, immediate="[order_shipped]",
                                          interval_s="0.2"))
    server = CentralProcess(db_path, workers=workers, extra_args=("--config", str(config)))
    server.start()
    try:
        deadline = time.monotonic() + 30
        while not smtp_sink.messages:
            assert time.monotonic() < deadline, server.log_path.read_text(errors="replace")
            time.sleep(0.05)
        time.sleep(1.0)  # several runs of the job later: nothing sent twice
        got, = smtp_sink.messages
        assert str(got["Subject"]) == "Order 2: your parcel has shipped"
        assert (str(got["From"]), str(got["To"])) == ("ASR <asr@dealer.example>",
                                                      "Sam Ops <ops@leeds.example>")
    finally:
        server.stop()


def test_the_smtp_flags_override_their_keys_of_the_mail_section(tmp_path: Path) -> None:
    config = write(tmp_path, mail_section(2525, immediate="[device_silent]",
                                          digest_at='"07:15"', time_zone="Europe/Paris"))
    args = build_parser().parse_args([
        "serve", "--config", str(config), "--smtp-port", "2526",
        "--mail-immediate", "order_placed, order_shipped", "--mail-interval", "5"])
    s = settings_from_args(args)
    mail = s.mail_settings()
    assert mail.time_zone == ZoneInfo("Europe/Paris")
    moved = settings_from_args(build_parser().parse_args(
        ["serve", "--config", str(config), "--mail-time-zone", "Asia/Tokyo"]))
    assert moved.mail_settings().time_zone == ZoneInfo("Asia/Tokyo")
    assert (mail.smtp.host, mail.smtp.port, mail.smtp.security) == ("127.0.0.1", 2526, "none")
    assert mail.immediate == {MailKind.ORDER_PLACED, MailKind.ORDER_SHIPPED}
    assert mail.digest_at == time_of_day(7, 15) and s.mail.interval_s == 5
    # the file's plain SMTP and the flag's host do not go together: said at the file's key
    with pytest.raises(ConfigError, match=rf"^{config}:4: mail.security: SMTP without TLS is "
                                          r"allowed on loopback only, not smtp\.dealer\.example"):
        settings_from_args(build_parser().parse_args(
            ["serve", "--config", str(config), "--smtp-host", "smtp.dealer.example"]))


def test_without_a_mail_section_no_mail_job_and_the_defaults_are_the_flags_old_ones() -> None:
    s = CentralSettings()
    assert s.mail_settings() is None
    m = s.mail
    assert (m.security, m.timeout_s, m.immediate, m.digest_at, m.interval_s) == (
        "starttls", 30.0, (), time_of_day(6, 0), 60.0)
    tls = CentralSettings.model_validate({"mail": {"host": "smtp.dealer.example",
                                                   "from_address": "asr@dealer.example"}})
    assert tls.mail_settings().smtp.port == 587


def test_the_password_comes_from_a_file_reference_or_the_old_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "smtp-password").write_text(PASSWORD + "\n")
    config = write(tmp_path, mail_section(2525, user="asr", password="file:smtp-password"))
    assert load_settings(config).mail_settings().smtp.password == Secret(PASSWORD)
    monkeypatch.setenv("ASR_CENTRAL_SMTP_PASSWORD", "from-the-environment")
    flags = ["serve", "--smtp-host", "127.0.0.1", "--smtp-security", "none",
             "--mail-from", "asr@dealer.example"]
    s = settings_from_args(build_parser().parse_args([*flags, "--smtp-user", "asr"]))
    assert s.mail.password == Secret("from-the-environment")
    # without a user the variable is left alone rather than refused
    assert settings_from_args(build_parser().parse_args(flags)).mail.password is None


# --- refusals -------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "expected"), [
    ("  immediate: [order_shipped, weather]\n",
     r"mail.immediate: 'weather' is not a kind of mail; expected some of order_placed"),
    ("  immediate: order_shipped\n", r"mail.immediate: a list of kinds of mail"),
    ("  digest_at: 6:30\n", r'mail.digest_at: a time of day is written quoted, as "HH:MM"'),
    ("  digest_at: \"25:00\"\n", r"mail.digest_at: '25:00' is not a time of day"),
    ("  digest_at: \"06:00+02:00\"\n", r"mail.digest_at: '06:00\+02:00': the time is each "
                                     r"contact's own"),
    ("  time_zone: Mars/Olympus\n", r"mail.time_zone: 'Mars/Olympus' is not a time zone: write "
                                   r"an IANA name"),
    ("  time_zone: 1\n", r"mail.time_zone: a time zone is an IANA name such as Europe/Paris"),
    ("  security: ssl\n", r"mail.security: Input should be 'starttls', 'tls' or 'none'"),
    ("  port: 0\n", r"mail.port: Input should be greater than or equal to 1"),
    ("  colour: blue\n", r"mail.colour: unknown key"),
])
def test_a_bad_mail_setting_is_refused_by_file_line_and_key(
        tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path, "server:\n  port: 8801\nmail:\n  host: 127.0.0.1\n"
                           "  from_address: asr@dealer.example\n" + body)
    with pytest.raises(ConfigError, match=rf"^{path}:6: {expected}"):
        load_settings(path)


def test_plain_smtp_to_a_host_off_loopback_is_refused_at_its_key(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        mail:
          host: smtp.dealer.example
          security: none
          from_address: asr@dealer.example
        """)
    with pytest.raises(ConfigError, match=rf"^{path}:3: mail.security: SMTP without TLS is "
                                          r"allowed on loopback only, not smtp.dealer.example"):
        load_settings(path)
    for host in ("127.0.0.1", "::1", "localhost"):
        ok = write(tmp_path, f"mail:\n  host: \"{host}\"\n  security: none\n"
                             "  from_address: asr@dealer.example\n", "ok.yaml")
        assert load_settings(ok).mail_settings().smtp.port == 25


def test_a_password_written_in_the_file_is_refused_without_being_repeated(tmp_path: Path) -> None:
    path = write(tmp_path, mail_section(2525, user="asr", password=PASSWORD))
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert str(err.value).startswith(f"{path}:7: mail.password: write a secret as "
                                     "env:VARIABLE or file:")
    assert PASSWORD not in str(err.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("mail:\n  host: smtp.dealer.example\n", r":1: mail.from_address: mail.host needs "
                                             r"mail.from_address \(--mail-from\)"),
    ("mail:\n  host: smtp.dealer.example\n  from_address: dealer.example\n",
     r":3: mail.from_address: 'dealer.example' is not an e-mail address"),
    ("mail:\n  host: smtp.dealer.example\n  from_address: a@b.example\n  user: asr\n",
     r":1: mail.password: give both an SMTP user and its password"),
    ("mail:\n  user: asr\n", r":2: mail.user: a mail setting was given without mail.host"),
])
def test_mail_settings_that_do_not_go_together_are_refused(
        tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=rf"^{path}{expected}"):
        load_settings(path)


def test_serve_refuses_to_start_on_a_bad_mail_section(tmp_path: Path) -> None:
    path = write(tmp_path, mail_section(2525, immediate="[weather]"))
    done = subprocess.run([sys.executable, "-m", "asr_central.cli", "serve", "--config",
                           str(path), "--db", f"sqlite:///{tmp_path / 'c.db'}"],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"{path}:6: mail.immediate: 'weather' is not a kind of mail" in done.stderr


# --- check-config ---------------------------------------------------------------------------

def test_check_config_shows_the_mail_section_and_never_the_password(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "smtp-password").write_text(PASSWORD)
    path = write(tmp_path, mail_section(2525, user="asr", password="file:smtp-password",
                                        immediate="[order_shipped]"))
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert PASSWORD not in out
    shown = yaml.safe_load(out)["mail"]
    assert shown["password"] == "<secret>" and shown["user"] == "asr"
    assert shown["immediate"] == ["order_shipped"] and shown["digest_at"] == "06:00"
    # what check-config prints is itself a valid config, but for the masked secret
    shown.pop("password")
    shown.pop("user")
    assert load_settings(write(tmp_path, yaml.safe_dump({"mail": shown}), "shown.yaml")
                         ).mail.immediate == (MailKind.ORDER_SHIPPED,)


# --- mail test ------------------------------------------------------------------------------

def test_mail_test_takes_the_database_and_the_mail_server_from_the_config_file(
        tmp_path: Path, starttls_server: _Server,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    """STARTTLS with a login, every setting from the file: the password read from its
    file reaches the server and is printed nowhere."""
    db_path = seeded_db(tmp_path)
    (tmp_path / "smtp-password").write_text(PASSWORD + "\n")
    path = write(tmp_path, f"""\
        database:
          url: sqlite:///{db_path}
        mail:
          host: 127.0.0.1
          port: {starttls_server.port}
          user: asr
          password: file:smtp-password
          ca_file: {starttls_server.cert}
          timeout_s: 5
          from_address: asr@dealer.example
        """)
    assert main(["mail", "test", "ops", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"sent to Sam Ops <ops@leeds.example> through 127.0.0.1:{starttls_server.port} " \
           "(starttls)" in out
    assert PASSWORD not in out
    assert starttls_server.logins == ["asr"]
    got, = starttls_server.keeper.messages
    assert got["Message-ID"] in out and str(got["From"]) == "ASR <asr@dealer.example>"
    # a flag overrides the file's key: a port nothing listens on, and nothing is sent
    dead = SmtpSink().port
    assert main(["mail", "test", "ops", "--config", str(path), "--smtp-port", str(dead)]) == 1
    assert f"cannot reach the mail server 127.0.0.1:{dead}" in capsys.readouterr().out
