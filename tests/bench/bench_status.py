"""`status` for one team on PostgreSQL with 2 million contacts (100 teams × 1 year).

Prints the time of the figures (every SQL aggregate of the report), of the whole report (plus
words and the PNG chart), and a baseline measured in the same run: hand-written SQL computing
the same figures (one GROUP BY week for the contacts, then the same side queries), the floor
any implementation pays. Goal: report < 300 ms, figures / hand-written SQL ≤ 1.2.
Needs CAREBOT_TEST_DATABASE_URL (it uses a database of its own beside the test one).
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlmodel import select

from handlers import status
from storage.db import session_scope
from storage.models import Team
from tests.bench.bench_import import bench_database, fresh
from tests.bench.table import record

TEAMS, DAYS, PER_DAY, RUNS = 100, 365, 55, 7
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
FIRST_DAY = date(2025, 11, 25)
ZONE = ZoneInfo("Europe/London")


def seed(engine) -> int:
    """Teams, 20,000 clients and TEAMS × DAYS × PER_DAY contacts, generated server-side."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM contact"))
        conn.execute(text("DELETE FROM client"))
        conn.execute(text("DELETE FROM team WHERE key LIKE 'b%'"))
        conn.execute(text(
            "INSERT INTO team (key, name, zone, morning_post, reconcile, escalation, medicines, "
            "weekly_status) SELECT 'b' || t, 'Bench team ' || t, 'Europe/London', '07:30', "
            "'17:30', '{}', '{}', 'mon 09:00' FROM generate_series(1, :n) t"), {"n": TEAMS - 2})
        conn.execute(text("INSERT INTO client (ref, risk) SELECT 'C-' || i, 'low' "
                          "FROM generate_series(1, 20000) i"))
        conn.execute(text("""
            INSERT INTO contact (source_id, client_id, team_id, kind, due_start, due_end,
                                 time_critical, status, reason_code, outcome_at)
            SELECT 'B-' || t.id || '-' || d || '-' || n,
                   (SELECT min(id) FROM client) + (t.id * 7919 + d * 31 + n) % 20000,
                   t.id, 'home_visit', s, s + interval '1 hour', false,
                   CASE WHEN (d + n) % 10 = 0 THEN 'missed'
                        WHEN (d + n) % 25 = 1 THEN 'open' ELSE 'done' END,
                   CASE WHEN (d + n) % 10 = 0
                        THEN (ARRAY['hospital','staffing','no_reply','unavailable'])[1 + n % 4] END,
                   CASE WHEN (d + n) % 10 <> 0 AND (d + n) % 25 <> 1
                        THEN s + CASE WHEN n % 13 = 0 THEN interval '2 hours'
                                      ELSE interval '30 minutes' END END
            FROM team t, generate_series(0, :days - 1) d, generate_series(0, :per - 1) n,
                 LATERAL (SELECT (:first)::timestamptz + d * interval '1 day'
                                 + interval '8 hours' + n * interval '10 minutes' AS s) x
        """), {"days": DAYS, "per": PER_DAY, "first": f"{FIRST_DAY.isoformat()} 00:00+00"})
        conn.execute(text("ANALYZE"))
        return conn.execute(text("SELECT count(*) FROM contact")).scalar_one()


