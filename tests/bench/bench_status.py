"""`status` for one team on PostgreSQL with 2 million contacts (100 teams × 1 year).

Prints the time of the figures (every SQL aggregate of the report), of the whole report (plus
words and the PNG chart), and a baseline measured in the same run: hand-written SQL computing
the same figures (one GROUP BY week for the contacts, then one statement per side figure,
the newer lines included: on time by kind, routes, covers, documentation samples, referrals),
the floor any implementation pays. Every figure's table holds a year of rows for every team.
Goal: report < 300 ms, figures / hand-written SQL ≤ 1.2.
Needs CAREBOT_TEST_DATABASE_URL (it uses a database of its own beside the test one).
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import event, text
from sqlmodel import select

from handlers import status
from handlers.base import day_bounds
from messages.status import missed_rate
from storage.db import alembic_config, make_engine, session_scope, use_files_dir
from storage.models import Team
from tests.bench.bench_import import bench_database, fresh
from tests.bench.table import record

TEAMS, DAYS, PER_DAY, RUNS = 100, 365, 55, 21
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


SIDE_ROWS = TEAMS * DAYS * 4  # medicines duties: 4 a day per team


def seed_side(engine) -> None:
    """A year of the other figures' rows for every team, so the side counts do real work:
    medicines duties (some late, some never recorded), incidents, learning points read by the
    team's members, escalations (most acknowledged) and CAP actions."""
    with engine.begin() as conn:
        if conn.execute(text("SELECT count(*) FROM medsduty")).scalar_one() == SIDE_ROWS:
            return
        for table in ("medsexception", "medsduty", "learningack", "learningpoint", "incident",
                      "escalationevent", "escalation", "actionevidence", "actionversion",
                      "action"):
            conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(text("INSERT INTO membership (person_id, team_id, position) "
                          "SELECT p.id, t.id, 9 FROM person p, team t WHERE t.key LIKE 'b%' "
                          "ON CONFLICT DO NOTHING"))
        first = {"first": f"{FIRST_DAY.isoformat()} 00:00+00"}
        conn.execute(text("""
            INSERT INTO medsduty (duty_id, team_id, round, client_ref, due_at, window_minutes,
                                  time_critical, status)
            SELECT 'D-' || t.id || '-' || d || '-' || n, t.id, 'morning', 'C-' || n,
                   (:first)::timestamptz + d * interval '1 day' + (8 + n * 3) * interval '1 hour',
                   60, n = 0, CASE WHEN (d + n) % 17 = 0 THEN 'open'
                                   WHEN (d + n) % 9 = 0 THEN 'late' ELSE 'given' END
            FROM team t, generate_series(0, :days - 1) d, generate_series(0, 3) n"""),
            {**first, "days": DAYS})
        conn.execute(text("""
            INSERT INTO medsexception (duty_id, team_id, kind, reason, action, informed, at, by_id)
            SELECT id, team_id, 'late', 'handover', 'given', 'GP', due_at + interval '1 hour',
                   (SELECT min(id) FROM person) FROM medsduty WHERE status = 'late'"""))
        conn.execute(text("""
            INSERT INTO incident (ref, team_id, category, risk, state, opened_at, opened_by_id,
                                  review_due_at, due_at, closed_at, reopened)
            SELECT 'INC-' || t.id || '-' || w, t.id, 'falls', 'medium',
                   CASE WHEN w % 5 = 0 THEN 'open' ELSE 'closed' END, o,
                   (SELECT min(id) FROM person), o, o + interval '7 days',
                   CASE WHEN w % 5 <> 0 THEN o + (4 + w % 6) * interval '1 day' END, 0
            FROM team t, generate_series(0, 51) w,
                 LATERAL (SELECT (:first)::timestamptz + w * interval '7 days'
                                 + interval '10 hours' AS o) x"""), first)
        conn.execute(text("""
            INSERT INTO learningpoint (team_id, text, at, by_id)
            SELECT t.id, 'Learning ' || w, (:first)::timestamptz + w * interval '7 days'
                   + interval '9 hours', (SELECT min(id) FROM person)
            FROM team t, generate_series(0, 51) w"""), first)
        conn.execute(text("""
            INSERT INTO learningack (point_id, person_id, at, via)
            SELECT p.id, m.person_id, p.at + interval '1 hour', 'console'
            FROM learningpoint p JOIN membership m ON m.team_id = p.team_id
            WHERE (p.id + m.person_id) % 3 <> 0"""))
        conn.execute(text("""
            INSERT INTO escalation (team_id, subject, trigger, ref, summary, state, level,
                                    pages_at_level, policy, opened_at, opened_by, acked_at)
            SELECT t.id, 'bench:' || t.id || ':' || d, 'reconcile', 'C-' || d, 'open',
                   CASE WHEN d % 11 = 0 THEN 'open' WHEN d % 3 = 0 THEN 'acknowledged'
                        ELSE 'resolved' END, 0, 1, '{}', o, 'scheduler',
                   CASE WHEN d % 11 <> 0 THEN o + (3 + d % 20) * interval '1 minute' END
            FROM team t, generate_series(0, :days - 1) d,
                 LATERAL (SELECT (:first)::timestamptz + d * interval '1 day'
                                 + interval '18 hours' AS o) x"""), {**first, "days": DAYS})
        conn.execute(text("""
            INSERT INTO action (team_id, title, owner_id, risk, due, review_days, next_review,
                                state, version, created_at, created_by_id)
            SELECT t.id, 'Action ' || n, (SELECT min(id) FROM person), 'other',
                   DATE '2026-11-20' + n * 7, 14, DATE '2026-11-30',
                   CASE WHEN n % 4 = 0 THEN 'closed' ELSE 'open' END, 1,
                   TIMESTAMPTZ '2026-10-01 09:00+00', (SELECT min(id) FROM person)
            FROM team t, generate_series(0, 9) n"""))
        conn.execute(text("ANALYZE"))


