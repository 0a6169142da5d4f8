"""The evidence pack: `carebot export` writes CSVs that round-trip and one HTML report that
opens standalone; `status export` hands a manager the last 4 weeks as a zip."""
from __future__ import annotations

import csv
import zipfile
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import run
from tests.test_cli import carebot
from tests.test_status import seed

TABLES = ["reconciliations", "contacts", "escalations", "escalation_timeline",
          "medicines_exceptions", "medicines_checks", "learning_points",
          "learning_acknowledgements", "incidents", "actions", "action_versions",
          "action_evidence", "weekly_metrics", "audit"]


def rows(folder: Path, name: str) -> list[dict]:
    with (folder / f"{name}.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.tags = [], set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]


@pytest.fixture
def pack(app, tmp_path) -> Path:
    seed(app.engine)
    run(app, "amira", 'action add "Evening meds late" owner=@amira due="in 6 weeks" '
                      'risk=medicines finding="Inspection 2026-10"')
    run(app, "amira", 'action evidence A-4 audit "MAR audit week 3: 2 late of 140"')
    out = tmp_path / "pack"
    env = {"CAREBOT_CONFIG": str(app.settings.config_path),
           "DATABASE_URL": app.engine.url.render_as_string(hide_password=False)}
    result = carebot("export", "--from", "2026-09-28", "--to", "2026-11-22", "--out", str(out),
                     env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("wrote 16 files to ")
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
    assert links.refs and all(r.startswith("data:image/png;base64,") for r in links.refs)
    assert not {"script", "link", "iframe"} & links.tags
    assert "http://" not in page and "https://" not in page
    for heading in ("Daily reconciliation log", "Escalations", "Medicines exceptions",
                    "Handover learning points", "Incidents and their 7-day learning clocks",
                    "Action plan (CAP / CQC)", "Action plan versions", "Weekly metrics"):
        assert f"<h2>{heading}</h2>" in page
    assert "MAR audit week 3: 2 late of 140" in page


def test_bad_dates_exit_2_and_write_nothing(app, tmp_path):
    env = {"CAREBOT_CONFIG": str(app.settings.config_path),
           "DATABASE_URL": app.engine.url.render_as_string(hide_password=False)}
    result = carebot("export", "--from", "1 Oct", "--to", "2026-11-30", "--out",
                     str(tmp_path / "p"), env=env)
    assert result.returncode == 2 and "use YYYY-MM-DD" in result.stderr
    assert not (tmp_path / "p").exists()


def test_status_export_gives_a_manager_the_last_four_weeks_as_a_zip(app, tmp_path, monkeypatch):
    seed(app.engine)
    assert not run(app, "amira", "status export").ok
    reply = run(app, "dan", "status export")
    assert reply.plain().startswith("Evidence pack for 28 Oct – 24 Nov 2026: 14 CSV files")
    [archive] = reply.files
    assert archive.mime == "application/zip"
    with zipfile.ZipFile(archive.path) as z:
        names = set(z.namelist())
        assert {f"{t}.csv" for t in TABLES} | {"report.html", "weekly_trend.png"} == names
        weekly = z.read("weekly_metrics.csv").decode().splitlines()
    assert weekly[0].startswith("team,week_start,planned")
    assert "north,2026-11-16,10,9,1,0,8,10.0,88.9,2,0,0" in weekly
    assert date(2026, 10, 28).isoformat() in "\n".join(weekly)  # clipped first week
