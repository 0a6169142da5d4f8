"""The TOML config file (DESIGN.md "Config file"): parsed, validated, and named errors.

A bad file stops the process before anything touches the database; each problem names its
key, e.g. `teams[1].morning_post: expected HH:MM, got '7.30'`.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from handlers.phone import word_key
from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, ValidationError,
                      field_validator, model_validator)

from handlers.meds_rounds import MedicinesConfig
from handlers.paging import EscalationPolicy
from handlers.sampling import DEFAULT_DEFECT_CODES
from storage.models import CONTACT_KINDS, ROLES

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def _key(value: str) -> str:
    if not _KEY.match(value):
        raise ValueError(f"expected lower-case letters, digits, - or _, got {value!r}")
    return value


Key = Annotated[str, AfterValidator(_key)]  # team keys, handles, reason codes

_SPAN = re.compile(r"^([1-9]\d{0,3})([hdw])$")
_SPAN_SECONDS = {"h": 3600, "d": 86400, "w": 7 * 86400}


def _standards(value: dict[str, str]) -> dict[str, str]:
    """`[standards]`: contact kind = "48h" | "3d" | "6w", the window's length after the event."""
    for kind, span in value.items():
        if kind not in CONTACT_KINDS:
            raise ValueError(f"{kind!r} is not a contact kind (one of {', '.join(CONTACT_KINDS)})")
        if not isinstance(span, str) or not _SPAN.match(span.strip().lower()):
            raise ValueError(f"{kind}: expected a length like \"48h\", \"3d\" or \"6w\", "
                             f"got {span!r}")
    return {kind: span.strip().lower() for kind, span in value.items()}


def standard_seconds(standards: dict[str, str]) -> dict[str, int]:
    """{"post_discharge": "48h"} as {"post_discharge": 172800}: what the import adds to event_at."""
    out = {}
    for kind, span in standards.items():
        n, unit = _SPAN.match(span).groups()
        out[kind] = int(n) * _SPAN_SECONDS[unit]
    return out


Standards = Annotated[dict[str, str], AfterValidator(_standards)]


class ConfigError(Exception):
    """Carries every problem found, one line each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (e.g. 'Europe/London')") from None
    return value


Role = Literal["oncall", "manager", "nominated"]


class EscalationConfig(EscalationPolicy):
    """[escalation]: the policy's keys and defaults (handlers/paging), strictly checked."""

    model_config = ConfigDict(extra="forbid")
    chain: list[Role] = Field(default_factory=lambda: EscalationPolicy().chain, min_length=1)


class TeamEscalation(_Strict):
    """A team's own escalation settings; anything left out comes from [escalation]."""

    ack_timeout_minutes: int | None = Field(default=None, ge=1, le=24 * 60)
    repeats: int | None = Field(default=None, ge=0, le=5)
    chain: list[Role] | None = Field(default=None, min_length=1)
    time_critical_grace_minutes: int | None = Field(default=None, ge=0, le=24 * 60)
    final_repeat_minutes: int | None = Field(default=None, ge=1, le=24 * 60)
    final_repeat_hours: int | None = Field(default=None, ge=0, le=72)


class MedsRound(_Strict):
    """A medicines round and its protected medicines lead (a person's handle)."""

    name: Key
    time: str
    lead: Key

    @field_validator("time")
    @classmethod
    def _time(cls, v: str) -> str:
        if not _HHMM.match(v):
            raise ValueError(f"expected HH:MM (24-hour), got {v!r}")
        return v


