"""The Alembic migrations build exactly the schema the models describe, on both databases."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import storage.models  # noqa: F401


def test_migrations_match_the_models(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_an_existing_database_upgrades_with_its_rows(tmp_path):
    """A database made before the action tracker keeps its teams and people, and the teams get
    the weekly report's default time (SQLite rebuilds the table to add the column)."""
    from sqlalchemy import text

    from storage.db import make_engine, upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}", upgrade_sqlite=False)
    upgrade(engine, "0003_meds")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO team (key, name, zone, morning_post, reconcile, escalation, "
                          "medicines) VALUES ('north', 'North', 'Europe/London', '07:30', "
                          "'17:30', '{}', '{}')"))
        conn.execute(text("INSERT INTO person (handle, name, role, oncall, active) "
                          "VALUES ('amira', 'Amira', 'supervisor', 1, 1)"))
        conn.execute(text("INSERT INTO membership (person_id, team_id, position) VALUES (1, 1, 0)"))
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT key, weekly_status FROM team")).all() == [("north", "mon 09:00")]
        assert conn.execute(text("SELECT count(*) FROM membership")).scalar_one() == 1
