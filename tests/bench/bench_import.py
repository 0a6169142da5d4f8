"""Import 100,000 generated contacts, then re-import the same file.

Prints time and rows/s for the first import, and rows written by the re-import (goal: 0),
beside a baseline measured in the same run: the same rows through plain csv.DictReader +
bulk INSERT with no validation or upsert logic. SQLite (a temp file) always; PostgreSQL too
when CAREBOT_TEST_DATABASE_URL is set.
"""
from __future__ import annotations

import csv
import os
import resource
import statistics
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text
from sqlmodel import SQLModel

from bot.config import load_config
from bot.demo import CONFIG
from storage import repo
from storage.db import make_engine, session_scope, upgrade
from storage.importer import COLUMNS, import_contacts
from storage.models import Client, Contact
from tests.bench.table import record

N, RUNS = 100_000, 5


def write_file(path: Path) -> None:
    day = date(2026, 11, 24)
    people = ["amira", "ben", "chloe", ""]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for i in range(N):
            start = datetime(day.year, day.month, day.day, 8) + timedelta(minutes=i % 540)
            w.writerow([f"B-{i:06d}", f"C-{i % 20000:05d}", "north", "home_visit",
                        start.isoformat(timespec="minutes"),
                        (start + timedelta(hours=1)).isoformat(timespec="minutes"),
                        people[i % 4], ("high", "medium", "low")[i % 3], "false"])


def bench_database(url: str, suffix: str = "") -> str:
    """A database of the bench's own beside the test one, so a bench never disturbs tests
    (CAREBOT_BENCH_DATABASE_URL names it instead). `suffix`: a database apart, e.g. one the
    status bench keeps filled between runs."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    base = make_url(os.environ.get("CAREBOT_BENCH_DATABASE_URL")
                    or make_url(url).set(database="carebot_bench"))
    name = base.database + suffix
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                            {"n": name}).first():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def fresh(url: str, tmp: Path):
    engine = make_engine(url)
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            SQLModel.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade(engine)
    config_path = tmp / "carebot.toml"
    config_path.write_text(CONFIG)
    with session_scope(engine) as session:
        repo.sync_config(session, load_config(config_path))
    return engine


def baseline(engine, path: Path) -> float:
    """Plain reader + bulk insert of the same rows (a client the import made): the floor."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM contact"))
        client_id = conn.execute(text("SELECT min(id) FROM client")).scalar_one()
    t0 = time.perf_counter()
    with path.open(newline="") as fh, engine.begin() as conn:
        batch = []
        for row in csv.DictReader(fh):
            batch.append({"source_id": "X" + row["contact_id"], "client_id": client_id,
                          "team_id": 1, "kind": row["kind"], "due_start": datetime.fromisoformat(row["due_start"] + "+00:00"),
                          "due_end": datetime.fromisoformat(row["due_end"] + "+00:00"),
                          "time_critical": False, "status": "open"})
            if len(batch) == 2000:
                conn.execute(insert(Contact), batch)
                batch = []
        if batch:
            conn.execute(insert(Contact), batch)
    return time.perf_counter() - t0


def bench(label: str, url: str, tmp: Path, path: Path) -> None:
    """RUNS rounds of import, re-import and baseline on an emptied database: medians, and the
    median of each round's own ratio (the machine is shared; a round's runs are close in time)."""
    engine = fresh(url, tmp)
    firsts, agains, floors, written = [], [], [], []
    for _ in range(RUNS):
        with engine.begin() as conn:
            conn.execute(text(f"DELETE FROM {Contact.__tablename__}"))
            conn.execute(text(f"DELETE FROM {Client.__tablename__}"))
        t0 = time.perf_counter()
        first = import_contacts(engine, path)
        t1 = time.perf_counter()
        again = import_contacts(engine, path)
        t2 = time.perf_counter()
        firsts.append(t1 - t0)
        agains.append(t2 - t1)
        written.append(again.written)
        floors.append(baseline(engine, path))
    t_first, t_again, floor = map(statistics.median, (firsts, agains, floors))
    ratio = statistics.median(f / b for f, b in zip(firsts, floors))
    print(f"{label}: import {N:,} rows in {t_first:.2f} s ({N / t_first:,.0f} rows/s), "
          f"{first.inserted:,} inserted (median of {RUNS})")
    print(f"{label}: re-import in {t_again:.2f} s, rows written {max(written)} "
          f"(unchanged {again.unchanged:,})")
    print(f"{label}: baseline (plain csv + bulk insert) {floor:.2f} s; "
          f"import/baseline ratio {ratio:.2f} (median of the rounds' ratios)")
    record(f"import 100k contacts ({label})", f"{t_first:.2f} s", f"{floor:.2f} s bulk insert",
           ratio, "≤ 2×", ratio <= 2)
    record(f"re-import, rows written ({label})", str(max(written)), "", None, "0",
           max(written) == 0)
    engine.dispose()


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        path = tmp / "contacts.csv"
        write_file(path)
        print(f"file: {path.stat().st_size / 1e6:.1f} MB, {N:,} rows (goal: ≤ 2× baseline, 0 rows on re-import)")
        bench("sqlite", f"sqlite:///{tmp / 'bench.db'}", tmp, path)
        if os.environ.get("CAREBOT_TEST_DATABASE_URL"):
            bench("postgres", bench_database(os.environ["CAREBOT_TEST_DATABASE_URL"]), tmp, path)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of the bench process: {rss:.0f} MB")


if __name__ == "__main__":
    main()
