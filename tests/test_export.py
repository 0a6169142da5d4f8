"""The evidence pack: `carebot export` writes CSVs that round-trip and one HTML report that
opens standalone; `status export` hands a manager the last 4 weeks as a zip."""
from __future__ import annotations

import csv
import zipfile
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from handlers.export import build_pack
from storage import repo
from storage.db import session_scope
from storage.models import Escalation, Reconciliation

from tests.conftest import run
from tests.test_cli import carebot
from tests.test_status import seed

TABLES = ["reconciliations", "contacts", "escalations", "escalation_timeline",
          "medicines_exceptions", "medicines_checks", "learning_points",
          "learning_acknowledgements", "incidents", "actions", "action_versions",
          "action_evidence", "weekly_metrics", "audit",
          "routes", "covers", "on_time_by_kind", "action_milestones", "documentation_sample",
          "referrals"]


def rows(folder: Path, name: str) -> list[dict]:
    with (folder / f"{name}.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.tags, self.ids = [], set(), []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]
        self.ids += [v for k, v in attrs if k == "id"]


@pytest.fixture
def pack(app, tmp_path) -> Path:
    seed(app.engine)
    run(app, "amira", 'action add "Evening meds late" owner=@amira due="in 6 weeks" '
                      'risk=medicines finding="Inspection 2026-10"')
    run(app, "amira", 'action evidence A-4 audit "MAR audit week 3: 2 late of 140"')
    out = tmp_path / "pack"
    env = {"CAREBOT_CONFIG": str(app.settings.config_path),
           "DATABASE_URL": app.engine.url.render_as_string(hide_password=False)}
    # The pack's RAG is as of the day it is made: the day the data was seeded for.
    result = carebot("export", "--from", "2026-09-28", "--to", "2026-11-22", "--out", str(out),
                     env=env, at=app.clock.now())
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"wrote {len(TABLES) + 2} files to ")
    return out


def test_csvs_hold_the_evidence_and_round_trip(pack):
    assert sorted(p.stem for p in pack.glob("*.csv")) == sorted(TABLES)
    contacts = rows(pack, "contacts")
    assert len(contacts) == 80 and {c["team"] for c in contacts} == {"north"}
    assert contacts[0]["due_start"] == "2026-09-30T09:00:00+00:00"  # 10:00 BST
    assert sum(c["status"] == "missed" for c in contacts) == sum([4, 4, 3, 3, 2, 2, 1, 1])
    assert [(e["escalation"], e["state"]) for e in rows(pack, "escalations")] == \
        [("E-1", "acknowledged"), ("E-2", "acknowledged"), ("E-3", "open")]
    assert [(i["incident"], i["within_7_days"]) for i in rows(pack, "incidents")] == \
        [("INC-1", "yes"), ("INC-2", "no"), ("INC-3", "no")]
    assert len(rows(pack, "learning_acknowledgements")) == 4
    assert len(rows(pack, "medicines_exceptions")) == 3
    actions = {a["action"]: a for a in rows(pack, "actions")}
    assert {k: a["rag"] for k, a in actions.items()} == \
        {"A-1": "red", "A-2": "green", "A-3": "blue", "A-4": "green"}
    assert [v["change"] for v in rows(pack, "action_versions")] == ["created", "evidence: audit"]
    week = next(w for w in rows(pack, "weekly_metrics") if w["week_start"] == "2026-11-16")
    assert (week["planned"], week["missed"], week["missed_rate_pct"], week["on_time_pct"],
            week["meds_late"]) == ("10", "1", "10.0", "88.9", "2")
    # Round trip: writing what was read back gives the same file, byte for byte.
    for name in TABLES:
        original = (pack / f"{name}.csv").read_bytes()
        read = rows(pack, name)
        again = pack / f"{name}.again.csv"
        with again.open("w", newline="", encoding="utf-8") as fh:
            columns = original.decode().splitlines()[0].split(",")
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(read)
        assert again.read_bytes() == original, name


