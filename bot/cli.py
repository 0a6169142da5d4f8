"""`carebot` command line (DESIGN.md "CLI"): run, console, import, post, db upgrade, export,
audit verify, demo."""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.config import ConfigError

EXIT_USAGE = 2
EXIT_DATABASE = 3  # the database cannot be reached: a supervisor should not restart-loop on it


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="carebot", description="Daily care-team controls in chat.")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("run", help="all configured transports + the scheduler + GET /healthz")
    con = sub.add_parser("console", help="type commands in this terminal")
    con.add_argument("--as", dest="handle", required=True, help="a person's handle, e.g. amira")
    con.add_argument("--at", help="start the simulated clock here, e.g. '2026-11-24 08:00' or 08:00")
    con.add_argument("--all", action="store_true",
                     help="show every channel post and DM, not only what this person would see")
    imp = sub.add_parser("import", help="import a CSV file")
    imp.add_argument("what", choices=["contacts", "rota", "meds", "people", "referrals"])
    imp.add_argument("file")
    post = sub.add_parser("post", help="run a team's scheduled post now")
    post.add_argument("what", choices=["morning", "meds", "reconcile"])
    post.add_argument("--team", required=True)
    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"])
    exp = sub.add_parser("export", help="write the evidence pack (CSV files + report.html)")
    exp.add_argument("--from", dest="first", required=True, help="first day, YYYY-MM-DD")
    exp.add_argument("--to", dest="last", required=True, help="last day, YYYY-MM-DD")
    exp.add_argument("--out", required=True, help="folder to write, e.g. pack/")
    exp.add_argument("--team", action="append", help="only this team (repeatable); default all")
    exp.add_argument("--force", action="store_true",
                     help="write into --out even if it already holds files")
    exp.add_argument("--include-pips", action="store_true",
                     help="also the staff improvement plans (private: only when a manager asks)")
    aud = sub.add_parser("audit", help="check the hash-chained audit log")
    aud.add_argument("action", choices=["verify"])
    aud.add_argument("--from", dest="first", help="first day, YYYY-MM-DD (default: all)")
    aud.add_argument("--to", dest="last", help="last day, YYYY-MM-DD (default: all)")
    demo = sub.add_parser("demo", help="write a demo config and today's contacts CSV")
    demo.add_argument("--dir", default="var/demo")
    demo.add_argument("--history", type=int, default=0, metavar="WEEKS",
                      help="also fill DATABASE_URL with this many past weeks of logged work")
    ppl = sub.add_parser("people", help="who is reachable where (Slack, Telegram, email)")
    ppl.add_argument("--lookup", action="store_true",
                     help="first find missing Slack ids from emails (needs SLACK_BOT_TOKEN)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from bot.logs import configure

    configure(logging.INFO if args.cmd == "run" else logging.WARNING)
    try:
        return COMMANDS[args.cmd](args)
    except ConfigError as exc:
        print("carebot: config error (nothing was changed):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if not _unreachable(exc):
            raise
        print(f"carebot: {_unreachable(exc)}", file=sys.stderr)
        return EXIT_DATABASE


def _unreachable(exc: BaseException) -> str | None:
    """One line for a database that cannot be reached (wrong host or port, server down, bad
    password), naming where we looked, with no secret and no traceback; None for anything else."""
    from sqlalchemy.exc import OperationalError

    if not isinstance(exc, OperationalError):
        return None
    from bot.settings import Settings
    from sqlalchemy.engine import make_url

    url = make_url(Settings().database_url)
    if url.get_backend_name() == "sqlite":
        where = f"the SQLite file {url.database}"
        check = "that its folder exists and is writable"
    else:
        where = f"{url.get_backend_name()} at {url.host or 'localhost'}:{url.port or 5432}"
        check = ("that the server is running and accepts connections there, "
                 "and the user, password and database name in DATABASE_URL")
    reason = str(exc.orig or exc).strip().splitlines()[0][:200]
    return f"cannot reach the database ({where}): {reason}. Check {check}."


def _run(args) -> int:
    from bot.app import build_app, settle
    from bot.server import serve

    app = build_app()
    settle()
    asyncio.run(serve(app))
    return 0


def _console(args) -> int:
    from bot.app import build_app
    from bot.console import ConsoleTransport, parse_when, run_console
    from bot.settings import Settings
    from handlers.base import SimClock, UserError

    settings = Settings()
    app = build_app(settings, clock=SimClock(datetime.now(ZoneInfo("UTC"))))
    handle = args.handle.lstrip("@").lower()
    from storage.db import session_scope
    from storage.people import listing

    with session_scope(app.engine) as session:  # the config's people and imported ones
        everyone = {r.handle: (r.role, r.teams) for r in listing(session)}
    handles = list(everyone)
    if handle not in handles:  # refused before the prompt, not on every line typed after it
        print(f"carebot: console: no person {handle!r} in the config (people: "
              f"{', '.join(handles) or 'none'}). Example: --as {handles[0] if handles else 'amira'}",
              file=sys.stderr)
        return EXIT_USAGE
    if args.at:
        zone = ZoneInfo(app.config.teams[0].timezone or app.config.timezone)
        try:
            app.clock.set(parse_when(args.at, zone, app.clock.now()))
        except UserError as exc:
            print(f"carebot: --at: {exc}", file=sys.stderr)
            return EXIT_USAGE
    people = None if args.all else everyone
    app.transports = [ConsoleTransport(sys.stdout, people)]
    asyncio.run(run_console(app, handle))
    return 0


def _import(args) -> int:
    from bot.app import build_app
    from storage.importer import ImportRejected, import_contacts, import_rota
    from storage.medicines import import_meds
    from storage.referrals import import_referrals

    app = build_app()
    if not Path(args.file).is_file():
        print(f"carebot: {args.file}: file not found", file=sys.stderr)
        return EXIT_USAGE
    if args.what == "people":
        return _import_people(app, args.file)
    try:
        if args.what == "referrals":
            result = import_referrals(app.engine, args.file, now=app.clock.now())
        else:
            result = {"contacts": import_contacts, "rota": import_rota,
                      "meds": import_meds}[args.what](app.engine, args.file)
    except ImportRejected as exc:
        return _rejected(args.file, exc)
    print(f"{result.rows} rows: {result.inserted} new, {result.updated} updated, "
          f"{result.unchanged} unchanged")
    return 0


def _rejected(file: str, exc) -> int:
    """A rejected import file: every bad line on stderr, exit 1 (contacts, rota, meds, people)."""
    print(f"carebot: {file} rejected, nothing imported: {exc.total_bad} bad row(s)",
          file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1


def _import_people(app, file: str) -> int:
    from storage.people import ImportRejected, import_people

    try:
        result = import_people(app.engine, file, now=app.clock.now())
    except ImportRejected as exc:
        return _rejected(file, exc)
    print(f"{result.rows} people: {result.inserted} new, {result.updated} updated, "
          f"{result.unchanged} unchanged")
    if app.settings.slack_bot_token:
        print(_slack_lookup(app))
    return 0


def _slack_lookup(app) -> str:
    from bot.slack_people import client_for, lookup_missing

    return asyncio.run(lookup_missing(app.engine, client_for(app.settings), app.clock.now())).line()


def _people(args) -> int:
    from bot.app import build_app
    from storage.db import session_scope
    from storage.people import listing

    app = build_app()
    if args.lookup:
        if not app.settings.slack_bot_token:
            print("carebot: people --lookup: SLACK_BOT_TOKEN is not set", file=sys.stderr)
            return EXIT_USAGE
        print(_slack_lookup(app))
    with session_scope(app.engine) as session:
        rows = listing(session)
    table = [("handle", "name", "role", "teams", "from", "slack", "telegram", "email")]
    yes = {True: "yes", False: "-"}
    table += [(r.handle, r.name, r.role, " ".join(r.teams) or "-", r.source, yes[r.slack],
               yes[r.telegram], yes[r.email]) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    print(f"{len(rows)} people: {sum(r.slack for r in rows)} on Slack, "
          f"{sum(r.telegram for r in rows)} on Telegram")
    return 0


def _post(args) -> int:
    from bot.app import build_app

    app = build_app()
    if app.config.team(args.team) is None:
        keys = ", ".join(t.key for t in app.config.teams)
        print(f"carebot: unknown team {args.team!r} (teams: {keys})", file=sys.stderr)
        return EXIT_USAGE
    if args.what == "reconcile":
        print(post_reconcile(app, args.team))
        return 0
    job = {"meds": "meds_round"}.get(args.what, args.what)  # rounds whose post time has passed
    queued = asyncio.run(app.run_job(job, args.team))
    print(f"{args.what} for {args.team}: " + ("queued" if queued else "already posted today") +
          ("" if app.transports else "; `carebot run` delivers it"))
    return 0


def post_reconcile(app, team_key: str) -> str:
    """Run the team's reconciliation now and say what it stored, posted and escalated."""
    from handlers.reconcile import post
    from messages.reconcile import reconcile_report
    from storage import repo
    from storage.db import session_scope

    with session_scope(app.engine) as session:
        team = repo.team_by_key(session, team_key)
        outcome = post(session, team, app.clock.now(), run_by="cli", transport="cli")
        text = reconcile_report(team.key, ZoneInfo(team.zone), app.clock.now(), team.reconcile,
                                outcome.counts, outcome.escalated, runs=outcome.runs,
                                so_far=outcome.so_far, posted=outcome.posted)
    asyncio.run(app.deliver())
    if outcome.posted and not app.transports:
        text += "\n`carebot run` delivers the post."
    return text


def _db(args) -> int:
    from bot.settings import Settings
    from storage.db import make_engine, upgrade

    upgrade(make_engine(Settings().database_url, upgrade_sqlite=False))
    print("database schema is up to date")
    return 0


def _export(args) -> int:
    from datetime import date

    from bot.app import build_app
    from handlers.export import build_pack
    from storage import repo
    from storage.db import session_scope

    try:
        first, last = date.fromisoformat(args.first), date.fromisoformat(args.last)
    except ValueError as exc:
        print(f"carebot: export: {exc}; use YYYY-MM-DD, e.g. --from 2026-10-01", file=sys.stderr)
        return EXIT_USAGE
    if last < first:
        print("carebot: export: --to is before --from", file=sys.stderr)
        return EXIT_USAGE
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        print(f"carebot: export: --out {out} is a file; give a folder, e.g. --out pack/",
              file=sys.stderr)
        return EXIT_USAGE
    if out.is_dir() and any(out.iterdir()) and not args.force:
        # An earlier pack is evidence too: never overwrite it by accident.
        print(f"carebot: export: {out} is not empty; choose a new folder or add --force to "
              "write over it", file=sys.stderr)
        return EXIT_USAGE
    app = build_app()
    with session_scope(app.engine) as session:
        # A team taken out of the config keeps its records: --team can still name it.
        teams = repo.all_teams(session, removed=bool(args.team))
        if args.team:
            unknown = sorted(set(args.team) - {t.key for t in teams})
            if unknown:
                print(f"carebot: export: unknown team {', '.join(unknown)} (teams: "
                      f"{', '.join(t.key for t in teams)})", file=sys.stderr)
                return EXIT_USAGE
            teams = [t for t in teams if t.key in args.team]
        paths = build_pack(session, teams, first, last, app.clock.now(),
                           ZoneInfo(app.config.timezone), Path(args.out),
                           include_pips=args.include_pips)
    print(f"wrote {len(paths)} files to {args.out} (open {Path(args.out) / 'report.html'})")
    return 0


def _audit(args) -> int:
    """Exit 0 and print OK with the count and chain head, or 1 naming the first broken link."""
    from datetime import date

    from bot.config import load_config
    from bot.settings import Settings
    from handlers.base import day_bounds
    from storage import audit
    from storage.db import make_engine, session_scope

    settings = Settings()
    try:
        first = date.fromisoformat(args.first) if args.first else None
        last = date.fromisoformat(args.last) if args.last else None
    except ValueError as exc:
        print(f"carebot: audit verify: {exc}; use YYYY-MM-DD, e.g. --from 2026-10-01",
              file=sys.stderr)
        return EXIT_USAGE
    if first and last and last < first:
        print("carebot: audit verify: --to is before --from", file=sys.stderr)
        return EXIT_USAGE
    # Days are the config's days; the whole chain needs no config at all.
    zone = ZoneInfo(load_config(settings.config_path).timezone) if first or last else None
    with session_scope(make_engine(settings.database_url)) as session:
        verdict = audit.verify(session, start=first and day_bounds(first, zone)[0],
                               end=last and day_bounds(last, zone)[1])
    print(verdict.line())
    return 0 if verdict.ok else 1


def _demo(args) -> int:
    from bot.demo import ZONE, write_demo

    today = datetime.now(ZoneInfo(ZONE)).date()
    config, contacts, meds = write_demo(args.dir, today)
    print(f"wrote {config}, {contacts} and {meds}")
    if args.history:
        from bot.app import build_app
        from bot.demo import seed_history
        from bot.settings import Settings

        app = build_app(Settings(CAREBOT_CONFIG=str(config)))
        n = seed_history(app.engine, today, weeks=args.history)
        print(f"filled {args.history} past weeks: {n} contacts with outcomes, reconciliations, "
              "escalations and a CAP" if n else "past weeks already filled")
    return 0


COMMANDS = {"run": _run, "console": _console, "import": _import, "post": _post, "db": _db,
            "export": _export, "audit": _audit, "demo": _demo, "people": _people}

if __name__ == "__main__":
    sys.exit(main())