def seed_lines(engine) -> None:
    """A year of the newer status lines' rows for every team, so they do real work too: routes
    confirmed most days (some late, some not), covers in the audit log, documentation samples
    (some audited, some defects, some on increased sampling) and referrals."""
    with engine.begin() as conn:
        if conn.execute(text("SELECT count(*) FROM referral")).scalar_one() == TEAMS * DAYS * 3:
            return
        conn.execute(text("DELETE FROM routecheck"))
        conn.execute(text("DELETE FROM docsample"))
        conn.execute(text("DELETE FROM referral"))
        first = {"first": f"{FIRST_DAY.isoformat()} 00:00+00", "days": DAYS}
        conn.execute(text("""
            INSERT INTO routecheck (team_id, day, at, by_id)
            SELECT t.id, (:first)::date + d,
                   (:first)::timestamptz + d * interval '1 day'
                   + CASE WHEN d % 6 = 0 THEN interval '10 hours' ELSE interval '8 hours' END,
                   (SELECT min(id) FROM person)
            FROM team t, generate_series(0, :days - 1) d WHERE d % 10 <> 3"""), first)
        conn.execute(text("""
            INSERT INTO auditevent (at, actor, transport, action, subject, detail, team, seq,
                                    prev_hash, hash)
            SELECT (:first)::timestamptz + d * interval '1 day' + interval '11 hours', 'bench',
                   'cli', 'contact:cover', 'B-' || t.id || '-' || d || '-0', '{}', t.key,
                   (SELECT coalesce(max(seq), 0) FROM auditevent)
                   + row_number() OVER (ORDER BY t.id, d), 'bench', 'bench'
            FROM team t, generate_series(0, :days - 1) d
            WHERE d % 3 = 0 AND NOT EXISTS (SELECT 1 FROM auditevent WHERE actor = 'bench')"""),
            first)  # the audit log is append-only: the covers go in once
        conn.execute(text("""
            INSERT INTO docsample (team_id, week, contact_id, person_id, reason, drawn_at, result,
                                   defect_code)
            SELECT c.team_id, to_char(c.due_start, 'IYYY-"W"IW'), c.id,
                   (SELECT id FROM person ORDER BY id OFFSET c.id % 4 LIMIT 1),
                   CASE WHEN c.id % 7 = 0 THEN 'increased' ELSE 'standard' END,
                   date_trunc('week', c.due_start) + interval '7 days 8 hours',
                   CASE c.id % 3 WHEN 0 THEN NULL WHEN 1 THEN 'ok' ELSE 'defect' END,
                   CASE WHEN c.id % 3 = 2
                        THEN (ARRAY['signature','late_entry','incomplete'])[1 + c.id / 3 % 3] END
            FROM contact c WHERE c.status = 'done' AND c.id % 37 = 0"""))
        conn.execute(text("""
            INSERT INTO referral (ref, team_id, source, basis, status, received_at, sampled,
                                  result)
            SELECT 'R-' || t.id || '-' || d || '-' || n, t.id, 'gp', 'discharge',
                   CASE WHEN n = 0 THEN 'pending' WHEN d % 5 = 0 THEN 'declined'
                        ELSE 'authorised' END,
                   (:first)::timestamptz + d * interval '1 day' + (9 + n) * interval '1 hour',
                   n = 1, CASE WHEN n = 1 AND d % 4 <> 0
                               THEN CASE WHEN d % 9 = 0 THEN 'wrong' ELSE 'ok' END END
            FROM team t, generate_series(0, :days - 1) d, generate_series(0, 2) n"""), first)
        conn.execute(text("ANALYZE"))