def test_html_report_opens_standalone(pack):
    page = (pack / "report.html").read_text(encoding="utf-8")
    links = Links()
    links.feed(page)
    images = [r for r in links.refs if not r.startswith("#")]
    assert images and all(r.startswith("data:image/png;base64,") for r in images)
    anchors = [r[1:] for r in links.refs if r.startswith("#")]
    assert anchors and set(anchors) <= set(links.ids)  # every contents link has its target
    assert len(links.ids) == len(set(links.ids))
    assert not {"script", "link", "iframe"} & links.tags
    assert "http://" not in page and "https://" not in page
    for name, heading in (("reconciliations", "Daily reconciliation log"),
                          ("escalations", "Escalations"),
                          ("medicines_exceptions", "Medicines exceptions"),
                          ("learning_points", "Handover learning points"),
                          ("incidents", "Incidents and their 7-day learning clocks"),
                          ("actions", "Action plan (CAP / CQC)"),
                          ("action_versions", "Action plan versions"),
                          ("weekly_metrics", "Weekly metrics")):
        assert f'<h3 id="t-{name}">{heading}</h3>' in page
        assert f'<a href="#t-{name}">{heading}</a>' in page
    assert "MAR audit week 3: 2 late of 140" in page


def test_bad_dates_exit_2_and_write_nothing(app, tmp_path):
    env = {"CAREBOT_CONFIG": str(app.settings.config_path),
           "DATABASE_URL": app.engine.url.render_as_string(hide_password=False)}
    result = carebot("export", "--from", "1 Oct", "--to", "2026-11-30", "--out",
                     str(tmp_path / "p"), env=env)
    assert result.returncode == 2 and "use YYYY-MM-DD" in result.stderr
    assert not (tmp_path / "p").exists()


def test_out_refuses_a_folder_with_files_unless_forced(app, tmp_path):
    env = {"CAREBOT_CONFIG": str(app.settings.config_path),
           "DATABASE_URL": app.engine.url.render_as_string(hide_password=False)}
    out = tmp_path / "pack"
    out.mkdir()
    (out / "notes.txt").write_text("an earlier pack", encoding="utf-8")
    args = ("export", "--from", "2026-11-01", "--to", "2026-11-07", "--out", str(out))
    refused = carebot(*args, env=env)
    assert refused.returncode == 2 and "is not empty" in refused.stderr
    assert "--force" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    forced = carebot(*args, "--force", env=env)
    assert forced.returncode == 0, forced.stderr
    assert (out / "report.html").exists() and (out / "notes.txt").exists()


def test_status_export_gives_a_manager_the_last_four_full_weeks_as_a_zip(app, tmp_path,
                                                                         monkeypatch):
    seed(app.engine)
    assert not run(app, "amira", "status export").ok
    reply = run(app, "dan", "status export")  # on Tuesday 24 Nov
    assert reply.plain().startswith("Evidence pack for the last 4 full weeks, Mon 26 Oct – "
                                    "Sun 22 Nov 2026 (this week so far is not in it): "
                                    f"{len(TABLES)} CSV files")
    [archive] = reply.files
    assert archive.mime == "application/zip"
    with zipfile.ZipFile(archive.path) as z:
        names = set(z.namelist())
        assert {f"{t}.csv" for t in TABLES} | {"report.html", "weekly_trend.png"} == names
        weekly = z.read("weekly_metrics.csv").decode().splitlines()
    assert weekly[0].startswith("team,week_start,planned")
    assert "north,2026-11-16,10,9,1,0,8,10.0,88.9,2,0,0" in weekly
    # Whole weeks: four Mondays per team, none clipped, none after last Sunday.
    starts = [line.split(",")[1] for line in weekly[1:] if line.startswith("north,")]
    assert starts == ["2026-10-26", "2026-11-02", "2026-11-09", "2026-11-16"]


