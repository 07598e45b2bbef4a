"""What a batch's HTTP headers say about the agent that sent it: its version (the agent's
`User-Agent: asr-agent/VERSION`) and its clock skew (its `Date` header, set when it sends,
minus central's clock on arrival: the same sign as the skew the agent measures itself
from central's answers). Both are untrusted text: a version is kept only when it looks
like one, a Date only when it parses."""

from __future__ import annotations

import re
from datetime import datetime
from email.utils import parsedate_to_datetime

__all__ = ["agent_version", "clock_skew_s"]

_AGENT = re.compile(r"asr-agent/([0-9A-Za-z.+\-_]{1,40})(?:\s|$)")
_MAX_SKEW_S = 10 * 365 * 86400  # beyond this the header is nonsense, not a clock


def agent_version(user_agent: str | None) -> str | None:
    """The version in an `asr-agent/VERSION` User-Agent, else None."""
    if not user_agent:
        return None
    found = _AGENT.match(user_agent)
    return None if found is None else found.group(1)


def clock_skew_s(date: str | None, now: datetime) -> int | None:
    """The sender's clock minus `now`, in whole seconds (a Date header has no finer
    resolution), or None when there is no usable Date header."""
    if not date or len(date) > 64:
        return None
    try:
        sent = parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if sent.tzinfo is None:
        return None  # RFC 9110 dates are GMT; one without a zone is not one of them
    skew = round((sent - now).total_seconds())
    return skew if abs(skew) <= _MAX_SKEW_S else None
