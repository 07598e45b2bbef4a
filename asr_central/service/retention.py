"""Old signed payloads dropped, the rest of each summary kept.

Central keeps every summary's canonical bytes and signature as received: evidence of what an
agent said, for as long as someone may ask. Each is ~2-3 KB and, in SQLite's 4 KB pages, costs
about a page: a fleet of 10,000 printers reporting daily writes ~15 GB a year. After
`keep_payload_days` (default 400, `serve --keep-payload-days`, 0 = forever) the payload and
signature are emptied; the row stays, with its agent, sequence, idempotency key and times, so a
summary sent again is still a duplicate and a reused sequence still a replay, and nothing
derived from it (device and supply state, cartridge events, orders) changes. SQLite reuses the
freed space for new rows (the file stops growing; VACUUM gives it back to the system).

Run by the leader of the workers (asr_central.service.leader), at most once per
CHECK_INTERVAL_S (each try while a backlog lasts), in chunks of their own short transactions
so that ingest interleaves; a cursor (the last id emptied) makes each run read only the rows
that came of age since the previous one.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from asr_core.wire import format_time
from asr_central.service.state import DEFAULT_KEEP_PAYLOAD_DAYS  # noqa: F401 - serve reads it here
from asr_central.storage.base import Database
from asr_central.storage.summaries import empty_old_payloads

log = logging.getLogger("asr_central.retention")

CHECK_INTERVAL_S = 3600.0
CHUNK = 500  # rows per transaction
# Chunks per call: a backlog (a first run on an old database) is worked off over the
# following after-ingest calls, so the other hooks (the policy run) are not held up.
MAX_CHUNKS = 20


def drop_old_payloads(db: Database, now: datetime, keep_days: float, *,
                      max_chunks: int = MAX_CHUNKS, chunk: int = CHUNK) -> tuple[int, bool]:
    """Payloads older than `keep_days` emptied, a chunk per transaction, at most `max_chunks`
    chunks; returns how many, and whether older ones are left for the next call."""
    if keep_days <= 0:
        return 0, False
    before = now - timedelta(days=keep_days)
    total = 0
    more = False
    for _ in range(max_chunks):
        if db.closed:
            break
        with db.transaction() as conn:
            done = empty_old_payloads(conn, before, chunk)
        total += done
        more = done == chunk
        if not more:
            break
    if total:
        log.info("emptied the signed payloads of %d summaries received before %s",
                 total, format_time(before))
    return total, more