class TeamConfig(_Strict, MedicinesConfig):
    key: Key
    name: str
    timezone: str | None = None  # falls back to the file's top-level timezone
    slack_channel: str | None = None
    telegram_chat: int | None = None
    morning_post: str = "07:30"
    reconcile: str = "17:30"
    escalation: TeamEscalation | None = None
    # Protected medicines: rounds with named leads here; alerts and targets, with their
    # defaults, from handlers/meds_rounds.MedicinesConfig.
    meds_rounds: list[MedsRound] = Field(default_factory=list)
    # The weekly status report (handlers/status.py): "mon 09:00" in the team's zone, "" = never.
    weekly_status: str = "mon 09:00"
    # Today's routes confirmed (`routes ok`) by this time, or the supervisors are reminded; "" = never.
    routes_by: str = "09:00"
    baseline_missed_pct: float | None = Field(default=None, ge=0, le=100)
    min_contacts_for_rate: int | None = Field(default=None, ge=0)  # None: the top-level value
    # The team's own contract standards by kind, over the file's [standards].
    standards: Standards = Field(default_factory=dict)
    # Documentation sampling (handlers/sampling.py): records drawn per staff member a week, the
    # factor for someone with a repeat defect, when last week's sample is drawn, when
    # supervisors are reminded of records still to audit, and when managers are ("" = never).
    sample_per_person: int = Field(default=5, ge=0, le=50)
    sample_repeat_factor: int = Field(default=2, ge=1, le=5)
    sample_draw: str = "mon 08:00"
    sample_remind: str = "fri 15:00"
    sample_overdue: str = "fri 17:00"

    def medicines(self) -> dict:
        return self.model_dump(include=set(MedicinesConfig.model_fields))

    def sampling(self, defect_codes: list[str]) -> dict:
        return {"per_person": self.sample_per_person, "repeat_factor": self.sample_repeat_factor,
                "draw": self.sample_draw, "remind": self.sample_remind,
                "overdue": self.sample_overdue, "defect_codes": list(defect_codes)}

    @field_validator("sample_draw", "sample_remind", "sample_overdue")
    @classmethod
    def _sample_times(cls, v: str) -> str:
        day, _, hhmm = v.strip().lower().partition(" ")
        if v.strip() and (day not in _DAYS or not _HHMM.match(hhmm)):
            raise ValueError(f"expected a weekday and HH:MM like 'mon 08:00' (or \"\"), got {v!r}")
        return v.strip().lower()

    @field_validator("morning_post", "reconcile")
    @classmethod
    def _time(cls, v: str) -> str:
        if not _HHMM.match(v):
            raise ValueError(f"expected HH:MM (24-hour), got {v!r}")
        return v

    @field_validator("routes_by")
    @classmethod
    def _routes_by(cls, v: str) -> str:
        if v.strip() and not _HHMM.match(v.strip()):
            raise ValueError(f"expected HH:MM (24-hour) or \"\", got {v!r}")
        return v.strip()

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        return v if v is None else _zone(v)

    @field_validator("weekly_status")
    @classmethod
    def _weekly(cls, v: str) -> str:
        day, _, hhmm = v.strip().lower().partition(" ")
        if v.strip() and (day not in _DAYS or not _HHMM.match(hhmm)):
            raise ValueError(f"expected a weekday and HH:MM like 'mon 09:00' (or \"\"), got {v!r}")
        return v.strip().lower()


class PersonConfig(_Strict):
    handle: Key
    name: str
    role: Literal[ROLES] = "staff"  # type: ignore[valid-type]
    teams: list[str] = Field(default_factory=list)
    slack_user: str | None = None
    telegram_user: int | None = None
    oncall: bool = False
    # May authorise or decline referrals at the front door (managers always may).
    authoriser: bool = False




class ReasonCodeConfig(_Strict):
    code: Key
    label: str
    side: Literal["client", "provider", "system", "other"] = "client"
    escalates: bool = False
    escalates_high_risk: bool = False  # e.g. no_reply: escalates only for high-risk clients
    needs_note: bool = False
    # The reason itself accounts for the client (e.g. in hospital): it settles a high-risk
    # contact's escalation. Any other missed reason on a high-risk client keeps it open.
    # Left out: true for `hospital` only.
    accounts_for_client: bool | None = None
    # Other spellings staff type for it (`no reply`); case, spaces, `-` and `_` never matter.
    aliases: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _accounts(self) -> "ReasonCodeConfig":
        if self.accounts_for_client is None:
            self.accounts_for_client = self.code == "hospital"
        return self


DEFAULT_REASON_CODES = [
    ReasonCodeConfig(code="unavailable", label="Client unavailable", side="client"),
    ReasonCodeConfig(code="hospital", label="Hospitalisation", side="client"),
    ReasonCodeConfig(code="refused", label="Client refused", side="client"),
    ReasonCodeConfig(code="no_reply", label="No answer at the door", side="client",
                     escalates_high_risk=True, aliases=["no answer"]),
    ReasonCodeConfig(code="safety", label="Safety concern", side="client", escalates=True),
    ReasonCodeConfig(code="staffing", label="Staffing shortage", side="provider"),
    ReasonCodeConfig(code="weather", label="Weather / travel disruption", side="provider"),
    ReasonCodeConfig(code="rota", label="Rota or allocation error", side="provider"),
    ReasonCodeConfig(code="other", label="Other", side="other", needs_note=True),
]

# The seed's front-door wording: the basis on which a referral is eligible for the service.
DEFAULT_ELIGIBILITY_BASES = ["hospital_discharge", "gp_referral", "social_worker",
                             "continuing_care", "self_referral"]


