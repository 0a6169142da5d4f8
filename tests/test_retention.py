"""Retention: chat artefacts older than retention_days go; pending posts, recent ones and the
evidence record stay."""
from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta

from sqlmodel import Session, select

from storage import repo
from storage.db import session_scope
from storage.models import AuditEvent, Contact, InboundEvent, Outbox
from tests.conftest import count, run


def test_old_chat_artefacts_go_and_the_record_stays(app, tmp_path, monkeypatch):
    run(app, "amira", "missed C-7F3K hospital")
    asyncio.run(app.run_job("morning", "north"))  # a delivered post (the Recorder transport)
    start = app.clock.now()
    with session_scope(app.engine) as s:
        repo.enqueue(s, key="never-delivered", target="team:nowhere", payload={}, now=start)
        assert repo.first_time(s, key="slack:event:1", now=start)
    old_file = tmp_path / "files" / "old" / "chart.png"
    old_file.parent.mkdir(parents=True)
    old_file.write_bytes(b"png")
    days_ago = time.time() - 91 * 86400
    os.utime(old_file, (days_ago, days_ago))
    new_file = tmp_path / "files" / "new.png"
    new_file.write_bytes(b"png")

    app.clock.set(start + timedelta(days=89))
    assert asyncio.run(app.housekeeping()) == {"posts": 0, "events": 0, "files": 1}
    app.clock.set(start + timedelta(days=91))
    gone = asyncio.run(app.housekeeping())
    assert gone["events"] == 1 and gone["posts"] >= 1 and gone["files"] == 0

    with Session(app.engine) as s:
        assert [o.key for o in s.exec(select(Outbox))] == ["never-delivered"]  # never dropped
        assert s.exec(select(Contact).where(Contact.status == "missed")).first() is not None
    assert count(app.engine, InboundEvent) == 0
    assert count(app.engine, AuditEvent, AuditEvent.action == "retention:purge") == 2
    assert not old_file.exists() and not old_file.parent.exists() and new_file.exists()
