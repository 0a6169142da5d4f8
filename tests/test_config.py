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