def reused(url: str):
    """The engine and contact count when the database already holds this seed at the current
    schema (building 2 million contacts takes minutes); (None, 0) otherwise."""
    from alembic.script import ScriptDirectory

    engine = make_engine(url)
    heads = set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())
    try:
        with engine.connect() as conn:
            stamped = {r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))}
            n = conn.execute(text("SELECT count(*) FROM contact WHERE source_id LIKE 'B-%'"))\
                .scalar_one()
    except Exception:  # noqa: BLE001 - empty or foreign database: build it
        stamped, n = set(), 0
    if stamped == heads and n == TEAMS * DAYS * PER_DAY:
        return engine, n
    engine.dispose()
    return None, 0


# The peer: the same figures as plain hand-written PostgreSQL, one statement per figure, the
# way a developer would write them for one team (checked equal to carebot's in main()).
HAND_WEEKS = """
    SELECT date_trunc('week', due_start AT TIME ZONE 'Europe/London') AS week, count(*),
           count(*) FILTER (WHERE status = 'done'), count(*) FILTER (WHERE status = 'missed'),
           count(*) FILTER (WHERE status = 'open' AND due_end < :now),
           count(*) FILTER (WHERE status = 'done' AND outcome_at <= due_end),
           count(*) FILTER (WHERE status = 'open' AND due_end >= :now)
    FROM contact WHERE team_id = :t AND due_start >= :lo AND due_start < :hi
    GROUP BY week ORDER BY week"""
HAND_FIRST = "SELECT min(due_start) FROM contact WHERE team_id = :t"
HAND_BASELINE = """
    SELECT count(*), count(*) FILTER (WHERE status = 'done'),
           count(*) FILTER (WHERE status = 'missed'),
           count(*) FILTER (WHERE status = 'open' AND due_end < :now),
           count(*) FILTER (WHERE status = 'done' AND outcome_at <= due_end),
           count(*) FILTER (WHERE status = 'open' AND due_end >= :now)
    FROM contact WHERE team_id = :t AND due_start >= :blo AND due_start < :bhi"""
