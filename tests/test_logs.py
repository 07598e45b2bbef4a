"""Agent log lines: one line per event, structured, journald priorities, secrets redacted."""

from __future__ import annotations

import logging

import pytest

from asr_agent.adapters.logs import event, setup_logging


@pytest.fixture
def log_to_stderr(monkeypatch: pytest.MonkeyPatch):
    def configure(*, journald: bool, secrets: tuple[str, ...] = ()) -> logging.Logger:
        monkeypatch.delenv("JOURNAL_STREAM", raising=False)
        monkeypatch.delenv("INVOCATION_ID", raising=False)
        if journald:
            monkeypatch.setenv("JOURNAL_STREAM", "8:1234")
        return setup_logging(level="debug", secrets=secrets)

    yield configure
    setup_logging(level="warning")


def test_event_is_one_key_value_line(log_to_stderr, capsys) -> None:
    log = log_to_stderr(journald=False).getChild("poll")
    event(log, logging.INFO, "polled printer", serial="XRX 1", supplies=4)
    line = capsys.readouterr().err.strip()
    assert "\n" not in line
    assert 'level=info logger=asr.poll msg="polled printer" serial="XRX 1" supplies=4' in line


def test_journald_lines_carry_priority_and_no_timestamp(log_to_stderr, capsys) -> None:
    log = log_to_stderr(journald=True)
    log.error("central refused summary")
    assert capsys.readouterr().err.startswith("<3>level=error")


def test_known_secrets_are_redacted_from_messages_and_tracebacks(log_to_stderr, capsys) -> None:
    log = log_to_stderr(journald=False, secrets=("s3cret-community", "authpass123"))
    log.warning("community %s rejected", "s3cret-community")
    try:
        raise RuntimeError("bad key authpass123")
    except RuntimeError:
        log.exception("v3 failed")
    err = capsys.readouterr().err
    assert "s3cret-community" not in err and "authpass123" not in err
    assert err.count("<secret>") == 2
