"""Per-process copies of what only the config file changes: reason codes, team memberships and
the active teams. They are read on every command, so they are kept in memory and reloaded when
the database's config token moves on.

`repo.sync_config` writes a fresh random token with every sync (any process, any database), and
the dispatcher reads it in the same query as the person and the chat's team, so a process sees a
config loaded by another one on its next command. Rows a command may change (people's on-call
flag, a team's medicines baseline, contacts) are never cached: they come from that query.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlmodel import Session, col, select

from storage.models import ConfigState, Membership, ReasonCode, Team
from storage.privacy import opaque_token

TOKEN = "config_token"  # session.info key: the token read by the dispatcher's identity query
_KEEP = 8  # snapshots kept (tests run many databases in one process)


@dataclass(frozen=True)
class Snapshot:
    reason_codes: tuple[ReasonCode, ...]  # active, in config order; detached copies
    member_of: dict[int, tuple[int, ...]]  # person id -> team ids, home team first
    active_team_ids: tuple[int, ...]  # ordered by key, as repo.all_teams


_snapshots: dict[str, Snapshot] = {}
_lock = threading.Lock()


def move_on(session: Session) -> None:
    """A new token: every process reloads its copies (this one on its next unit of work)."""
    state = session.get(ConfigState, 1) or ConfigState(id=1, token="")
    state.token = opaque_token(16)
    session.add(state)
    session.flush()
    session.info.pop(TOKEN, None)


def token(session: Session) -> str | None:
    """The config token this unit of work runs under (read once per session)."""
    if TOKEN not in session.info:
        session.info[TOKEN] = session.exec(
            select(ConfigState.token).where(ConfigState.id == 1)).first()
    return session.info[TOKEN]


def snapshot(session: Session) -> Snapshot:
    """The config-derived rows for this database; loaded once per config token. Without a token
    (a database no config was synced into) nothing is cached."""
    key = token(session)
    found = _snapshots.get(key) if key else None
    if found is None:
        found = _load(session)
        if key:
            with _lock:
                if len(_snapshots) >= _KEEP:
                    _snapshots.pop(next(iter(_snapshots)))
                _snapshots[key] = found
    return found


def _load(session: Session) -> Snapshot:
    codes = session.exec(select(ReasonCode).where(ReasonCode.active == True)  # noqa: E712
                         .order_by(col(ReasonCode.position))).all()
    member_of: dict[int, list[int]] = {}
    for person_id, team_id in session.exec(select(Membership.person_id, Membership.team_id)
                                           .order_by(col(Membership.position))):
        member_of.setdefault(person_id, []).append(team_id)
    active = session.exec(select(Team.id).where(Team.active == True)  # noqa: E712
                          .order_by(col(Team.key))).all()
    return Snapshot(reason_codes=tuple(ReasonCode(**c.model_dump()) for c in codes),
                    member_of={p: tuple(ids) for p, ids in member_of.items()},
                    active_team_ids=tuple(active))


def clear() -> None:
    with _lock:
        _snapshots.clear()
