"""The one masking boundary (storage/privacy.py): every text column of every table is either
masked on its way to the database or listed here as an identifier, with the reason. A new
column that is neither fails, so free text cannot be added without the mask."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import JSON, BigInteger, Boolean, Date, DateTime, Float, Integer, String
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel, select

import storage.models  # noqa: F401  (registers the tables)
from messages.reply import Block, Reply
from storage import repo
from storage.db import session_scope
from storage.privacy import FreeJSON, FreeText, masking_day
from tests.conftest import DAY, MORNING, run

NHS, DOB = "943 476 5919", "12/03/1954"
TYPED = f"Seen at home, NHS {NHS}, DOB {DOB}"

# Text that is not typed by people: what it is and why it needs no mask.
IDENTIFIERS = {
    "auditevent.actor": "a handle or 'scheduler'",
    "auditevent.transport": "console | slack | telegram | scheduler | cli",
    "auditevent.action": "a verb code such as contact:missed",
    "auditevent.subject": "a ref or record id",
    "auditevent.detail": "hash-chained: storage.audit masks it before hashing (tested below)",
    "auditevent.team": "a team key",
    "auditevent.prev_hash": "a hash",
    "auditevent.hash": "a hash",
    "audithead.hash": "a hash",
    "client.ref": "an opaque client ref, checked by ref_problem on import",
    "client.risk": "high | medium | low",
    "configstate.token": "a config version token",
    "inboundevent.key": "a platform event id",
    "outbox.key": "an idempotency key built from refs and ids",
    "outbox.target": "team:<key> or person:<handle>",
    "outbox.payload": "a Reply: its blocks are masked when built (messages/reply.py, tested below)",
    "outbox.status": "pending | sent | failed",
    "outbox.last_error": "a platform's error text, never a post",
    "outbox.receipts": "platform message ids",
    "person.handle": "a staff handle from the config",
    "person.name": "a staff member's name from the config (staff, not clients)",
    "person.role": "a role",
    "person.slack_user": "a Slack user id",
    "person.source": "config | import",
    "person.email": "a staff email for the Slack lookup (staff, not clients); never posted",
    "invite.code_hash": "a SHA-256 of a random invite code",
    "chatbinding.transport": "slack | telegram",
    "chatbinding.chat_id": "a Slack channel or Telegram chat id",
    "reasoncode.code": "a reason code from the config",
    "reasoncode.aliases": "other spellings of the reason code, from the config",
    "instance.id": "a running process's random id (its heartbeat row)",
    "team.routes_by": "an HH:MM time from the config",
    "reasoncode.label": "the reason code's label from the config",
    "reasoncode.side": "client | service",
    "team.key": "a team key from the config",
    "team.name": "a team name from the config",
    "team.zone": "a time zone name",
    "team.slack_channel": "a Slack channel id",
    "team.morning_post": "HH:MM",
    "team.reconcile": "HH:MM",
    "team.escalation": "the escalation policy from the config",
    "team.medicines": "the medicines settings from the config",
    "team.weekly_status": "day HH:MM",
    "action.risk": "a risk category",
    "action.state": "open | closed",
    "contact.source_id": "the import file's contact_id, checked by ref_problem",
    "contact.kind": "a contact kind",
    "contact.status": "open | done | missed",
    "contact.reason_code": "a reason code",
    "contact.logged_via": "a transport name",
    "escalation.subject": "kind:ref",
    "escalation.open_subject": "kind:ref",
    "escalation.trigger": "reason:<code> | reconcile | time_critical",
    "escalation.ref": "an opaque client ref",
    "escalation.state": "open | acknowledged | resolved",
    "escalation.policy": "the policy frozen from the config",
    "escalation.opened_by": "a handle or 'scheduler'",
    "incident.ref": "an incident ref, checked by ref_problem",
    "incident.category": "a category code",
    "incident.risk": "high | medium | low",
    "incident.state": "open | closed",
    "medscheck.round": "a round name from the config",
    "medsduty.duty_id": "the import file's duty_id, checked by ref_problem",
    "medsduty.round": "a round name",
    "medsduty.client_ref": "an opaque client ref, checked by ref_problem",
    "medsduty.status": "open | given | late | missed",
    "planrequest.kind": "cqc",
    "reconciliation.open_items": "refs, kinds, risks and handles built by reconcile",
    "reconciliation.run_by": "a handle or 'scheduler'",
    "actionevidence.kind": "an evidence kind",
    "escalationevent.kind": "an event kind",
    "medsexception.kind": "late | missed",
    "learningack.via": "a transport name",
    "team.monthly_report": "an HH:MM time from the config",
    "team.standards": "contract standards from the config: contact kind to seconds",
    "action.metric": "a metric name from handlers/metrics.METRICS",
    "action.priority": "high | medium | low",
    "actionmilestone.state": "open | done",
    "team.sampling": "the documentation sampling settings and defect codes from the config",
    "docsample.week": "an ISO week such as 2026-W48",
    "docsample.reason": "standard | increased",
    "docsample.result": "ok | defect",
    "docsample.defect_code": "a defect code from the config",
    "team.referrals": "the front-door settings from the config (bases, hours, sample %)",
    "referral.ref": "an opaque client ref, checked by ref_problem",
    "referral.basis": "an eligibility basis from the config",
    "referral.status": "pending | authorised | declined",
    "referral.result": "ok | wrong",
    "pip.state": "open | closed",
    "pip.outcome": "achieved | formal",
    "pipobjective.rag": "red | amber | green",
    "pipentry.kind": "an entry kind (observe, debrief, signoff, review, …)",
    "pipentry.rating": "met | partly | not",
}


def _base(column):
    kind = column.type
    while isinstance(kind, TypeDecorator):  # FreeText wraps AutoString wraps String
        kind = kind.impl_instance
    return kind


def text_columns() -> dict[str, object]:
    return {f"{t.name}.{c.name}": c for t in SQLModel.metadata.sorted_tables for c in t.columns
            if isinstance(_base(c), (String, JSON))}


def masked(column) -> bool:
    return isinstance(column.type, (FreeText, FreeJSON))


def test_every_text_column_is_masked_or_named_an_identifier():
    columns = text_columns()
    unlisted = sorted(name for name, c in columns.items() if not masked(c) and name not in IDENTIFIERS)
    assert unlisted == [], "free text must be FreeText/FreeJSON, or listed with a reason"
    assert sorted(set(IDENTIFIERS) - set(columns)) == []  # no stale entries
    assert sorted(n for n in IDENTIFIERS if masked(columns[n])) == []
    assert all(IDENTIFIERS.values())
    # the typed fields the handlers used to mask by hand are all behind the boundary
    assert {"contact.note", "action.title", "action.finding", "action.closure",
            "actionevidence.text", "actionversion.change", "actionversion.snapshot",
            "learningpoint.text", "incident.review", "incident.action", "medscheck.note",
            "medsexception.reason", "medsexception.action", "medsexception.informed",
            "escalation.note", "escalationevent.detail"} <= {n for n, c in columns.items() if masked(c)}


def _value(column, name: str):
    if masked(column):
        return {"typed": [TYPED]} if isinstance(column.type, FreeJSON) else TYPED
    base = _base(column)
    if isinstance(base, JSON):
        return {}
    if isinstance(base, String):
        return f"x{name[:3]}"
    if isinstance(base, Boolean):
        return False
    if isinstance(base, DateTime):
        return MORNING
    if isinstance(base, Date):
        return DAY
    assert isinstance(base, (Integer, BigInteger, Float)), (column, base)
    return 1  # every row is id 1, so every foreign key finds its row


def test_typed_text_written_through_the_orm_is_stored_masked(engine):
    """One row in every table with a masked column (and the rows they point at), every text
    field typed with an NHS number and a date of birth, written through the ORM outside any
    team's day; the database's own text must carry neither."""
    models = {m.local_table.name: m.class_ for m in SQLModel._sa_registry.mappers}
    with Session(engine) as session:
        for table in SQLModel.metadata.sorted_tables:  # parents first
            values = {c.key: _value(c, c.name) for c in table.columns}
            session.merge(models[table.name](**values))
            session.flush()
        session.commit()
    leaks = []
    with engine.connect() as conn:
        for name, column in text_columns().items():
            if not masked(column):
                continue
            table, col = name.split(".")
            raw = conn.exec_driver_sql(f'SELECT CAST("{col}" AS TEXT) FROM "{table}"').scalar_one()
            if NHS in raw or DOB in raw or "[NHS no. removed]" not in raw:
                leaks.append((name, raw))
    assert leaks == []


def test_a_core_insert_is_masked_too(engine):
    """The column type masks below the ORM: a Core insert (as bulk_insert does) is covered."""
    with session_scope(engine) as session:
        run_team(session)
    table = storage.models.LearningPoint.__table__
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"team_id": 1, "text": TYPED, "at": MORNING, "by_id": 1}])
        raw = conn.exec_driver_sql("SELECT text FROM learningpoint").scalar_one()
    assert NHS not in raw and DOB not in raw


def run_team(session) -> None:
    from storage.models import Person, Team

    session.add(Team(id=1, key="north", name="North"))
    session.add(Person(id=1, handle="amira", name="Amira"))


def test_audit_detail_is_masked_before_it_is_hashed(engine):
    with session_scope(engine) as session:
        repo.add_audit(session, at=MORNING, actor="amira", transport="console",
                       action="contact:missed", detail={"note": TYPED})
    with engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT CAST(detail AS TEXT) FROM auditevent").scalar_one()
    assert NHS not in raw and DOB not in raw
    from storage import audit

    with Session(engine) as session:
        assert audit.verify(session).ok  # the hash is of what was stored


def test_a_post_cannot_carry_an_nhs_number_or_a_labelled_birth_date():
    """Outside a team's day (a post loaded back from the outbox) only the shapes that are never
    operational are masked; inside it, old dates are births too, as in storage."""
    outside = Reply(blocks=[Block(text=f"NHS {NHS}, DOB {DOB}, due 24/11/2026",
                                  fields=[("Born", DOB)])])
    assert NHS not in outside.plain() and DOB not in outside.plain()
    assert "24/11/2026" in outside.plain()
    with masking_day(DAY):
        inside = Block(text="seen 12/03/1954, visit 24/11/2026")
    assert inside.text == "seen [date removed], visit 24/11/2026"
    stored = Reply.model_validate(json.loads(outside.model_dump_json()))
    assert stored == outside  # masking again changes nothing


def test_a_handler_that_forgets_to_mask_still_stores_and_posts_masked(app):
    """learn stores and echoes the typed text; the boundary masks both, as of the team's day."""
    reply = run(app, "amira", f"learn Client said NHS {NHS}; DOB {DOB}; next visit 28/11/2026")
    assert NHS not in reply.plain() and DOB not in reply.plain()
    with app.engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT text FROM learningpoint").scalar_one()
    assert NHS not in raw and DOB not in raw
    assert "28/11/2026" in raw  # an operational date of the team's day is kept


