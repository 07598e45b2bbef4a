"""A string that never shows itself: reprs, logs, f-strings and dumps print `<secret>`;
and URLs shown with their password masked the same way.

Config values may be written literally or as `env:VAR`; the reference is resolved at load.
`resolve_reference` reads `env:VAR` and `file:/path` references, for configs that take
secrets only by reference (central's).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The real value, for the one place that needs it (the SNMP or HTTP client)."""
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "<secret>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret is not picklable: it must not leave the process")


def redact_url(url: str) -> str:
    """A URL fit for a log line, a page or a dump: any user:password part replaced.

    A URL too broken to split is masked whole: it may still hold a password."""
    try:
        parts = urlsplit(url)
        username, port = parts.username, parts.port
    except ValueError:
        return "<secret>" if "@" in url else url
    if username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if port:
        host = f"{host}:{port}"
    return urlunsplit((parts.scheme, f"<secret>@{host}", parts.path, parts.query, parts.fragment))


def url_password(url: str | None) -> str | None:
    """The password inside `url`, for the log filter to redact wherever it turns up."""
    if not url:
        return None
    try:
        return urlsplit(url).password or None
    except ValueError:
        return None


# A secret file holds one value: a few kilobytes is already far more than any token.
MAX_SECRET_FILE = 4096


def resolve_reference(reference: str, *, env: Mapping[str, str] | None = None,
                      base_dir: str | os.PathLike[str] | None = None) -> Secret:
    """The secret `env:VAR` or `file:/path` names (a file's surrounding whitespace is
    dropped; a relative path is relative to `base_dir`). ValueError says what to fix,
    and never repeats a value."""
    kind, sep, name = reference.partition(":")
    if not sep or kind not in ("env", "file") or not name:
        raise ValueError("write a secret as env:VARIABLE or file:/path/to/file; the value "
                         "itself is not kept in the config file")
    if kind == "env":
        environ = os.environ if env is None else env
        if name not in environ:
            raise ValueError(f"environment variable {name} is not set; set it for the "
                             "service (systemd: Environment= or EnvironmentFile=)")
        value = environ[name].strip()
    else:
        path = Path(name).expanduser()
        if base_dir is not None and not path.is_absolute():
            path = Path(base_dir) / path
        try:
            with path.open("rb") as f:
                raw = f.read(MAX_SECRET_FILE + 1)
        except OSError as exc:
            raise ValueError(f"cannot read the secret file {path}: {exc.strerror}; check "
                             "that it exists and that the service's user may read it") from None
        if len(raw) > MAX_SECRET_FILE:
            raise ValueError(f"the secret file {path} is larger than {MAX_SECRET_FILE} bytes; "
                             "it should hold the secret alone")
        try:
            value = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise ValueError(f"the secret file {path} is not UTF-8 text") from None
    if not value:
        raise ValueError(f"{reference} is empty")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError(f"{reference} holds a control character (a line break inside?); "
                         "a secret is one line")
    return Secret(value)
