"""Protected medicines on the clock: a team's medicines settings, the round's post with its
named lead, the lead's daily check prompt and chase, and time-critical duties paged when
unrecorded (a deadline source of handlers/deadlines).

Round times are in the team's zone. The round's duties post 30 minutes before the round, the
daily check prompt 60 minutes after it, and a missing check is chased (DM to the lead) 3
hours after it. Outbox keys make each happen once per round per day.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from sqlmodel import Session

from handlers import escalation
from handlers.base import day_bounds
from handlers.jobs import team_job
from handlers.paging import team_policy
from messages import medicines as words
from messages.reply import Reply
from storage import medicines as store
from storage import outbox, repo
from storage.models import MedsDuty, Team

POST_BEFORE, CHECK_AFTER, CHASE_AFTER = -30, 60, 180  # minutes from the round's time


class MedicinesConfig(BaseModel):
    """A team's medicines keys and their defaults, the one source: bot/config's TeamConfig
    takes these keys from the file, the team row stores them."""

    meds_rounds: list[dict[str, Any]] = Field(default_factory=list)  # name, time, lead
    meds_alert_minutes: int = Field(default=30, ge=1, le=24 * 60)
    meds_check_days: int = Field(default=14, ge=0, le=366)
    meds_baseline: float | None = Field(default=None, ge=0)  # late entries per week
    meds_target_pct: int = Field(default=-80, ge=-100, le=0)
    meds_target_weeks: int = Field(default=8, ge=1, le=52)


class TeamMedicines(MedicinesConfig):
    """As stored on the team: the config's keys plus a baseline set by `meds baseline`."""

    baseline_set: float | None = None

    @property
    def baseline(self) -> float | None:
        """The baseline set by command, else the config's."""
        return self.meds_baseline if self.baseline_set is None else self.baseline_set


def settings(team: Team) -> TeamMedicines:
    return TeamMedicines.model_validate(team.medicines or {})


def rounds(team: Team) -> list[dict]:
    return settings(team).meds_rounds


def _shift(hhmm: str, minutes: int) -> str:
    moment = datetime.combine(date(2000, 1, 1), time.fromisoformat(hhmm)) + timedelta(minutes=minutes)
    return moment.strftime("%H:%M")


def _due_rounds(team: Team, now: datetime, offset: int) -> list[tuple[dict, date]]:
    """Rounds whose moment (round time + offset) has passed in the last 12 hours, with their day."""
    zone = ZoneInfo(team.zone)
    today = now.astimezone(zone).date()
    out = []
    for rnd in rounds(team):
        for day in (today - timedelta(days=1), today):
            moment = (datetime.combine(day, time.fromisoformat(rnd["time"]), zone)
                      + timedelta(minutes=offset))
            if moment <= now < moment + timedelta(hours=12):
                out.append((rnd, day))
    return out


def lead_name(session: Session, rnd: dict | None) -> str | None:
    person = repo.person_by_handle(session, rnd["lead"]) if rnd else None
    return person.name if person else None


def round_reply(session: Session, team: Team, rnd: dict, day: date) -> Reply:
    zone = ZoneInfo(team.zone)
    start, end = day_bounds(day, zone)
    duties = store.duties_between(session, team_id=team.id, start=start, end=end, round=rnd["name"])
    return words.round_post(team.name, rnd["name"], day, lead_name(session, rnd), duties, zone)


@team_job("meds_round", times=lambda team: [_shift(r["time"], POST_BEFORE) for r in rounds(team)])
def round_posts(session: Session, team: Team, now: datetime) -> bool:
    """The round's protected duties with the named lead: once per round per local day."""
    queued = False
    for rnd, day in _due_rounds(team, now, POST_BEFORE):
        key = outbox.MEDS_ROUND.key(team=team.key, round=rnd["name"], day=day)
        if outbox.post_to_team(session, team.key, key, round_reply(session, team, rnd, day),
                               now=now):
            repo.add_audit(session, at=now, actor="scheduler", transport="scheduler",
                           action="post:meds", subject=team.key, team=team.key, detail={"key": key})
            queued = True
    return queued


def _in_check_period(session: Session, team: Team, day: date) -> bool:
    first = store.first_duty(session, team_id=team.id)
    if first is None:
        return False
    start = first.astimezone(ZoneInfo(team.zone)).date()
    return start <= day < start + timedelta(days=settings(team).meds_check_days)


def _unchecked(session: Session, team: Team, now: datetime, after: int):
    """(round, day) whose daily check is still missing `after` minutes past the round."""
    for rnd, day in _due_rounds(team, now, after):
        if _in_check_period(session, team, day) and \
                not store.check_for(session, team_id=team.id, round=rnd["name"], day=day):
            yield rnd, day


@team_job("meds_check", times=lambda team: [_shift(r["time"], CHECK_AFTER) for r in rounds(team)])
def check_prompts(session: Session, team: Team, now: datetime) -> bool:
    """Ask the channel: were administration times met this round? (the configured period only)"""
    queued = False
    for rnd, day in _unchecked(session, team, now, CHECK_AFTER):
        key = outbox.MEDS_CHECK.key(team=team.key, round=rnd["name"], day=day)
        queued |= outbox.post_to_team(session, team.key, key,
                                      words.check_prompt(team.name, rnd["name"], day), now=now)
    return queued


@team_job("meds_chase", times=lambda team: [_shift(r["time"], CHASE_AFTER) for r in rounds(team)])
def check_chases(session: Session, team: Team, now: datetime) -> bool:
    """A check still missing: one DM to the round's protected lead."""
    queued = False
    for rnd, day in _unchecked(session, team, now, CHASE_AFTER):
        key = outbox.MEDS_CHASE.key(team=team.key, round=rnd["name"], day=day)
        queued |= outbox.notify(session, rnd["lead"], key,
                                words.check_chase(team.name, rnd["name"], day), now=now)
    return queued


def page_overdue(session: Session, teams: list[Team], now: datetime) -> None:
    """Time-critical duties unrecorded past the alert time page the lead, then the chain.
    One query for every team with the same alert time (the sweep runs this each minute)."""
    by_alert: dict[int, dict[int, Team]] = {}
    for team in teams:
        by_alert.setdefault(settings(team).meds_alert_minutes, {})[team.id] = team
    for alert, by_id in by_alert.items():
        for duty in store.overdue_critical(session, team_ids=list(by_id), now=now,
                                           alert_minutes=alert):
            _page_duty(session, by_id[duty.team_id], duty, alert, now)


def _page_duty(session: Session, team: Team, duty: MedsDuty, alert: int, now: datetime) -> None:
    lead = next((r.get("lead") for r in rounds(team) if r["name"] == duty.round), None)
    chain = team_policy(team).chain
    escalation.open_escalation(
        session, team=team, subject=f"meds:{duty.duty_id}", trigger="meds_time_critical",
        ref=duty.client_ref, summary=f"medicines {duty.duty_id}: no record {alert} min after due",
        now=now, opened_by="scheduler",
        chain=[str(outbox.Address.person(lead)), *chain] if lead else None)


def next_deadline(session: Session, team: Team, now: datetime) -> datetime | None:
    return store.next_critical(session, team_id=team.id, now=now,
                               alert_minutes=settings(team).meds_alert_minutes)