HAND_SIDE = {
    "reasons": """SELECT coalesce(reason_code, 'none'), count(*) FROM contact
        WHERE team_id = :t AND status = 'missed' AND due_start >= :rlo AND due_start < :rhi
        GROUP BY 1""",
    "meds_late": """SELECT count(*) FROM medsexception x JOIN medsduty d ON d.id = x.duty_id
        WHERE x.team_id = :t AND d.due_at >= :rlo AND d.due_at < :rhi""",
    "meds_unrecorded": """SELECT count(*) FROM medsduty WHERE team_id = :t AND status = 'open'
        AND due_at >= :rlo AND due_at < LEAST(:rhi, :today_start)""",
    "incidents": """SELECT count(*), count(*) FILTER (WHERE closed_at <= due_at),
        count(*) FILTER (WHERE state = 'open' AND due_at > :now) FROM incident
        WHERE team_id = :t AND opened_at >= :rlo AND opened_at < :rhi""",
    "learning": """SELECT count(*),
        coalesce(sum((SELECT count(*) FROM learningack a WHERE a.point_id = p.id)), 0),
        count(*) * (SELECT count(*) FROM membership m JOIN person ON person.id = m.person_id
                    WHERE m.team_id = :t AND person.active)
        FROM learningpoint p WHERE p.team_id = :t AND p.at >= :rlo AND p.at < :rhi""",
    "escalations": """SELECT count(*) FILTER (WHERE opened_at >= :rlo AND opened_at < :rhi),
        count(*) FILTER (WHERE opened_at >= :rlo AND opened_at < :rhi AND acked_at IS NOT NULL),
        percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM acked_at - opened_at))
            FILTER (WHERE opened_at >= :rlo AND opened_at < :rhi AND acked_at IS NOT NULL),
        count(*) FILTER (WHERE state = 'open'), count(*) FILTER (WHERE state <> 'resolved')
        FROM escalation WHERE team_id = :t""",
    "actions": """SELECT CASE WHEN state = 'closed' THEN 'blue'
        WHEN due < :today OR next_review < :today THEN 'red'
        WHEN due <= :amber_by AND NOT EXISTS (SELECT 1 FROM actionevidence e
                                              WHERE e.action_id = a.id) THEN 'amber'
        ELSE 'green' END, count(*) FROM action a WHERE team_id = :t GROUP BY 1""",
    # The status lines added since (on time by kind, routes, covers, documentation sampling,
    # referrals): the peer computes them too, or it would be timing less than carebot shows.
    "by_kind": """SELECT kind, count(*) FILTER (WHERE status <> 'open' OR due_end < :now),
        count(*) FILTER (WHERE status = 'done'),
        count(*) FILTER (WHERE status = 'done' AND outcome_at <= due_end)
        FROM contact WHERE team_id = :t AND due_start >= :rlo AND due_start < :rhi
        GROUP BY kind""",
    "routes": """SELECT day, at FROM routecheck WHERE team_id = :t AND day >= :first
        AND day <= :last""",
    "covers": """SELECT count(*) FROM auditevent a JOIN team ON team.key = a.team
        WHERE team.id = :t AND a.action = 'contact:cover' AND a.at >= :rlo AND a.at < :rhi""",
    "documentation": """SELECT count(*), count(result),
        count(DISTINCT person_id) FILTER (WHERE reason = 'increased') FROM docsample
        WHERE team_id = :t AND drawn_at >= :rlo AND drawn_at < :rhi""",
    "defects": """SELECT defect_code, count(*) FROM docsample WHERE team_id = :t
        AND result = 'defect' AND drawn_at >= :rlo AND drawn_at < :rhi GROUP BY 1""",
    "referrals": """SELECT status, count(*), count(*) FILTER (WHERE sampled), count(result),
        count(*) FILTER (WHERE result = 'wrong') FROM referral
        WHERE team_id = :t AND received_at >= :rlo AND received_at < :rhi GROUP BY status""",
}
MEASURES = ("planned", "done", "missed", "unrecorded", "on_time", "pending")


def hand_figures(conn, team_id: int, period) -> dict:
    """The peer's figures for one team (the same statements the timing runs)."""
    windows, _ = status._windows(period, ZONE)
    chart = windows[1 + status.TREND_WEEKS:]
    today = NOW.astimezone(ZONE).date()
    p = {"t": team_id, "now": NOW, "lo": chart[0][0], "hi": chart[-1][1],
         "rlo": windows[0][0], "rhi": windows[0][1], "today": today,
         "today_start": day_bounds(today, ZONE)[0], "amber_by": today + timedelta(days=7),
         "first": period.first, "last": period.last}
    out = {"weeks": [dict(zip(MEASURES, r[1:])) for r in conn.execute(text(HAND_WEEKS), p)]}
    first = conn.execute(text(HAND_FIRST), p).scalar_one()
    start = status.monday(first.astimezone(ZONE).date())
    p["blo"], p["bhi"] = (day_bounds(start, ZONE)[0],
                          day_bounds(start + timedelta(weeks=status.TREND_WEEKS), ZONE)[0])
    out["baseline"] = dict(zip(MEASURES, conn.execute(text(HAND_BASELINE), p).one()))
    for name, sql in HAND_SIDE.items():
        out[name] = conn.execute(text(sql), p).all()
    return out


def hand_written(engine, team_id: int, period) -> float:
    t0 = time.perf_counter()
    with engine.connect() as conn:
        hand_figures(conn, team_id, period)
    return time.perf_counter() - t0


