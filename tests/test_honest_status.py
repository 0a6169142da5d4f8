"""Honest status figures: a week in progress says how far it runs, a rate on too few contacts
is shown as counts (no percentage, no arrow), and the chart draws and marks the week in
progress as partial."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from bot.demo import CONFIG
from storage.importer import import_contacts
from tests.conftest import run, write_csv

MONDAY_8AM = datetime(2026, 11, 30, 8, 0, tzinfo=ZoneInfo("Europe/London"))
EARLY = {"contact_id": "N-20261130-001", "client_ref": "C-1AAA", "team": "north",
         "kind": "home_visit", "due_start": "2026-11-30T06:00", "due_end": "2026-11-30T07:30",
         "assignee": "ben", "risk": "low", "time_critical": "false"}


@pytest.fixture
def monday(app, tmp_path, monkeypatch):
    """Monday 30 Nov 08:00: one contact so far this week, missed."""
    import_contacts(app.engine, write_csv(tmp_path / "monday.csv", [EARLY]))
    app.clock.set(MONDAY_8AM)
    assert run(app, "amira", "missed C-1AAA staffing").ok
    return app


def north(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index("North Community Team") + 1
    return lines[start:start + 3]


def test_monday_8am_with_one_miss_shows_counts_not_a_rate(monday):
    reply = run(monday, "amira", "status")
    text = reply.plain()
    assert text.splitlines()[0] == "Weekly status · Mon 30 Nov 2026 so far (to Mon 08:00)"
    assert north(text) == [
        "1 planned · 0 done · 1 missed · 0 not recorded",
        "Missed or not recorded: 1 of 1 due (no rate or trend on fewer than 20 contacts)",
        "On time (within the contract window): 0 of 0 done"]
    assert "%" not in text and "▲" not in text and "▼" not in text


def test_the_chart_draws_and_marks_the_week_in_progress_as_partial(monday):
    [chart] = run(monday, "amira", "status").files
    meta = Image.open(chart.path).text
    assert meta["Partial"] == "2026-11-30 to 2026-11-30T08:00"
    assert meta["Description"].endswith("; partial: 2026-11-30 to 2026-11-30T08:00")
    assert meta["Description"].startswith("weeks: 2026-10-12, ") and ", 2026-11-30;" in meta["Description"]
    # Last week, asked on Monday, is complete: no "so far", nothing partial.
    reply = run(monday, "amira", "status last week")
    assert reply.plain().splitlines()[0] == "Weekly status · Mon 23 Nov – Sun 29 Nov 2026"
    assert "Partial" not in Image.open(reply.files[0].path).text
    assert "partial" not in Image.open(reply.files[0].path).text["Description"]


def test_the_threshold_is_configurable_top_level_and_per_team(monday, tmp_path):
    from bot.config import load_config
    from storage import repo
    from storage.db import session_scope

    # Top level: rates from 50 contacts; North overrides it with 1.
    path = tmp_path / "threshold.toml"
    path.write_text(CONFIG.replace('timezone = "Europe/London"\n',
                                   'timezone = "Europe/London"\nmin_contacts_for_rate = 50\n', 1)
                    .replace('reconcile = "17:30"\n', 'reconcile = "17:30"\nmin_contacts_for_rate = 1\n', 1),
                    encoding="utf-8")
    with session_scope(monday.engine) as session:
        repo.sync_config(session, load_config(path))
    text = run(monday, "dan", "status").plain()
    # North (threshold 1): a rate, with its arrow against the previous 4 weeks (24 Nov: 14
    # contacts never recorded, 100 %) ; South and all teams (threshold 50): counts.
    assert north(text)[1].startswith("Missed-visit rate 100.0 %: = 0.0 pts vs previous 4 weeks 100.0 %")
    south = text[text.index("\nSouth Community Team\n"):text.index("\nAll teams\n")]
    assert "Missed or not recorded: 0 of 0 due (no rate or trend on fewer than 50 contacts)" in south
    overall = text[text.index("\nAll teams\n"):]
    assert "Missed or not recorded: 1 of 1 due (no rate or trend on fewer than 50 contacts)" in overall


def test_a_bad_threshold_names_the_key(tmp_path):
    from bot.config import ConfigError, load_config

    path = tmp_path / "c.toml"
    path.write_text(CONFIG.replace('reconcile = "17:30"\n',
                                   'reconcile = "17:30"\nmin_contacts_for_rate = -1\n', 1),
                    encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert any("teams[0].min_contacts_for_rate" in p for p in exc.value.problems)
