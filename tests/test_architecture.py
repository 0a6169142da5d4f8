"""The dependency rules DESIGN.md sets: the core never learns which chat platform it runs on."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLATFORM = ("slack_bolt", "slack_sdk", "telegram")


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_never_imports_a_chat_platform():
    offenders = [f"{path.relative_to(ROOT)} imports {sorted(imports(path) & set(PLATFORM))}"
                 for room in ("handlers", "storage", "messages")
                 for path in (ROOT / room).rglob("*.py") if imports(path) & set(PLATFORM)]
    assert offenders == []


def test_the_check_itself_catches_an_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from slack_sdk import WebClient\nimport telegram.ext\n")
    assert imports(bad) & set(PLATFORM) == {"slack_sdk", "telegram"}


def test_storage_and_handlers_do_not_depend_on_bot():
    offenders = [str(path.relative_to(ROOT)) for room in ("handlers", "storage", "messages")
                 for path in (ROOT / room).rglob("*.py") if "bot" in imports(path)]
    assert offenders == []


def test_importing_everything_touches_no_engine_settings_or_network():
    code = ("import sys, bot.cli, bot.app, bot.console, bot.server, bot.scheduler, handlers.registry;"
            "handlers.registry.load();"
            "import sqlalchemy.engine, socket;"
            "assert 'psycopg' not in sys.modules, 'database driver imported at import time'")
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgresql+psycopg://nobody@256.0.0.1/x"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def _registers_elsewhere(path: Path) -> list[str]:
    """Module-level `other_module.SOMETHING.append(...)`-style calls: registration by import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [ast.unparse(node)[:60] for node in tree.body
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute)
            and isinstance(node.value.func.value, ast.Attribute)]


def test_no_module_adds_itself_to_another_modules_list_on_import(tmp_path):
    offenders = [f"{path.relative_to(ROOT)}: {call}" for path in (ROOT / "handlers").glob("*.py")
                 for call in _registers_elsewhere(path)]
    assert offenders == []
    bad = tmp_path / "bad.py"
    bad.write_text("escalation.DEADLINE_CHECKS.append((page_overdue, next_deadline))\n")
    assert _registers_elsewhere(bad)


def test_the_sweep_lists_every_deadline_source_whatever_else_was_imported():
    code = "import handlers.sweep as s; print('|'.join(x.name for x in s.SOURCES))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().split("|") == ["time-critical contacts", "medicines duties",
                                                "incidents", "CAP actions and milestones",
                                                "referrals pending"]


def modules(path: Path) -> set[str]:
    """The full dotted names a module imports (absolute imports)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_storage_never_imports_messages_and_messages_only_the_privacy_rules():
    """bot → handlers → storage, handlers → messages: the privacy rules both sides need live in
    storage/privacy.py (pure), which is the one storage module messages may import."""
    upward = [str(path.relative_to(ROOT)) for path in (ROOT / "storage").rglob("*.py")
              if any(m.split(".")[0] in ("messages", "handlers") for m in modules(path))]
    sideways = [f"{path.relative_to(ROOT)} imports {m}" for path in (ROOT / "messages").rglob("*.py")
                for m in modules(path) if m.split(".")[0] in ("storage", "handlers")
                and m != "storage.privacy"]
    assert (upward, sideways) == ([], [])