@pytest.fixture
def report(app, tmp_path) -> str:
    """One team's pack on Tuesday 24 Nov 2026: 8 weeks of work, a CQC request and an action
    whose deadline moved."""
    seed(app.engine)
    run(app, "amira", 'action add "Evening meds late" owner=@amira due="in 6 weeks" '
                      'risk=medicines finding="Inspection 2026-10"')
    assert run(app, "dan", 'action update A-4 due="31 Jan 2027"').ok
    assert run(app, "dan", "plan cqc 20 Nov 2026").ok
    with session_scope(app.engine) as session:
        [north] = [t for t in repo.all_teams(session) if t.key == "north"]
        # A summer reconciliation at 17:30 BST, and an escalation that ran under a 5-minute
        # timeout frozen when it opened, acknowledged after 8 (in time for the team's 15).
        session.add(Reconciliation(team_id=north.id, day=date(2026, 9, 30), planned=10,
                                   completed=9, missed=1, run_at=datetime(2026, 9, 30, 16, 30,
                                                                          tzinfo=UTC),
                                   run_by="scheduler"))
        opened = datetime(2026, 11, 19, 9, 0, tzinfo=UTC)
        session.add(Escalation(team_id=north.id, subject="contact:x9", trigger="reconcile",
                               ref="C-E9", summary="open", opened_at=opened, opened_by="scheduler",
                               state="acknowledged", policy={"ack_timeout_minutes": 5},
                               acked_at=opened + timedelta(minutes=8)))
        session.flush()
        build_pack(session, [north], date(2026, 9, 28), date(2026, 11, 22), app.clock.now(),
                   ZoneInfo("Europe/London"), tmp_path / "pack")
    # Dates and times hold no-break spaces (they never wrap): read them as the eye does.
    return (tmp_path / "pack" / "report.html").read_text(encoding="utf-8").replace("\u00a0", " ")


def test_report_reads_as_an_inspector_asks(report, tmp_path):
    # Times in the team's zone, the zone named: 09:00 UTC in summer is 10:00 BST.
    assert "Europe/London" in report and "+00:00" not in report
    assert "<td>30 Sep 2026 10:00 BST</td>" in report and "<td>18 Nov 2026 11:00 GMT</td>" in report
    assert "<td>30 Sep 2026 17:30 BST</td>" in report  # the reconciliation's run
    # The headline's rates come first, before the contents and every section.
    headline = report[report.index('id="headline"'):report.index('id="contents"')]
    for label, value in [("Missed-visit rate", "28.8 %"), ("On-time rate", "93.0 %"),
                         ("Medicines late entries", "3"),
                         ("Escalations acknowledged in time", "50.0 %"),
                         ("Incidents learned within 7 days", "50.0 %")]:
        assert f'<div class="label">{label}</div>\n<div class="value">{value}</div>' in headline
    assert "1 of 2 closed with their learning in 7 days" in headline  # INC-3: clock running
    assert "2 of 4 within the ack timeout (5 / 15 min)" in headline  # E-3: never acknowledged
    order = [report.index(f'<section id="{s}">') for s in
             ("headline", "escalations", "incidents", "medicines", "actions", "reconciliations",
              "contacts")]
    assert order == sorted(order) and report.index('id="contents"') < order[1]
    # Versions as readable changes, never the raw snapshot.
    assert "due 5 Jan 2027 → 31 Jan 2027" in report and '"due":' not in report
    # The CQC request and its 28-day deadline.
    assert "CQC action plan due Fri 18 Dec 2026 (not yet submitted, 24 days left; request " \
           "received Fri 20 Nov 2026, 28 days to submit)." in report
    assert '<div class="value">due 18 Dec 2026</div>\n<div class="detail">24 days left' in headline
    # One team: the chart carries its own name.
    chart = (tmp_path / "pack" / "weekly_trend.png").read_bytes()
    assert b"North Community Team: contacts by week" in chart
    assert b"All teams in the pack" not in chart