@pytest.mark.parametrize("text", ["mrs smith 943 476 5919", "born 1.2.1950"])
def test_an_action_retyped_the_same_is_not_a_rewording(app, text):
    run(app, "dan", f'action add "{text}" owner=@ben due="31 Jan 2027"')
    reply = run(app, "dan", f'action update A-1 title="{text}"')
    assert not reply.ok  # nothing to update: the stored (masked) title is what was typed


def test_a_posts_quick_all_clear_masks_exactly_as_the_full_rules():
    """mask_posted skips the rules for text that cannot match (a 500-item list is 500 blocks);
    on every corpus text it gives what mask gives, in a team's day and outside one."""
    from storage.privacy import mask, mask_posted
    from tests.privacy_corpus import CASES, TODAY

    texts = [typed for typed, _, _ in CASES] + [TYPED, "NHS 94 34 76 59 19", "born March 1956"]
    with masking_day(TODAY):
        assert [mask_posted(t) for t in texts] == [mask(t, TODAY) for t in texts]
    assert [mask_posted(t) for t in texts] == [mask(t, None, labelled_only=True) for t in texts]


def test_a_page_opened_by_the_sweep_keeps_a_duty_id_shaped_like_todays_date(app, tmp_path):
    """The sweep stores as of today: an id such as M-20261124-01 is not a birth date."""
    from handlers import sweep
    from storage.medicines import MEDS_COLUMNS, import_meds
    from storage.models import Escalation, Team
    from tests.conftest import MORNING, write_csv

    rounds = [{"name": "morning", "time": "08:00", "lead": "amira"}]
    with Session(app.engine) as s:
        north = s.exec(select(Team).where(Team.key == "north")).one()
        north.medicines = {**(north.medicines or {}), "meds_rounds": rounds}
        s.add(north)
        s.commit()
    import_meds(app.engine, write_csv(tmp_path / "m.csv", [
        {"duty_id": "M-20261124-01", "team": "north", "round": "morning", "client_ref": "C-7F3K",
         "due_at": "2026-11-24T08:00", "window_minutes": "30", "time_critical": "true"}],
        MEDS_COLUMNS))
    sweep.sweep(app.engine, MORNING.replace(hour=9))
    with Session(app.engine) as s:
        [esc] = s.exec(select(Escalation)).all()
    assert esc.summary.startswith("medicines M-20261124-01: no record"), esc.summary


def test_page_events_written_in_bulk_are_masked_on_both_databases(engine):
    """A sweep's pages go in as one statement (PostgreSQL builds their detail JSON in SQL, past
    the column's masking): the strings in it are masked all the same."""
    from storage.escalations import add_pages
    from storage.models import Escalation, EscalationEvent

    with session_scope(engine) as session:
        run_team(session)
        session.flush()
        session.add(Escalation(id=1, team_id=1, subject="contact:N-1", trigger="reason:safety",
                               ref="C-7F3K", summary="missed: Safety concern", opened_at=MORNING,
                               opened_by="amira"))
        session.flush()
        add_pages(session, at=MORNING, pages=[(1, 0, 1, f"oncall {NHS}", 1)])
    with Session(engine) as session:
        [event] = session.exec(select(EscalationEvent)).all()
    assert NHS not in json.dumps(event.detail) and event.detail["repeat"] == 1
    assert event.detail["role"].startswith("oncall ")
