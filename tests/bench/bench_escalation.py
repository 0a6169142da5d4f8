"""One escalation sweep with 10,000 open escalations of which 500 are due (goal < 50 ms).

PostgreSQL when CAREBOT_TEST_DATABASE_URL is set (in a database of the bench's own), else
SQLite. Baseline in the same run: a hand-written claim of the same 500 rows (SELECT … FOR
UPDATE SKIP LOCKED, then one UPDATE of their timers): the floor any sweep pays.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text

from handlers import sweep
from handlers.registry import load as load_commands
from storage.models import Escalation, EscalationEvent, Outbox
from tests.bench.bench_import import bench_database, fresh
from tests.bench.table import record

OPEN, DUE, RUNS = 10_000, 500, 9
NOW = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
POLICY = {"ack_timeout_minutes": 15, "repeats": 2, "chain": ["oncall", "manager", "nominated"],
          "time_critical_grace_minutes": 30}


def seed(engine) -> None:
    with engine.begin() as conn:
        names = [t.__tablename__ for t in (EscalationEvent, Outbox, Escalation)]
        if conn.dialect.name == "postgresql":  # no dead rows piling up run after run
            conn.execute(text(f"TRUNCATE {', '.join(names)}"))
        else:
            for name in names:
                conn.execute(text(f"DELETE FROM {name}"))
        rows = [{"team_id": 1 + i % 2, "subject": f"bench:{i}", "open_subject": f"bench:{i}",
                 "trigger": "reconcile", "ref": f"C-{i:05d}", "summary": "no outcome at end of day",
                 "state": "open", "level": i % 3, "pages_at_level": 1, "policy": POLICY,
                 "opened_at": NOW - timedelta(hours=1), "opened_by": "scheduler",
                 "next_fire_at": NOW - timedelta(minutes=1) if i % (OPEN // DUE) == 0
                 else NOW + timedelta(minutes=5 + i % 600)} for i in range(OPEN)]
        conn.execute(insert(Escalation.__table__), rows)
        if conn.dialect.name == "postgresql":
            conn.execute(text("ANALYZE escalation"))


def baseline(engine) -> float:
    t0 = time.perf_counter()
    with engine.begin() as conn:
        ids = [r[0] for r in conn.execute(text(
            "SELECT id FROM escalation WHERE state = 'open' AND next_fire_at <= :now "
            "ORDER BY next_fire_at LIMIT 1000" + (" FOR UPDATE SKIP LOCKED"
                                                  if conn.dialect.name == "postgresql" else "")),
            {"now": NOW})]
        conn.execute(text("UPDATE escalation SET next_fire_at = :later, "
                          "pages_at_level = pages_at_level + 1 WHERE id IN :ids")
                     .bindparams(__import__("sqlalchemy").bindparam("ids", expanding=True)),
                     {"later": NOW + timedelta(minutes=15), "ids": ids})
    return time.perf_counter() - t0


def main() -> None:
    load_commands()  # every capability, as in the bot: their deadline checks run in the sweep
    url = os.environ.get("CAREBOT_TEST_DATABASE_URL")
    with tempfile.TemporaryDirectory() as d:
        url = bench_database(url) if url else f"sqlite:///{Path(d) / 'esc.db'}"
        engine = fresh(url, Path(d))
        sweeps, floors = [], []
        sweep.sweep(engine, NOW)  # warm the compiled statements, as a running bot has
        for _ in range(RUNS):
            seed(engine)
            t0 = time.perf_counter()
            fired = sweep.sweep(engine, NOW)
            sweeps.append(time.perf_counter() - t0)
            with engine.connect() as conn:
                pages = conn.execute(text("SELECT count(*) FROM outbox")).scalar_one()
                events = conn.execute(text("SELECT count(*) FROM escalationevent")).scalar_one()
            seed(engine)
            floors.append(baseline(engine))
        sweep_ms, floor_ms = statistics.median(sweeps) * 1000, statistics.median(floors) * 1000
        print(f"{engine.dialect.name}: {OPEN:,} open escalations, {fired} due, {events} pages "
              f"in {pages} DMs (one per person)")
        print(f"sweep median of {RUNS}: {sweep_ms:.1f} ms (goal < 50 ms); "
              f"baseline claim+update: {floor_ms:.1f} ms; ratio {sweep_ms / floor_ms:.1f}")
        record(f"escalation sweep, {OPEN:,} open / {DUE} due ({engine.dialect.name})",
               f"{sweep_ms:.1f} ms", f"{floor_ms:.1f} ms claim + update", sweep_ms / floor_ms,
               "< 50 ms", sweep_ms < 50)
        engine.dispose()


if __name__ == "__main__":
    main()
