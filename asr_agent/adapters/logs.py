"""Logging set-up: one line per event in `key=value` form, journald-friendly on Linux
(no timestamp of our own, a `<N>` priority prefix), a rotating file on Windows or when
asked, and a filter that redacts every secret the config holds."""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from collections.abc import Iterable
from pathlib import Path

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
             logging.CRITICAL: 2}
_REDACTED = "<secret>"


class RedactSecrets(logging.Filter):
    """Replace any known secret value that reaches a log line, whatever its route."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for value in self._secrets:
            text = text.replace(value, _REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            record.msg = self.redact(record.getMessage())
            record.args = None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = self.redact(record.exc_text)
        return True


class EventFormatter(logging.Formatter):
    """`level=info logger=asr.poll msg="..." key=value …` on one line."""

    def __init__(self, *, journald: bool) -> None:
        super().__init__()
        self.journald = journald

    def format(self, record: logging.LogRecord) -> str:
        fields = [f"level={record.levelname.lower()}", f"logger={record.name}",
                  f"msg={_quote(record.getMessage())}"]
        extra = getattr(record, "event", None)
        if isinstance(extra, dict):
            fields += [f"{k}={_quote(str(v))}" for k, v in extra.items()]
        if record.exc_info or record.exc_text:
            text = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
            fields.append(f"error={_quote(text.splitlines()[-1])}")
        line = " ".join(fields)
        if self.journald:
            return f"<{_PRIORITY.get(record.levelno, 6)}>{line}"
        return f"{self.formatTime(record, '%Y-%m-%dT%H:%M:%S%z')} {line}"


def _quote(value: str) -> str:
    value = value.replace("\n", "\\n")
    if not value or any(c in value for c in ' "='):
        return '"' + value.replace('"', '\\"') + '"'
    return value


def under_journald() -> bool:
    return bool(os.environ.get("JOURNAL_STREAM")) or bool(os.environ.get("INVOCATION_ID"))


def setup_logging(*, level: str = "info", log_file: Path | None = None,
                  secrets: Iterable[str] = ()) -> logging.Logger:
    """Configure the `asr` logger tree; returns it. Idempotent: replaces earlier handlers."""
    logger = logging.getLogger("asr")
    logger.setLevel(level.upper())
    logger.propagate = False
    for old in list(logger.handlers):
        logger.removeHandler(old)
        old.close()
    if log_file is not None or sys.platform == "win32":
        target = log_file or Path("asr-agent.log")
        target.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            target, maxBytes=5_000_000, backupCount=5, encoding="utf-8")
        handler.setFormatter(EventFormatter(journald=False))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(EventFormatter(journald=under_journald()))
    handler.addFilter(RedactSecrets(secrets))
    logger.addHandler(handler)
    return logger


def event(logger: logging.Logger, level: int, msg: str, **fields: object) -> None:
    """Log one event with structured fields: `event(log, logging.INFO, "polled", serial=…)`."""
    logger.log(level, msg, extra={"event": fields})