HAND = [
    # the contacts, per local week, for the 8 chart weeks (which hold the report and trend)
    """SELECT date_trunc('week', due_start AT TIME ZONE 'Europe/London') AS week, count(*),
              count(*) FILTER (WHERE status = 'done'), count(*) FILTER (WHERE status = 'missed'),
              count(*) FILTER (WHERE status = 'open' AND due_end < :now),
              count(*) FILTER (WHERE status = 'done' AND outcome_at <= due_end)
       FROM contact WHERE team_id = :t AND due_start >= :lo AND due_start < :hi GROUP BY week""",
    """SELECT reason_code, count(*) FROM contact WHERE team_id = :t AND status = 'missed'
       AND due_start >= :rlo AND due_start < :hi GROUP BY reason_code""",
    "SELECT min(due_start) FROM contact WHERE team_id = :t",
    """SELECT count(*), count(*) FILTER (WHERE status IN ('missed'))
       FROM contact WHERE team_id = :t AND due_start >= :blo AND due_start < :bhi""",
    """SELECT count(*) FROM medsexception x JOIN medsduty d ON d.id = x.duty_id
       WHERE x.team_id = :t AND d.due_at >= :lo AND d.due_at < :hi""",
    """SELECT count(*) FROM medsduty WHERE team_id = :t AND status = 'open'
       AND due_at >= :rlo AND due_at < LEAST(:hi, :today)""",
    """SELECT count(*), count(*) FILTER (WHERE closed_at <= due_at) FROM incident
       WHERE team_id = :t AND opened_at >= :rlo AND opened_at < :hi""",
    """SELECT count(*) FROM learningpoint p LEFT JOIN learningack a ON a.point_id = p.id
       WHERE p.team_id = :t AND p.at >= :rlo AND p.at < :hi""",
    """SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY acked_at - opened_at)
       FROM escalation WHERE team_id = :t AND opened_at >= :rlo AND opened_at < :hi""",
    "SELECT count(*) FROM escalation WHERE team_id = :t AND state <> 'resolved'",
    "SELECT state, count(*) FROM action WHERE team_id = :t GROUP BY state",
]


def hand_written(engine, team_id: int, period) -> float:
    windows, _ = status._windows(period, ZONE)
    chart = windows[1 + status.TREND_WEEKS:]
    params = {"t": team_id, "now": NOW, "lo": chart[0][0], "hi": chart[-1][1],
              "rlo": windows[0][0], "blo": datetime(2025, 11, 24, tzinfo=UTC),
              "bhi": datetime(2025, 12, 22, tzinfo=UTC),
              "today": datetime.combine(NOW.astimezone(ZONE).date(), datetime.min.time(), ZONE)}
    t0 = time.perf_counter()
    with engine.connect() as conn:
        for sql in HAND:
            conn.execute(text(sql), params).all()
    return time.perf_counter() - t0


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    url = os.environ.get("CAREBOT_TEST_DATABASE_URL")
    if not url:
        print("skipped: needs PostgreSQL (set CAREBOT_TEST_DATABASE_URL)")
        record("status figures, one team", "skipped", "needs PostgreSQL", None, "≤ 1.2×", False)
        return
    with tempfile.TemporaryDirectory() as d:
        os.environ["CAREBOT_FILES_DIR"] = d
        engine = fresh(bench_database(url), Path(d))
        t0 = time.perf_counter()
        n = seed(engine)
        print(f"postgresql: {n:,} contacts in {TEAMS} teams over {DAYS} days "
              f"(seeded in {time.perf_counter() - t0:.1f} s)")
        with session_scope(engine) as session:
            team = session.get(Team, 42)
            period = status.period_from("last week", NOW.astimezone(ZONE).date(), NOW, ZONE)

            def figures():
                return status.figures(session, [team], period, NOW, ZONE)

            def report():
                return status.report(session, [team], period, NOW, ZONE, "bench")

            figures(), report(), hand_written(engine, team.id, period)  # warm caches
            fig = statistics.median(timed(figures) for _ in range(RUNS)) * 1000
            full = statistics.median(timed(report) for _ in range(RUNS)) * 1000
            hand = statistics.median(hand_written(engine, team.id, period)
                                     for _ in range(RUNS)) * 1000
            planned = figures()[0].contacts["planned"]
            teams = list(session.exec(select(Team)))
            every = statistics.median(timed(lambda: status.figures(session, teams, period, NOW, ZONE))
                                      for _ in range(3)) * 1000
        print(f"status for one team (last week: {planned} planned), median of {RUNS}:")
        print(f"  figures (SQL aggregates): {fig:.1f} ms; whole report with chart: {full:.1f} ms "
              f"(goal < 300 ms)")
        print(f"  hand-written SQL, same figures: {hand:.1f} ms; figures / hand-written "
              f"ratio {fig / hand:.2f} (goal ≤ 1.2)")
        print(f"  a manager's report, all {TEAMS} teams + overall (figures): {every:.0f} ms")
        engine.dispose()
    record("status figures, one team of 2M contacts", f"{fig:.1f} ms",
           f"{hand:.1f} ms hand-written SQL", fig / hand, "≤ 1.2×", fig / hand <= 1.2)


if __name__ == "__main__":
    main()
