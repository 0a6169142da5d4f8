"""Retention of chat artefacts: copies of delivered posts, handled platform event ids, and
the chart and pack files in storage.db.files_dir (CAREBOT_FILES_DIR). The evidence record
(contacts, reconciliations, escalations, medicines, learning, incidents, actions, audit) is kept.
Audit rows are never purged, by this or any other path: they form a hash chain
(storage/audit.py) that `carebot audit verify` checks, and PostgreSQL refuses their deletion."""
from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from storage import repo
from storage.db import files_dir, session_scope


def purge(engine: Engine, now: datetime, days: int) -> dict[str, int]:
    """Delete what is older than `days`; say how many of each went."""
    with session_scope(engine) as session:
        gone = repo.purge_chat_artefacts(session, before=now - timedelta(days=days))
        repo.add_audit(session, at=now, actor="scheduler", transport="scheduler",
                       action="retention:purge", subject=None, detail={**gone, "days": days})
    # Files are judged by the wall clock: their mtime is real time, not a simulated clock.
    cutoff = time.time() - days * 86400
    folder = files_dir()
    files = 0
    for path in sorted(folder.rglob("*"), reverse=True):  # a folder's files before the folder
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink()
            files += 1
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return {**gone, "files": files}
