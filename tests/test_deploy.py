"""Production start-up as hosts run it: the URL forms they set, and a database that is not there.
Real `carebot` processes: what an operator sees is the process's output and exit code."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bot.cli import EXIT_DATABASE
from bot.settings import Settings
from tests.conftest import PG_URL
from tests.fakes.servers import free_port

ROOT = Path(__file__).resolve().parents[1]


def carebot(*args: str, env: dict, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **env})


@pytest.mark.parametrize("given", ["postgres://u:p@db.example:5433/care",
                                   "postgresql://u:p@db.example:5433/care",
                                   "postgresql+psycopg://u:p@db.example:5433/care"])
def test_the_url_forms_hosts_set_all_reach_postgresql_through_psycopg(given):
    assert Settings(DATABASE_URL=given).database_url == \
        "postgresql+psycopg://u:p@db.example:5433/care"
    assert Settings(DATABASE_URL="sqlite:///var/x.db").database_url == "sqlite:///var/x.db"


@pytest.fixture
def demo_config(tmp_path) -> Path:
    result = carebot("demo", "--dir", str(tmp_path / "demo"), env={})
    assert result.returncode == 0, result.stderr
    return tmp_path / "demo" / "carebot.toml"


@pytest.mark.parametrize("command", [("db", "upgrade"), ("run",), ("import", "contacts", "x.csv")])
def test_a_closed_port_is_one_line_naming_host_and_port_and_its_own_exit_code(command,
                                                                               demo_config):
    port = free_port()  # nothing listens there
    result = carebot(*command, env={"CAREBOT_CONFIG": str(demo_config), "PORT": str(free_port()),
                                    "DATABASE_URL": f"postgres://carebot:s3cret@127.0.0.1:{port}/x"})
    lines = result.stderr.strip().splitlines()
    assert result.returncode == EXIT_DATABASE, result.stderr
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"cannot reach the database (postgresql at 127.0.0.1:{port})" in lines[0]
    assert "DATABASE_URL" in lines[0] and "s3cret" not in lines[0]


def _postgres_form(url: str) -> str:
    return "postgres://" + url.split("://", 1)[1]


@pytest.mark.skipif(not PG_URL, reason="CAREBOT_TEST_DATABASE_URL is not set: PostgreSQL "
                                       "start-up test skipped")
def test_postgres_url_works_for_db_upgrade_and_run(demo_config, pg_engine, tmp_path):
    env = {"CAREBOT_CONFIG": str(demo_config), "DATABASE_URL": _postgres_form(PG_URL),
           "PORT": str(free_port())}
    upgraded = carebot("db", "upgrade", env=env)
    assert upgraded.returncode == 0 and "up to date" in upgraded.stdout, upgraded.stderr
    log = (tmp_path / "run.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=ROOT, stdout=log,
                            stderr=log, env={**os.environ, **env})
    health = None
    try:
        for _ in range(600):  # bounded wait for start-up; no timing assertion
            if proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{env['PORT']}/healthz",
                                            timeout=2) as response:
                    health = response.status
                    break
            except OSError:
                time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        log.close()
    assert health == 200, (tmp_path / "run.log").read_text()[-2000:]
