"""A string that never shows itself: reprs, logs, f-strings and dumps print `<secret>`;
and URLs shown with their password masked the same way.

Config values may be written literally or as `env:VAR`; the reference is resolved at load.
"""

from __future__ import annotations

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
