"""The `carebot` command line as a deployment or a newcomer uses it: real subprocesses."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def carebot(*args: str, env: dict, stdin: str | None = None,
            at: datetime | None = None) -> subprocess.CompletedProcess:
    """`carebot ARGS` in a child process; at: its clock starts there (time-machine), for a
    command whose output depends on the day, checked against data seeded on a fixed date."""
    command = ["-m", "bot.cli", *args] if at is None else [
        "-c", "import sys, time_machine; time_machine.travel(sys.argv[1]).start(); "
              "from bot.cli import main; sys.exit(main(sys.argv[2:]))", at.isoformat(), *args]
    return subprocess.run([sys.executable, *command], cwd=ROOT, input=stdin,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=120)


@pytest.fixture
def demo(tmp_path) -> dict:
    result = carebot("demo", "--dir", str(tmp_path), env={})
    assert result.returncode == 0, result.stderr
    env = {"CAREBOT_CONFIG": str(tmp_path / "carebot.toml"),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'carebot.db'}"}
    result = carebot("import", "contacts", str(tmp_path / "contacts.csv"), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "28 rows: 28 new, 0 updated, 0 unchanged"
    return env


def test_piped_console_runs_the_daily_loop(demo):
    script = "\n".join(["/care due", "missed C-7F3K hospital", "done C-2M9Q", "missed C-9X2P",
                        "done C-NOPE", ":tick 10h", "help"]) + "\n"
    result = carebot("console", "--as", "amira", "--at", "08:00", env=demo, stdin=script)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "amira>" not in out and "\x1b[" not in out  # no prompts or colour when piped
    # The 07:30 posts (the morning medicines round, then the list) had just gone out when the
    # clock started at 08:00.
    assert out.startswith("[#north] North Community Team: morning medicines round ")
    assert "\n[#north] North Community Team: contacts due " in out
    assert "C-7F3K logged missed: Hospitalisation." in out
    assert "✓ C-2M9Q done at 08:00." in out
    assert "Why was C-9X2P missed?" in out
    assert "No contact 'C-NOPE'" in out
    # :tick 10h passes 17:30: the reconciliation appears by itself, for each team.
    eod = out.index("[#north] North Community Team: end of day")
    assert "Planned 14 · done 1 · missed 1 · open 12" in out[eod:]
    assert "[#south]" not in out  # not amira's team: `console --all` shows it
    assert "18:00 (Europe/London)" in out
    assert "reconcile [TEAM]" in out  # help lists every command


def test_config_error_names_the_key_and_touches_no_database(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[[teams]]\nkey = "north"\nname = "N"\nmorning_post = "7.30"\n'
                      '[[people]]\nhandle = "amira"\nname = "A"\nteams = ["west"]\n')
    db = tmp_path / "never.db"
    env = {"CAREBOT_CONFIG": str(config), "DATABASE_URL": f"sqlite:///{db}"}
    result = carebot("console", "--as", "amira", env=env, stdin="due\n")
    assert result.returncode == 2
    assert "teams[0].morning_post: expected HH:MM (24-hour), got '7.30'" in result.stderr
    assert not db.exists()
    config.write_text('[[teams]]\nkey = "north"\nname = "N"\n'
                      '[[people]]\nhandle = "amira"\nname = "A"\nteams = ["west"]\n')
    result = carebot("post", "morning", "--team", "north", env=env)
    assert result.returncode == 2 and "people[0].teams: unknown team 'west'" in result.stderr
    assert not db.exists()


def test_missing_config_says_how_to_get_one(tmp_path):
    result = carebot("console", "--as", "amira", env={"CAREBOT_CONFIG": ""}, stdin="")
    assert result.returncode == 2 and "CAREBOT_CONFIG is not set" in result.stderr


def test_rejected_import_exits_non_zero_listing_rows(demo, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("contact_id,client_ref,team,kind,due_start,due_end,assignee,risk,time_critical\n"
                   "Z-1,C-1,west,review,2026-11-24T09:00,2026-11-24T10:00,,low,\n")
    result = carebot("import", "contacts", str(bad), env=demo)
    assert result.returncode == 1
    assert "bad.csv: line 2: unknown team 'west'" in result.stderr


def test_post_runs_a_job_once_per_day(demo):
    first = carebot("post", "morning", "--team", "north", env=demo)
    again = carebot("post", "morning", "--team", "north", env=demo)
    assert first.returncode == again.returncode == 0
    assert "queued" in first.stdout and "already posted today" in again.stdout
    assert carebot("post", "morning", "--team", "west", env=demo).returncode == 2


def test_unknown_console_user_is_refused_before_the_console_starts(demo):
    result = carebot("console", "--as", "mallory", env=demo, stdin="done C-2M9Q\n")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("carebot: console: no person 'mallory' in the config (people: amira,")
    assert "Example: --as amira" in result.stderr


def test_db_upgrade_is_idempotent(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'up.db'}"}
    for _ in range(2):
        result = carebot("db", "upgrade", env=env)
        assert result.returncode == 0 and "up to date" in result.stdout


def test_run_serves_healthz_and_stops_cleanly(demo):
    import signal
    import socket
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=ROOT,
                            env={**os.environ, **demo, "PORT": str(port)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        body = None
        for _ in range(300):  # poll until it listens (bounded), no timing assertion
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json()
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert {k: body[k] for k in ("ok", "transports", "failed_posts")} == {
            "ok": True, "transports": [], "failed_posts": 0}  # the contract fields
        assert body["database"] == "ok" and body["scheduler"]["ok"]
        assert set(body["outbox"]) == {"pending", "oldest_pending_seconds", "pages_pending"}
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert "no chat transport configured" in err


def test_demo_history_fills_past_weeks_once_for_status_and_plan(tmp_path):
    env = {"CAREBOT_CONFIG": str(tmp_path / "carebot.toml"),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'carebot.db'}",
           "CAREBOT_FILES_DIR": str(tmp_path / "files")}
    first = carebot("demo", "--dir", str(tmp_path), "--history", "8", env=env)
    assert first.returncode == 0, first.stderr
    assert "filled 8 past weeks:" in first.stdout
    again = carebot("demo", "--dir", str(tmp_path), "--history", "8", env=env)
    assert "past weeks already filled" in again.stdout
    out = carebot("console", "--as", "dan", env=env,
                  stdin="status team north last week\nplan\nescalations\nreferrals\n"
                        "sample\n").stdout
    # Read the status block by its own heading: a reminder posted to the team's channel as the
    # console starts (a time-of-day job) also begins with the team's name.
    status = out.split("Weekly status · ", 1)[1].split("North Community Team\n", 1)[1]
    planned = int(status.split(" planned", 1)[0])
    assert planned >= 90  # 14 a day for a week
    assert "All teams: action plan (3 actions)" in out
    assert "No open escalations" in out  # every past page was acknowledged and resolved
    # The new controls have something to show: a referral pending, a sample drawn.
    assert "North Community Team: 1 referral pending authorisation\nC-3Q8L · from ward7" in out
    assert "North Community Team: documentation sample" in out and " drawn · " in out
    # History is history: none of its pages or channel posts is sent when the console starts.
    assert "safety concern logged" not in out and "escalation owned" not in out


def test_the_console_shows_what_the_acting_person_would_see_or_all_of_it(demo):
    script = "missed C-9X2P safety\n:as nobody\n:as amira\n:tick 20m\n"
    mine = carebot("console", "--as", "ben", "--at", "08:00", env=demo, stdin=script).stdout
    assert "[#north] North Community Team: contacts due" in mine
    assert "[#south]" not in mine  # not ben's team
    assert "No person 'nobody' in the config. Example: :as amira" in mine
    before, _, after = mine.partition("Now acting as @amira.")
    assert "[DM @amira]" not in before and "[DM @amira]" in after  # the repeat page, as amira
    every = carebot("console", "--as", "ben", "--all", "--at", "08:00", env=demo,
                    stdin="missed C-7F3K safety\n").stdout
    assert "[DM @amira] carebot: safety concern logged" in every  # another's DM, shown
