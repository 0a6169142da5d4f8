"""The demo teams and today's contacts in a fresh SQLite database, for the transport benches."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.app import App
from bot.config import load_config
from bot.demo import CONFIG, demo_rows
from bot.settings import Settings
from handlers.base import SimClock
from storage import repo
from storage.db import make_engine, session_scope
from storage.importer import import_contacts
from tests.conftest import link, write_csv


def demo_app(tmp: Path, settings: Settings, *, team: dict, amira: dict) -> App:
    """North bound to a chat (`team` fields) and amira linked (`amira` fields), clock 08:00."""
    config_path = tmp / "carebot.toml"
    config_path.write_text(CONFIG)
    engine = make_engine(f"sqlite:///{tmp / 'bench.db'}")
    config = load_config(config_path)
    with session_scope(engine) as session:
        repo.sync_config(session, config)
    import_contacts(engine, write_csv(tmp / "c.csv", demo_rows(datetime(2026, 11, 24).date())))
    link(engine, team=team, people={"amira": amira})
    return App(settings=settings, config=config, engine=engine,
               clock=SimClock(datetime(2026, 11, 24, 8, tzinfo=UTC)))
