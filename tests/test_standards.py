"""Contract standards by kind ([standards]): the import's window from event_at, on time by kind
in the status (judged on the time `done REF at=HH:MM` gives), and a bad length refused."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.config import ConfigError, load_config
from storage import repo
from storage.db import session_scope
from storage.importer import COLUMNS, OPTIONAL_COLUMNS, ImportRejected, import_contacts
from tests.conftest import CONFIG, contact, run, write_csv


def standards(app, top: dict, north: dict | None = None) -> None:
    """Set [standards] (and North's own), as carebot.toml lines would, and resync."""
    teams = [t.model_copy(update={"standards": north or {}}) if t.key == "north" else t
             for t in app.config.teams]
    app.config = app.config.model_copy(update={"standards": top, "teams": teams})
    with session_scope(app.engine) as session:
        repo.sync_config(session, app.config)


def row(cid: str, ref: str, kind: str, event_at: str = "", team: str = "north", **more) -> dict:
    return {"contact_id": cid, "client_ref": ref, "team": team, "kind": kind, "due_start": "",
            "due_end": "", "assignee": "ben", "risk": "low", "time_critical": "",
            "event_at": event_at, **more}


def test_event_at_and_a_standard_give_the_window(app, tmp_path):
    standards(app, {"post_discharge": "48h", "review": "6w"}, north={"review": "3d"})
    rows = [row("S-1", "C-S001", "post_discharge", "2026-11-23T14:00"),
            row("S-2", "C-S002", "review", "2026-11-23T14:00"),  # North's own: 3 days
            row("S-3", "C-S003", "review", "2026-11-23T14:00", team="south"),  # the file's 6 weeks
            # a window given wins over the standard
            row("S-4", "C-S004", "post_discharge", "2026-11-20T09:00",
                due_start="2026-11-24T09:00", due_end="2026-11-24T10:00")]
    import_contacts(app.engine, write_csv(tmp_path / "std.csv", rows, COLUMNS + OPTIONAL_COLUMNS))
    got = {cid: contact(app.engine, cid) for cid in ("S-1", "S-2", "S-3", "S-4")}
    assert got["S-1"].due_start == datetime(2026, 11, 23, 14, tzinfo=UTC)
    assert got["S-1"].due_end == datetime(2026, 11, 25, 14, tzinfo=UTC)
    assert got["S-2"].due_end == datetime(2026, 11, 26, 14, tzinfo=UTC)
    assert got["S-3"].due_end == datetime(2026, 11, 23, 14, tzinfo=UTC) + timedelta(weeks=6)
    assert (got["S-4"].due_start, got["S-4"].due_end) == (
        datetime(2026, 11, 24, 9, tzinfo=UTC), datetime(2026, 11, 24, 10, tzinfo=UTC))


def test_a_row_with_no_window_and_no_standard_is_a_bad_line(app, tmp_path):
    standards(app, {"post_discharge": "48h"})
    rows = [row("S-1", "C-S001", "post_discharge", "2026-11-23T14:00"),
            row("S-2", "C-S002", "home_visit", "2026-11-23T14:00"),
            row("S-3", "C-S003", "post_discharge"),
            row("S-4", "C-S004", "post_discharge", "yesterday")]
    with pytest.raises(ImportRejected) as err:
        import_contacts(app.engine, write_csv(tmp_path / "bad.csv", rows,
                                              COLUMNS + OPTIONAL_COLUMNS))
    problems = err.value.problems
    assert len(problems) == 3
    assert problems[0].startswith("bad.csv: line 3: no window: kind 'home_visit' has no "
                                  "contract standard")
    assert problems[1].startswith("bad.csv: line 4: no window: due_start and due_end are empty")
    assert problems[2].startswith("bad.csv: line 5: event_at 'yesterday' is not an ISO 8601")
    assert contact_count(app) == 28  # nothing written


def contact_count(app) -> int:
    from storage.models import Contact
    from tests.conftest import count

    return count(app.engine, Contact)


def test_a_file_without_event_at_still_imports(app, tmp_path):
    rows = [row("S-1", "C-S001", "home_visit", due_start="2026-11-24T09:00",
                due_end="2026-11-24T10:00")]
    for r in rows:
        r.pop("event_at")
    assert import_contacts(app.engine, write_csv(tmp_path / "old.csv", rows)).inserted == 1


@pytest.mark.parametrize("value, says", [
    ('post_discharge = "2 days"', 'standards: post_discharge: expected a length like "48h", '
                                  '"3d" or "6w", got \'2 days\''),
    ('discharge = "48h"', "standards: 'discharge' is not a contact kind"),
    ('review = "0w"', 'standards: review: expected a length like'),
])
def test_a_bad_standard_is_one_clear_line(tmp_path, value, says):
    path = tmp_path / "carebot.toml"
    path.write_text(CONFIG + f"\n[standards]\n{value}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert len(err.value.problems) == 1 and says in err.value.problems[0]


def test_on_time_by_kind_is_judged_on_the_visit_time_not_when_typed(app, tmp_path):
    """Both windows close at 09:00 on Tuesday; both are logged at 10:00. The one given
    at=08:45 was on time, the other was not, and the status says so per kind."""
    standards(app, {"post_discharge": "24h"})
    rows = [row("S-1", "C-S001", "post_discharge", "2026-11-23T09:00"),
            row("S-2", "C-S002", "post_discharge", "2026-11-23T09:00")]
    import_contacts(app.engine, write_csv(tmp_path / "std.csv", rows, COLUMNS + OPTIONAL_COLUMNS))
    app.clock.set(datetime(2026, 11, 24, 10, 0, tzinfo=UTC))
    assert run(app, "ben", "done C-S001 at=08:45").ok
    assert run(app, "ben", "done C-S002").ok
    assert contact(app.engine, "S-1").outcome_at == datetime(2026, 11, 24, 8, 45, tzinfo=UTC)
    text = run(app, "amira", "status").plain()
    north = text.split("South Community Team")[0] if "South" in text else text
    assert "On time by kind: post discharge 1 of 2" in north


def test_a_teams_own_standards_in_toml_go_over_the_files(tmp_path):
    north, rest = CONFIG.split("[[teams]]\nkey = \"south\"", 1)
    text = (north + '[teams.standards]\nreview = "4w"\n\n[[teams]]\nkey = "south"' + rest
            + '\n[standards]\nreview = "6w"\npost_discharge = "48h"\n')
    path = tmp_path / "carebot.toml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    week = 7 * 86400
    assert config.team_standards(config.team("north")) == {"review": 4 * week,
                                                           "post_discharge": 2 * 86400}
    assert config.team_standards(config.team("south"))["review"] == 6 * week
