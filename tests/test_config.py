"""Config errors name the key; defaults follow DESIGN.md."""
from __future__ import annotations

import pytest

from bot.config import ConfigError, load_config


def write(tmp_path, text: str):
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def problems(tmp_path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    return [p.split(": ", 1)[1] for p in err.value.problems]


def test_defaults(tmp_path):
    config = load_config(write(tmp_path, '[[teams]]\nkey = "north"\nname = "North"\n'))
    team = config.teams[0]
    assert (team.timezone, team.morning_post, team.reconcile) == ("Europe/London", "07:30", "17:30")
    assert [c.code for c in config.reason_codes] == [
        "unavailable", "hospital", "refused", "no_reply", "safety", "staffing", "weather", "rota",
        "other"]
    assert (config.escalation.ack_timeout_minutes, config.escalation.repeats) == (15, 2)


def test_each_problem_names_its_key(tmp_path):
    assert problems(tmp_path, 'timezone = "Mars/Base"\n[[teams]]\nkey = "n"\nname = "N"\n') == [
        "timezone: unknown time zone 'Mars/Base' (e.g. 'Europe/London')"]
    assert problems(tmp_path, '[[teams]]\nkey = "n"\nname = "N"\nreconcile = "25:00"\ncolour = 1\n') == [
        "teams[0].reconcile: expected HH:MM (24-hour), got '25:00'",
        "teams[0].colour: unknown key (check the spelling against README.md, \"Configuration\")"]
    assert problems(tmp_path, '[[teams]]\nkey = "n"\nname = "N"\n[[people]]\nhandle = "a"\n'
                              'name = "A"\nrole = "boss"\n') == [
        "people[0].role: Input should be 'staff', 'supervisor', 'manager' or 'nominated'"]
    assert problems(tmp_path, '[[teams]]\nkey = "n"\nname = "N"\n[[teams]]\nkey = "n"\nname = "M"\n') == [
        "teams[1].key: 'n' is used twice"]
    assert problems(tmp_path, "teams = []\n")[0].startswith("teams: List should have at least 1 item")


def test_not_toml(tmp_path):
    assert "not valid TOML" in problems(tmp_path, "[[teams]\n")[0]


def test_a_team_overrides_the_default_escalation_policy(tmp_path):
    config = load_config(write(tmp_path, '[escalation]\nrepeats = 3\n'
                                         '[[teams]]\nkey = "north"\nname = "N"\n'
                                         '[teams.escalation]\nack_timeout_minutes = 10\n'
                                         '[[teams]]\nkey = "south"\nname = "S"\n'))
    north, south = (config.policy(t) for t in config.teams)
    assert (north["ack_timeout_minutes"], north["repeats"]) == (10, 3)
    assert (south["ack_timeout_minutes"], south["repeats"]) == (15, 3)
    assert "escalation.repeats: Input should be less than or equal to 5" in problems(
        tmp_path, '[escalation]\nrepeats = 9\n[[teams]]\nkey = "n"\nname = "N"\n')


def test_the_files_folder_is_the_environments_carebot_files_dir(tmp_path, monkeypatch):
    from bot.app import build_app
    from bot.settings import Settings
    from storage.db import files_dir

    monkeypatch.setenv("CAREBOT_CONFIG", str(write(tmp_path, '[[teams]]\nkey = "n"\nname = "N"\n')))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'c.db'}")
    monkeypatch.setenv("CAREBOT_FILES_DIR", str(tmp_path / "charts"))
    build_app(Settings()).engine.dispose()
    assert files_dir() == tmp_path / "charts" and files_dir().is_dir()


def test_a_team_with_no_medicines_or_escalation_keys_gets_the_one_set_of_defaults(tmp_path):
    from handlers.meds_rounds import MedicinesConfig, settings
    from handlers.paging import EscalationPolicy, team_policy
    from storage.models import Team

    config = load_config(write(tmp_path, '[[teams]]\nkey = "n"\nname = "N"\n'))
    team = Team(key="n", name="N", escalation=config.policy(config.teams[0]),
                medicines=config.teams[0].medicines())
    assert team_policy(team) == team_policy(Team(key="x", name="X")) == EscalationPolicy()
    assert settings(team).model_dump(include=set(MedicinesConfig.model_fields)) == \
        MedicinesConfig().model_dump() == settings(Team(key="x", name="X")).model_dump(
            include=set(MedicinesConfig.model_fields))
