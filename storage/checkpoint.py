"""SQLite WAL checkpoints off the command path.

SQLite copies its write-ahead log back into the database file (a checkpoint, with an fsync)
inside whichever commit takes the log past 1000 pages. A command writes about 12 pages, so
about one command in 85 paid 10-20 ms for it, on the Slack ack path. Here a commit only notes
that the log grew; one background thread per process checkpoints (PASSIVE: it never blocks
readers or writers) on a short-lived connection of its own, at most every INTERVAL seconds.
The connections keep their own autocheckpoint as a backstop, at BACKSTOP pages.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)
INTERVAL = 0.5  # seconds between two checkpoints of one database
BACKSTOP = 10_000  # pages (about 40 MB): a commit checkpoints itself past this

_dirty: set[str] = set()  # databases written since their last checkpoint
_wake = threading.Condition()
_worker: dict[str, threading.Thread] = {}
checkpoints: dict[str, int] = {}  # database file -> checkpoints run (tests read it)


def watch(engine: Engine, database: str) -> None:
    """Checkpoint this SQLite file in the background after its commits."""
    path = str(Path(database).resolve())
    event.listen(engine, "connect", _backstop)
    # "commit" fires just before the commit: a burst's last pages may wait for the next
    # commit's checkpoint, which is harmless (they are in the log, read from there).
    event.listen(engine, "commit", lambda _conn: written(path))


def _backstop(dbapi_conn, _record) -> None:
    dbapi_conn.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP}")


def written(path: str) -> None:
    """A commit to `path`: its checkpoint runs soon, in the background."""
    if path in _dirty:  # already due (a set read: no lock on the common path)
        return
    with _wake:
        _dirty.add(path)
        worker = _worker.get("thread")
        if worker is None or not worker.is_alive():
            worker = threading.Thread(target=_run, name="sqlite-checkpoint", daemon=True)
            _worker["thread"] = worker
            worker.start()
        _wake.notify()


def _run() -> None:
    while True:
        with _wake:
            while not _dirty:
                _wake.wait()
            paths = sorted(_dirty)
            _dirty.clear()
        for path in paths:
            checkpoint(path)
        time.sleep(INTERVAL)  # commits meanwhile wait for the next pass: one per INTERVAL


def checkpoint(path: str) -> tuple[int, int, int] | None:
    """PRAGMA wal_checkpoint(PASSIVE) on `path`: (busy, log pages, pages checkpointed), or None
    if the file is gone (mode=rw never creates one)."""
    try:
        conn = sqlite3.connect(f"{Path(path).as_uri()}?mode=rw", uri=True, timeout=5)
        try:
            result = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        log.debug("checkpoint of %s skipped: %s", path, exc)
        return None
    checkpoints[path] = checkpoints.get(path, 0) + 1
    return tuple(result)
