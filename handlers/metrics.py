"""Named outcome metrics an action can be measured by (`action set A-3 metric=missed_rate
target=5%`): each computed for the action's team from the queries the weekly status already
runs, so an action card, `plan` and the "sustained?" re-check show the same figure.

The metrics are listed here, in one place (as handlers/sweep lists its deadline sources).
The hook for more: a Metric in METRICS below, computed by the module that owns the records
(as `doc_defects` is from the documentation sample's, storage/sampling.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import case
from sqlmodel import Session, col, func, select

from messages.status import missed_rate as _missed_rate
from storage import sampling, status
from storage.models import Incident


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    unit: str  # "%" for a rate, "" for a count
    lower_is_better: bool
    window_days: int  # the value is over the last this-many days
    compute: Callable[[Session, list[int], datetime], float | None]  # None: no data yet

    def met(self, value: float | None, target: float | None) -> bool | None:
        if value is None or target is None:
            return None
        return value <= target if self.lower_is_better else value >= target


def metrics() -> dict[str, Metric]:
    return METRICS


def value_of(session: Session, name: str, team_ids: list[int], now: datetime) -> float | None:
    return metrics()[name].compute(session, team_ids, now)


def _window(now: datetime, days: int):
    return (now - timedelta(days=days), now)


def _missed(session: Session, team_ids: list[int], now: datetime) -> float | None:
    per_team = status.contacts(session, team_ids=team_ids, windows=[_window(now, 28)], now=now)
    total: dict[str, int] = {}
    for rows in per_team.values():
        for k, v in rows[0].items():
            total[k] = total.get(k, 0) + v
    return _missed_rate(total) if total else None


def _meds_late(session: Session, team_ids: list[int], now: datetime) -> float | None:
    per_team = status.meds_late(session, team_ids=team_ids, windows=[_window(now, 7)])
    return float(sum(v[0] for v in per_team.values()))


def _learning(session: Session, team_ids: list[int], now: datetime) -> float | None:
    start = now - timedelta(days=28)
    closed, learned = session.exec(select(
        func.count(), func.coalesce(func.sum(
            case((col(Incident.closed_at) <= col(Incident.due_at), 1), else_=0)), 0))
        .where(col(Incident.team_id).in_(team_ids), col(Incident.closed_at) >= start,
               col(Incident.closed_at) < now)).one()
    return 100 * float(learned) / closed if closed else None


def _doc_defects(session: Session, team_ids: list[int], now: datetime) -> float | None:
    """Documentation defects per record audited in the last 28 days, % (by audit time: when
    the defect was found); None before anything is audited."""
    start, end = _window(now, 28)
    audited, defects = sampling.defect_rate(session, team_ids=team_ids, start=start, end=end)
    return 100 * defects / audited if audited else None


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("missed_rate", "missed-visit rate (28 days)", "%", True, 28, _missed),
    Metric("meds_late", "late medicines entries (7 days)", "", True, 7, _meds_late),
    Metric("learning_7d", "incidents learned within 7 days (28 days)", "%", False, 28, _learning),
    Metric("doc_defects", "documentation defects per audited record (28 days)", "%", True, 28,
           _doc_defects),
)}


def shown(metric: Metric, value: float | None) -> str:
    if value is None:
        return "no data yet"
    return f"{value:.1f}%" if metric.unit == "%" else f"{value:g}"


def parse_target(text: str) -> float | None:
    """'5%', '5', '4.5 %' → 5.0 / 4.5; None when it is not a number."""
    try:
        value = float(text.strip().rstrip("%").strip())
    except ValueError:
        return None
    return value if 0 <= value <= 1_000_000 else None
