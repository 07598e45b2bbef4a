"""What text the central database can hold: no NUL character (U+0000), which PostgreSQL's
text type refuses (SQLite stores it), and no lone surrogate (U+D800 to U+DFFF), which no
engine can encode as UTF-8.

Text is refused where it comes in (the service's request check, the registry parser), with
an answer that names the field; `UnstorableText` is what the PostgreSQL engine raises for a
NUL that got past them, so a forgotten check costs a 422, never a 500."""

from __future__ import annotations

from asr_core.errors import StoreError

__all__ = ["UnstorableText", "unstorable"]


class UnstorableText(StoreError):
    """A text value the database cannot store reached a statement (see the module docstring)."""


def unstorable(text: str) -> str | None:
    """Why `text` cannot be stored, or None if it can."""
    if "\x00" in text:
        return "holds a NUL character (U+0000), which cannot be stored: remove it"
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return ("holds a lone surrogate (U+D800 to U+DFFF), which cannot be stored: "
                "send valid Unicode text")
    return None
