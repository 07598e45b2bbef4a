"""The leadership of the workers on one SQLite file: an OS file lock (`flock`) on a file
beside the database, which the kernel frees when the process that holds it dies, however
it dies. The workers of one host share the file, as they share the database (WAL)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from filelock import FileLock, Timeout

__all__ = ["FileLeadership", "lock_path"]

log = logging.getLogger("asr_central.leader")


def lock_path(database: Path) -> Path:
    """The lock file beside `database` (`central.db` → `central.db.leader`)."""
    return database.with_name(database.name + ".leader")


class FileLeadership:
    """`storage.base.Leadership` for a SQLite database at `database`."""

    def __init__(self, database: Path) -> None:
        self.path = lock_path(database)
        # Not thread-local: the leader loop takes it, shutdown (another thread) frees it.
        # No soft-lock fallback: a lock file's mere existence would outlive a killed
        # leader. Kept on release: deleting it lets a waiter lock an unlinked file.
        self._lock = FileLock(self.path, thread_local=False, blocking=False,
                              fallback_to_soft=False, preserve_lock_file=True)
        self._guard = threading.Lock()
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    def try_acquire(self) -> bool:
        with self._guard:
            if self._held:
                return True  # a flock held by this process stays held while it lives
            try:
                self._lock.acquire(timeout=0)
            except Timeout:
                return False
            self._held = True
        log.info("this worker leads: it runs the policy, retention and the notifier "
                 "(lock %s)", self.path)
        return True

    def release(self) -> None:
        with self._guard:
            if self._held:
                self._lock.release(force=True)
                self._held = False
