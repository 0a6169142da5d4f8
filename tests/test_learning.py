"""Handover learning points: posted with a button, each read recorded once, who has not read,
and one reminder at the next morning post."""
from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlmodel import Session, select

from handlers.base import Actor, Chat, Command
from handlers.dispatch import dispatch
from handlers.grammar import split_action
from storage.models import AuditEvent, LearningAck, LearningPoint
from tests.conftest import count, run

POINT = "learn Bed rails must be checked after every transfer"


def tap(app, handle: str, action: str):
    verb, *args = split_action(action)
    return dispatch(app.engine, app.clock, Command(Actor("console", handle), Chat("console", None),
                                                   verb, args, from_button=True))


def posts(app):
    asyncio.run(app.deliver())
    return app.transports[0].posts


def dms(app) -> list[tuple[str, str]]:
    asyncio.run(app.deliver())
    return [(h, r.plain()) for h, r in app.transports[0].dms]


def test_learning_point_is_posted_with_an_ive_read_this_button(app):
    reply = run(app, "amira", POINT)
    assert "L-1 posted" in reply.plain()
    [(team, post)] = posts(app)
    assert team == "north"
    assert post.plain().splitlines()[0] == "North Community Team: handover learning point L-1"
    assert "Bed rails must be checked after every transfer" in post.plain()
    assert [b.action for b in post.blocks[1].buttons] == ["learn_ack:1"]
    assert count(app.engine, AuditEvent, AuditEvent.action == "learning:share") == 1


def test_tapping_twice_gives_one_receipt(app):
    run(app, "amira", POINT)
    assert "you have read L-1" in tap(app, "ben", "learn_ack:1").plain()
    assert "already read L-1" in tap(app, "ben", "learn_ack:1").plain()
    with Session(app.engine) as s:
        receipts = s.exec(select(LearningAck).where(LearningAck.point_id == 1)).all()
    assert len(receipts) == 2  # amira (who shared it) and ben, once
    assert count(app.engine, AuditEvent, AuditEvent.action == "learning:read") == 1


def test_learn_who_lists_exactly_the_missing_people(app):
    run(app, "amira", POINT)
    tap(app, "ben", "learn_ack:1")
    text = run(app, "dan", "learn who L-1").plain()
    # North: Amira, Ben, Chloe, Dan (manager) and Grace (nominated).
    assert "Read (2/5): Amira Khan 24 Nov 08:00, Ben Okafor 24 Nov 08:00" in text
    assert "Not yet (3): Chloe Price, Dan Morgan, Grace Liu" in text
    assert "Not yet (3)" in run(app, "chloe", "learn who").plain()  # the latest by default


def test_unread_get_one_reminder_at_the_next_morning_post(app):
    run(app, "amira", POINT)
    for handle in ("ben", "dan", "grace"):
        tap(app, handle, "learn_ack:1")
    for _ in range(2):  # two mornings (07:30) pass; the job is what the scheduler runs
        app.clock.set(app.clock.now().replace(hour=7, minute=30) + timedelta(days=1))
        asyncio.run(app.run_job("learn_remind", "north"))
    reminders = [(h, t) for h, t in dms(app) if "learning point to read" in t]
    assert [h for h, _ in reminders] == ["chloe"]  # once, though two mornings passed
    assert reminders[0][1].splitlines()[0] == \
        "carebot: a handover learning point to read — North Community Team"


def test_bad_input_and_refusals_write_nothing(app):
    assert "Say the learning point" in run(app, "amira", "learn").plain()
    assert "Only supervisors" in run(app, "ben", POINT).plain()
    assert "No incident 'INC-99'" in run(app, "amira", POINT + " incident=INC-99").plain()
    assert "No learning point 'L-7'" in run(app, "ben", "learn ack L-7").plain()
    assert "has no learning points yet" in run(app, "ben", "learn who").plain()
    assert "doesn't know you" in run(app, "zed", "learn ack 1").plain()
    assert count(app.engine, LearningPoint) == 0


def test_another_teams_point_cannot_be_acknowledged(app):
    run(app, "amira", POINT)
    assert "No learning point" in tap(app, "femi", "learn_ack:1").plain()
    assert count(app.engine, LearningAck) == 1


def test_notes_are_masked(app):
    run(app, "amira", "learn check DOB 01/02/1950 before giving")
    with Session(app.engine) as s:
        assert "01/02/1950" not in s.exec(select(LearningPoint)).one().text