def same_figures(fig, hand: dict) -> None:
    """The peer computes what carebot shows, or the ratio means nothing."""
    e = fig.escalations
    ours = {"weeks": [{k: w[k] for k in MEASURES} for w in fig.weekly],
            "baseline": round(fig.baseline_pct, 6), "reasons": fig.reasons,
            "meds": (fig.meds_late, fig.meds_unrecorded),
            "incidents": tuple(fig.incidents.values()), "learning": tuple(fig.learning.values()),
            "escalations": (e["opened"], e["acked"], e["median_seconds"], e["open_now"],
                            e["unresolved"]),
            "actions": {k: v for k, v in fig.actions.items() if v},
            "by_kind": {k: (v["due"], v["done"], v["on_time"]) for k, v in fig.by_kind.items()},
            "routes_confirmed": fig.routes["on_time"] + fig.routes["late"], "covers": fig.covers,
            "documentation": fig.documentation,
            "referrals": {k: v for k, v in fig.referrals.items() if v}}
    [esc] = hand["escalations"]
    [(sampled, audited, increased)] = hand["documentation"]
    referrals: dict = {}
    for status_, n, n_sampled, validated, wrong in hand["referrals"]:
        for k, v in (("received", n), (status_, n), ("sampled", n_sampled),
                     ("validated", validated), ("wrong", wrong)):
            referrals[k] = referrals.get(k, 0) + v
    theirs = {"weeks": hand["weeks"], "baseline": round(missed_rate(hand["baseline"]), 6),
              "reasons": dict(hand["reasons"]),
              "meds": (hand["meds_late"][0][0], hand["meds_unrecorded"][0][0]),
              "incidents": tuple(hand["incidents"][0]), "learning": tuple(hand["learning"][0]),
              "escalations": (esc[0], esc[1], None if esc[2] is None else float(esc[2]),
                              esc[3], esc[4]),
              "actions": dict(hand["actions"]),
              "by_kind": {k: tuple(v) for k, *v in hand["by_kind"]},
              "routes_confirmed": len(hand["routes"]), "covers": hand["covers"][0][0],
              "documentation": {"sampled": sampled, "audited": audited,
                                "defects": dict(hand["defects"]), "increased": increased},
              "referrals": {k: v for k, v in referrals.items() if v}}
    assert ours == theirs, f"carebot {ours} != hand-written {theirs}"


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def statements(engine, fn) -> int:
    """How many statements fn sends (round trips), to print beside the times."""
    sent = []
    listener = lambda *args: sent.append(1)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return len(sent)


def main() -> None:
    url = os.environ.get("CAREBOT_TEST_DATABASE_URL")
    if not url:
        print("skipped: needs PostgreSQL (set CAREBOT_TEST_DATABASE_URL)")
        record("status figures, one team", "skipped", "needs PostgreSQL", None, "≤ 1.2×", False)
        return
    with tempfile.TemporaryDirectory() as d:
        use_files_dir(d)
        target = bench_database(url, "_status")
        engine, n = reused(target)
        if engine is None:
            engine = fresh(target, Path(d))
            t0 = time.perf_counter()
            n = seed(engine)
            how = f"seeded in {time.perf_counter() - t0:.1f} s"
        else:
            how = "reused from an earlier run"
        seed_side(engine)
        seed_lines(engine)
        print(f"postgresql: {n:,} contacts in {TEAMS} teams over {DAYS} days ({how})")
        with session_scope(engine) as session:
            team = session.get(Team, 42)
            period = status.period_from("last week", NOW.astimezone(ZONE).date(), NOW, ZONE)

            def figures():
                return status.figures(session, [team], period, NOW, ZONE)

            def report():
                return status.report(session, [team], period, NOW, ZONE, "bench")

            with engine.connect() as conn:
                same_figures(figures()[0], hand_figures(conn, team.id, period))
            report(), hand_written(engine, team.id, period)  # warm caches
            ours = statements(session.get_bind(), figures)
            peers = statements(engine, lambda: hand_written(engine, team.id, period))
            figs, hands = [], []
            for _ in range(RUNS):  # interleaved, so both see the same load
                figs.append(timed(figures))
                hands.append(hand_written(engine, team.id, period))
            fig, hand = statistics.median(figs) * 1000, statistics.median(hands) * 1000
            full = statistics.median(timed(report) for _ in range(RUNS // 3)) * 1000
            planned = figures()[0].contacts["planned"]
            teams = list(session.exec(select(Team)))
            every = statistics.median(timed(lambda: status.figures(session, teams, period, NOW, ZONE))
                                      for _ in range(3)) * 1000
        print(f"status for one team (last week: {planned} planned), median of {RUNS}, interleaved:")
        print(f"  figures (SQL aggregates): {fig:.1f} ms in {ours} statements; whole report with "
              f"chart: {full:.1f} ms (goal < 300 ms)")
        print(f"  hand-written SQL, same figures (checked equal): {hand:.1f} ms in {peers} "
              f"statements; figures / hand-written ratio {fig / hand:.2f} (goal ≤ 1.2)")
        print(f"  a manager's report, all {TEAMS} teams + overall (figures): {every:.0f} ms")
        record("status figures, one team, 2M contacts (PostgreSQL)", f"{fig:.1f} ms",
               f"{hand:.1f} ms hand-written SQL", fig / hand, "≤ 1.2×", fig / hand <= 1.2)
        record("status report with chart, one team", f"{full:.0f} ms", "—", None, "< 300 ms",
               full < 300)
        engine.dispose()


if __name__ == "__main__":
    main()
