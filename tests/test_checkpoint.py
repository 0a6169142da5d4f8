"""SQLite WAL checkpoints run in the background, not inside a command's commit."""
from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from storage import checkpoint
from storage.db import make_engine, session_scope
from storage.models import InboundEvent


def test_a_commit_leaves_the_checkpoint_to_the_background_thread(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    path = str((tmp_path / "c.db").resolve())
    with engine.connect() as conn:  # the commit itself checkpoints only past the backstop
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == checkpoint.BACKSTOP
    before = checkpoint.checkpoints.get(path, 0)
    for i in range(30):
        with session_scope(engine) as session:
            session.add(InboundEvent(key=f"k{i}", at=datetime(2026, 11, 24, tzinfo=UTC)))
    deadline = time.monotonic() + 30  # a bound on waiting, not a speed check
    while checkpoint.checkpoints.get(path, 0) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert checkpoint.checkpoints.get(path, 0) > before
    with session_scope(engine) as session:  # every row still there, read back after it
        assert session.execute(text("SELECT count(*) FROM inboundevent")).scalar() == 30
    engine.dispose()


def test_a_checkpoint_copies_the_log_into_the_file(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x TEXT)")
        conn.exec_driver_sql("INSERT INTO t VALUES ('a')")
    busy, pages, copied = checkpoint.checkpoint(str(tmp_path / "c.db"))
    assert busy == 0 and pages == copied
    engine.dispose()


def test_a_database_gone_is_never_created_again(tmp_path):
    gone = tmp_path / "gone.db"
    assert checkpoint.checkpoint(str(gone)) is None
    assert not Path(gone).exists()
