"""The demo teams and today's contacts in a fresh SQLite database, for the transport benches."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import Session, select

from bot.app import App
from bot.config import load_config
from bot.demo import CONFIG, demo_rows
from bot.settings import Settings
from handlers.base import SimClock
from storage import repo
from storage.db import make_engine, session_scope
from storage.importer import import_contacts
from storage.models import Person, Team
from tests.conftest import write_csv


def demo_app(tmp: Path, settings: Settings, *, team: dict, amira: dict) -> App:
    """North bound to a chat (`team` fields) and amira linked (`amira` fields), clock 08:00."""
    config_path = tmp / "carebot.toml"
    config_path.write_text(CONFIG)
    engine = make_engine(f"sqlite:///{tmp / 'bench.db'}")
    config = load_config(config_path)
    with session_scope(engine) as session:
        repo.sync_config(session, config)
    import_contacts(engine, write_csv(tmp / "c.csv", demo_rows(datetime(2026, 11, 24).date())))
    with Session(engine) as session:
        north = session.exec(select(Team).where(Team.key == "north")).one()
        person = session.exec(select(Person).where(Person.handle == "amira")).one()
        for row, values in ((north, team), (person, amira)):
            for name, value in values.items():
                setattr(row, name, value)
        session.add_all([north, person])
        session.commit()
    return App(settings=settings, config=config, engine=engine,
               clock=SimClock(datetime(2026, 11, 24, 8, tzinfo=UTC)))
