"""The status lines that share other queries' passes (storage/status.py) count what the lines'
own definitions say: documentation samples, referrals and covers in side_counts' UNION ALL, and
on time by kind from the contacts pass, equal to timeliness.by_kind (the evidence pack's)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from storage import audit, timeliness
from storage import status as store
from storage.db import session_scope
from storage.models import Contact, DocSample, Person, Referral, Team
from tests.conftest import MORNING

WINDOW = (datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))
INSIDE, OUTSIDE = WINDOW[0] + timedelta(days=2), WINDOW[1] + timedelta(hours=1)


def _seed(session, north: Team, south: Team) -> None:
    people = [p.id for p in session.exec(select(Person).order_by(Person.id)).all()[:3]]
    contacts = [c.id for c in session.exec(select(Contact).order_by(Contact.id)).all()[:6]]
    a, b, c = people
    for contact, person, reason, at, result, code in [
            (contacts[0], a, "standard", INSIDE, None, None),
            (contacts[1], a, "increased", INSIDE, "ok", None),
            (contacts[2], b, "increased", INSIDE, "defect", "late_entry"),
            (contacts[3], b, "increased", INSIDE, "defect", "late_entry"),
            (contacts[4], c, "standard", INSIDE, "defect", "missing_outcome"),
            (contacts[5], c, "increased", OUTSIDE, "defect", "other")]:  # drawn after: not counted
        session.add(DocSample(team_id=north.id, week="2026-W47", contact_id=contact,
                              person_id=person, reason=reason, drawn_at=at, result=result,
                              defect_code=code))
    for ref, team, status, at, sampled, result in [
            ("R-1", north, "pending", INSIDE, False, None),
            ("R-2", north, "authorised", INSIDE, True, "ok"),
            ("R-3", north, "authorised", INSIDE, True, "wrong"),
            ("R-4", north, "authorised", INSIDE, True, None),
            ("R-5", north, "declined", INSIDE, False, None),
            ("R-6", north, "authorised", OUTSIDE, True, "wrong"),
            ("R-7", south, "pending", INSIDE, False, None)]:
        session.add(Referral(ref=ref, team_id=team.id, source="gp", status=status,
                             received_at=at, sampled=sampled, result=result))
    for team, at, action in [("north", INSIDE, store.COVER), ("north", INSIDE, store.COVER),
                             ("north", OUTSIDE, store.COVER), ("south", INSIDE, store.COVER),
                             ("south", INSIDE, "contact:done")]:
        audit.append(session, at=at, actor="ann", transport="console", action=action, team=team,
                     subject="X-1")


def test_documentation_referrals_and_covers_match_a_hand_count(app):
    with session_scope(app.engine) as s:
        north = s.exec(select(Team).where(Team.key == "north")).one()
        south = s.exec(select(Team).where(Team.key == "south")).one()
        _seed(s, north, south)
    with session_scope(app.engine) as s:
        side = store.side_counts(s, team_ids=[north.id, south.id], window=WINDOW, now=MORNING,
                                 before=WINDOW[1], today=MORNING.date())
    assert side[north.id]["documentation"] == {
        "sampled": 5, "audited": 4, "defects": {"late_entry": 2, "missing_outcome": 1},
        "increased": 2}
    assert side[south.id]["documentation"] == {"sampled": 0, "audited": 0, "defects": {},
                                               "increased": 0}
    assert side[north.id]["referrals"] == {"received": 5, "pending": 1, "authorised": 3,
                                           "declined": 1, "sampled": 3, "validated": 2,
                                           "wrong": 1}
    assert side[south.id]["referrals"] == {"received": 1, "pending": 1, "authorised": 0,
                                           "declined": 0, "sampled": 0, "validated": 0,
                                           "wrong": 0}
    assert (side[north.id]["covers"], side[south.id]["covers"]) == (2, 1)


def test_on_time_by_kind_from_the_contacts_pass_equals_by_kind(app):
    now = MORNING + timedelta(hours=5)  # some windows over, some still open
    with session_scope(app.engine) as s:
        for i, c in enumerate(s.exec(select(Contact).order_by(Contact.id)).all()):
            if i % 4 == 1:
                c.status, c.outcome_at = "done", c.due_end - timedelta(minutes=5)
            elif i % 4 == 2:
                c.status, c.outcome_at = "done", c.due_end + timedelta(minutes=5)
            elif i % 8 == 3:
                c.status, c.reason_code = "missed", "hospital"
            s.add(c)
    day = (MORNING.replace(hour=0), MORNING.replace(hour=0) + timedelta(days=1))
    since = (WINDOW[0], day[1])  # overlaps the others, as `status since …` does: a second pass
    windows = [day, WINDOW, day, since]
    with session_scope(app.engine) as s:
        ids = [t.id for t in s.exec(select(Team))]
        kinds = store.contacts_by_kind(s, team_ids=ids, windows=windows, now=now)
        expected = timeliness.by_kind(s, team_ids=ids, window=day, now=now)
        totals = store.contacts(s, team_ids=ids, windows=windows, now=now)
    assert any(expected.values())
    for t in ids:
        assert timeliness.on_time(kinds[t][0]) == expected[t]
        assert kinds[t][2] == kinds[t][3] == kinds[t][0]
        assert kinds[t][1] == {}
        for per_kind, total in zip(kinds[t], totals[t]):
            assert {m: sum(k[m] for k in per_kind.values()) for m in store.MEASURES} == total
