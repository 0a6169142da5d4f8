"""Timeliness against the contract standards, the routes check and cover for gaps, for the weekly
status and the evidence pack: on time by contact kind, days routes were confirmed on time /
late / not at all, and the covers made (audit `contact:cover`). A fixed number of queries
whatever the number of teams."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from storage.models import AuditEvent, Client, Contact, Person, RouteCheck, Team
from storage.status import COVER, Window, count_if, within


def by_kind(session: Session, *, team_ids: list[int], window: Window,
            now: datetime) -> dict[int, dict[str, dict[str, int]]]:
    """Per team, per contact kind, contacts due in the window: due (window closed or an
    outcome logged), done, on_time (done at or before the window's end, judged on outcome_at:
    the time `done REF at=HH:MM` gives, not when it was typed)."""
    c = Contact
    rows = session.connection().execute(
        select(c.team_id, c.kind,
               count_if(col(c.status) != "open") + count_if(c.status == "open",
                                                               col(c.due_end) < now),
               count_if(c.status == "done"),
               count_if(c.status == "done", col(c.outcome_at) <= col(c.due_end)))
        .where(col(c.team_id).in_(team_ids), within(col(c.due_start), window))
        .group_by(c.team_id, c.kind))
    out: dict[int, dict[str, dict[str, int]]] = {t: {} for t in team_ids}
    for team_id, kind, due, done, on_time in rows:
        out[team_id][kind] = {"due": int(due), "done": int(done), "on_time": int(on_time)}
    return out


def on_time(measures_by_kind: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """`by_kind`'s figures from status.contacts_by_kind's measures of the same window: due is
    everything but the pending (open, window not over), so the report needs no second pass."""
    return {kind: {"due": m["planned"] - m["pending"], "done": m["done"], "on_time": m["on_time"]}
            for kind, m in measures_by_kind.items()}


def _local(at: datetime, zone: ZoneInfo) -> datetime:
    return at.astimezone(zone)


def route_days(session: Session, *, teams: list[Team], first: date, last: date,
               now: datetime) -> dict[int, dict]:
    """Per team, the days first..last (up to today): routes confirmed on time (by the team's
    `routes_by`), late, or not at all. Today counts once confirmed or once `routes_by` has
    passed; with no `routes_by`, any confirmation is on time."""
    rows = session.exec(select(RouteCheck, Person.handle)
                        .join(Person, col(Person.id) == col(RouteCheck.by_id))
                        .where(col(RouteCheck.team_id).in_([t.id for t in teams]),
                               col(RouteCheck.day) >= first, col(RouteCheck.day) <= last))
    checks = {(r.team_id, r.day): (r, handle) for r, handle in rows}
    out = {}
    for team in teams:
        zone = ZoneInfo(team.zone)
        local_now = _local(now, zone)
        days = {"on_time": 0, "late": 0, "none": 0, "rows": []}
        day = first
        while day <= min(last, local_now.date()):
            check, handle = checks.get((team.id, day), (None, None))
            by = team.routes_by or ""
            when = "on_time"
            if check is None:
                past = day < local_now.date() or (by and f"{local_now:%H:%M}" >= by)
                when = "none" if past else None
            elif by and f"{_local(check.at, zone):%H:%M}" > by:
                when = "late"
            if when:
                days[when] += 1
                days["rows"].append((team.key, day, by, check and check.at, handle,
                                     {"on_time": "on time", "late": "late",
                                      "none": "not confirmed"}[when], check and check.note))
            day += timedelta(days=1)
        out[team.id] = days
    return out


def covers(session: Session, *, teams: list[Team], window: Window) -> list[tuple]:
    """The covers made in the window, oldest first: (at, team key, contact_id, client ref,
    covered by, previous assignee, by whom), from the audit log (one query)."""
    keys = [t.key for t in teams]
    rows = list(session.exec(select(AuditEvent).where(
        AuditEvent.action == COVER, col(AuditEvent.team).in_(keys),
        within(col(AuditEvent.at), window)).order_by(col(AuditEvent.seq))))
    refs = dict(session.exec(select(Contact.source_id, Client.ref)
                             .join(Client, col(Client.id) == col(Contact.client_id))
                             .where(col(Contact.source_id).in_({r.subject for r in rows}))).all()) \
        if rows else {}
    return [(r.at, r.team, r.subject, refs.get(r.subject), (r.detail or {}).get("to"),
             (r.detail or {}).get("previous"), r.actor) for r in rows]


def pack_tables(session: Session, *, teams: list[Team], first: date, last: date,
                window: Window, now: datetime) -> list:
    """The evidence pack's routes.csv (each day's routes check), covers.csv (each cover made)
    and on_time_by_kind.csv (done within the contract window, per team and kind)."""
    from storage.export import table

    routes = route_days(session, teams=teams, first=first, last=last, now=now)
    kinds = by_kind(session, team_ids=[t.id for t in teams], window=window, now=now)
    return [
        table("routes", "Routes confirmed (routes ok)",
              ["team", "day", "due_by", "confirmed_at", "confirmed_by", "result", "note"],
              [r for t in teams for r in routes[t.id]["rows"]]),
        table("covers", "Cover for gaps (cover REF @handle)",
              ["at", "team", "contact_id", "client_ref", "covered_by", "previous_assignee",
               "by"], covers(session, teams=teams, window=window)),
        table("on_time_by_kind", "On time by contact kind (contract standards)",
              ["team", "kind", "due", "done", "on_time"],
              [(t.key, kind, n["due"], n["done"], n["on_time"])
               for t in teams for kind, n in sorted(kinds[t.id].items())]),
    ]