class Config(_Strict):
    timezone: str = "Europe/London"
    teams: list[TeamConfig] = Field(min_length=1)
    people: list[PersonConfig] = Field(default_factory=list)
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)
    reason_codes: list[ReasonCodeConfig] = Field(default_factory=lambda: list(DEFAULT_REASON_CODES))
    # Chat artefacts (delivered posts' copies, platform event ids, chart and pack files) are
    # deleted after this many days. The evidence record itself is never purged here.
    retention_days: int = Field(default=90, ge=1, le=3650)
    # The status shows a rate (and its trend arrow) only on at least this many contacts.
    min_contacts_for_rate: int = Field(default=20, ge=0)
    # The monthly governance report DM'd to the nominated individual(s) on the first working
    # day (Mon–Fri) of each month at this time in each team's zone; "" = never.
    monthly_report: str = ""
    # Contract standards by contact kind (e.g. post_discharge = "48h", review = "6w"): an
    # imported row with event_at and no window is due from event_at to event_at + this.
    standards: Standards = Field(default_factory=dict)
    # Documentation sampling: the codes a supervisor logs a defect with (`audit REF defect CODE`).
    defect_codes: list[Key] = Field(default_factory=lambda: list(DEFAULT_DEFECT_CODES),
                                    min_length=1)
    # The front door (handlers/referrals.py): the eligibility bases a referral may be accepted
    # on, how long one may wait pending before the authorisers hear, and the share of each
    # day's accepted referrals a second person validates the next morning (rounded up).
    eligibility_bases: list[Key] = Field(default_factory=lambda: list(DEFAULT_ELIGIBILITY_BASES),
                                         min_length=1)
    referral_pending_hours: int = Field(default=24, ge=1, le=24 * 14)
    referral_sample_pct: int = Field(default=20, ge=1, le=100)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return _zone(v)

    @field_validator("monthly_report")
    @classmethod
    def _monthly(cls, v: str) -> str:
        if v.strip() and not _HHMM.match(v.strip()):
            raise ValueError(f"expected HH:MM (24-hour) or \"\", got {v!r}")
        return v.strip()

    @model_validator(mode="after")
    def _cross_check(self) -> "Config":
        problems: list[str] = []
        _unique(problems, "teams", [t.key for t in self.teams], "key")
        _unique(problems, "people", [p.handle for p in self.people], "handle")
        _unique(problems, "reason_codes", [r.code for r in self.reason_codes], "code")
        _unique(problems, "defect_codes", self.defect_codes, "code")
        spelt: dict[str, int] = {}  # a spelling (word_key) names one code only
        for i, r in enumerate(self.reason_codes):
            for name in [r.code, *r.aliases]:
                j = spelt.setdefault(word_key(name), i)
                if j != i:
                    problems.append(f"reason_codes[{i}].aliases: {name!r} already means "
                                    f"{self.reason_codes[j].code!r}")
        _unique(problems, "people", [p.slack_user for p in self.people if p.slack_user], "slack_user")
        _unique(problems, "people", [p.telegram_user for p in self.people if p.telegram_user],
                "telegram_user")
        keys = {t.key for t in self.teams}
        handles = {p.handle for p in self.people}
        for i, team in enumerate(self.teams):
            _unique(problems, f"teams[{i}].meds_rounds", [r.name for r in team.meds_rounds], "name")
            for j, rnd in enumerate(team.meds_rounds):
                if rnd.lead not in handles:
                    problems.append(f"teams[{i}].meds_rounds[{j}].lead: unknown person {rnd.lead!r}")
        for i, person in enumerate(self.people):
            for team in person.teams:
                if team not in keys:
                    problems.append(f"people[{i}].teams: unknown team {team!r} "
                                    f"(known: {', '.join(sorted(keys))})")
        if problems:
            raise ValueError("; ".join(problems))
        for team in self.teams:
            team.timezone = team.timezone or self.timezone
        return self

    def policy(self, team: TeamConfig) -> dict:
        """The team's escalation policy: the default, with the team's own settings over it."""
        own = team.escalation.model_dump(exclude_none=True) if team.escalation else {}
        return {**self.escalation.model_dump(), **own}

    def team_standards(self, team: TeamConfig) -> dict[str, int]:
        """The team's contract standards in seconds: the file's, with the team's own over them."""
        return standard_seconds({**self.standards, **team.standards})

    def team(self, key: str) -> TeamConfig | None:
        return next((t for t in self.teams if t.key == key), None)


def _unique(problems: list[str], section: str, values: list, name: str) -> None:
    seen: set = set()
    for i, value in enumerate(values):
        if value in seen:
            problems.append(f"{section}[{i}].{name}: {value!r} is used twice")
        seen.add(value)


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def load_config(path: str | Path | None) -> Config:
    """Read and validate the config file; raise ConfigError naming every bad key."""
    if not path:
        raise ConfigError(["CAREBOT_CONFIG is not set: point it at your carebot.toml "
                           "(`carebot demo` writes an example)"])
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check the spelling against README.md, \"Configuration\")"
            if not err["loc"]:  # cross-checks already name their keys
                problems.extend(f"{path}: {part}" for part in msg.split("; "))
            else:
                problems.append(f"{path}: {_loc(err['loc'])}: {msg}")
        raise ConfigError(problems) from None
