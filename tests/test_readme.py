"""README.md's ```sh blocks, run as written in a fresh clone: a command the README shows must work.

The clone is of the committed HEAD (what a newcomer gets), reusing this .venv (no reinstall):
the clone's `.venv/bin` links to it and the clone's code comes first on PYTHONPATH. The blocks run
in README order, each in its own `bash -e` in the clone, with the demo's config and database
(what the first block, `make run`, leaves) as CAREBOT_CONFIG and DATABASE_URL, stdin closed.

A block preceded by an HTML comment is run differently:
  <!-- doctest: skip REASON -->   not run (tokens, network, docker, a server that runs until
                                  stopped, the whole suite); reported as a skip with REASON
  <!-- doctest: in DIR -->        run inside DIR of the clone (e.g. where `carebot demo` wrote
                                  the CSV files the block names)
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^(\s*)```sh\s*$")
DIRECTIVE = re.compile(r"^\s*<!--\s*doctest:\s*(skip|in)\s+(.*?)\s*-->\s*$")
BLOCK_TIMEOUT = 300


@dataclass
class Block:
    line: int  # of the opening fence in README.md
    script: str
    skip: str | None = None
    where: str = "."


def blocks(text: str) -> list[Block]:
    lines = text.splitlines()
    found, i = [], 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        start, body = i, []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        block = Block(line=start + 1, script=textwrap.dedent("\n".join(body)) + "\n")
        before = start - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        directive = DIRECTIVE.match(lines[before]) if before >= 0 else None
        if directive and directive[1] == "skip":
            block.skip = directive[2]
        elif directive:
            block.where = directive[2]
        found.append(block)
        i += 1
    return found


BLOCKS = blocks((ROOT / "README.md").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> dict[int, subprocess.CompletedProcess]:
    """Every runnable block of the committed README, in order, in one fresh clone."""
    clone = tmp_path_factory.mktemp("readme") / "carebot"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    venv = Path(sys.prefix)
    # The clone's .venv: this venv's bin/, and an install stamp of its own, newer than the
    # clone's pyproject.toml, so `make` never reinstalls (into this venv, pointing at the clone).
    (clone / ".venv").mkdir()
    (clone / ".venv" / "bin").symlink_to(venv / "bin", target_is_directory=True)
    (clone / ".venv" / ".installed-stamp").touch()
    old = (clone / ".venv" / ".installed-stamp").stat().st_mtime - 60
    os.utime(clone / "pyproject.toml", (old, old))
    demo = clone / "var" / "demo"
    env = {**{k: v for k, v in os.environ.items()
              if not k.startswith(("CAREBOT_", "SLACK_", "TELEGRAM_", "DATABASE_URL"))},
           "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(clone), "CAREBOT_CONFIG": str(demo / "carebot.toml"),
           "DATABASE_URL": f"sqlite:///{demo / 'carebot.db'}"}
    out = {}
    for block in (b for b in BLOCKS_OF(clone) if not b.skip):
        out[block.line] = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", block.script], cwd=clone / block.where,
            env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=BLOCK_TIMEOUT)
    return out


def BLOCKS_OF(clone: Path) -> list[Block]:  # noqa: N802 - the clone's README, as committed
    return blocks((clone / "README.md").read_text(encoding="utf-8"))


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: f"README.md:{b.line}")
def test_readme_block_works_as_written(block: Block, ran):
    if block.skip:
        pytest.skip(f"README.md:{block.line}: {block.skip}")
    if block.line not in ran:
        pytest.fail(f"README.md:{block.line} is not committed yet: the test runs HEAD's README")
    result = ran[block.line]
    assert result.returncode == 0, (
        f"README.md:{block.line} failed (exit {result.returncode}):\n{block.script}\n"
        f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}")


def test_make_run_reaches_the_console_with_the_morning_list(ran):
    first = BLOCKS[0]
    assert first.script.startswith("make run"), "the README starts with `make run`"
    out = ran[first.line].stdout
    assert "North Community Team: contacts due" in out, out[-2000:]


def test_every_sh_block_is_run_or_skipped_with_a_reason():
    assert len(BLOCKS) >= 10
    assert all(b.skip is None or b.skip.strip() for b in BLOCKS)
    runnable = [b for b in BLOCKS if not b.skip]
    assert len(runnable) >= len(BLOCKS) // 2, "most README blocks must run, not be skipped"


def test_blocks_are_found_with_their_directives():
    text = ("intro\n\n```sh\necho one\n```\n\n<!-- doctest: skip needs a token -->\n```sh\n"
            "carebot run\n```\n<!-- doctest: in var/demo -->\n\n```sh\nls\n```\n"
            "1. step\n\n   ```sh\n   export A=1\n   echo $A\n   ```\n```toml\nx = 1\n```\n")
    found = blocks(text)
    assert [(b.line, b.skip, b.where, b.script) for b in found] == [
        (3, None, ".", "echo one\n"), (8, "needs a token", ".", "carebot run\n"),
        (13, None, "var/demo", "ls\n"), (18, None, ".", "export A=1\necho $A\n")]


def test_the_slack_manifest_asks_for_the_email_lookup_scope():
    manifest = (ROOT / "slack" / "manifest.yml").read_text(encoding="utf-8")
    assert "- users:read.email" in manifest  # users.lookupByEmail (carebot import people)
