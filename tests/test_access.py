"""The access rule, table-driven: every registered command × role × where it is typed.

A person acts on a team only if they belong to it (the nominated individual: every team).
Scenarios, for people of North: their own channel, a DM (home team), a DM naming South (its
team key or one of its records), and South's channel. Refusals must write nothing (every row of
every table compared); allowed commands must succeed. Allowed commands run in a unit of work
that is rolled back, so every case starts from the same records.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlmodel import Session, SQLModel, col, select

import handlers.dispatch as dispatch_module
from bot.demo import CONFIG
from handlers.registry import load
from messages import catalog
from storage.medicines import MEDS_COLUMNS, import_meds
from storage.models import (Action, AuditEvent, Client, Contact, Escalation, Incident,
                            LearningPoint, Pip, Team, at_least)
from tests.conftest import count, link, run, write_csv
from tests.fakes.servers import wait_for
from tests.conftest import command as slash
from tests.conftest import deliver, interaction, post, pressed, tapped, typed

ROLES = {"staff": "ben", "supervisor": "amira", "manager": "mia", "nominated": "grace"}
MIA = '''[[people]]
handle = "mia"
name = "Mia Reyes"
role = "manager"
teams = ["north"]

'''


def access_config(text: str = CONFIG) -> str:
    """The demo teams with medicines rounds, and Mia: a manager of North only."""
    end = 'reconcile = "17:30"\n'
    north, south, rest = text.split(end, 2)
    rounds = 'meds_rounds = [{{name = "morning", time = "08:00", lead = "{}"}}]\n'
    text = north + end + rounds.format("ben") + south + end + rounds.format("femi") + rest
    return text.replace("[escalation]", MIA + "[escalation]", 1)


@pytest.fixture
def config_path(tmp_path) -> Path:
    path = tmp_path / "carebot.toml"
    path.write_text(access_config(), encoding="utf-8")
    return path


# verb → (line, roles allowed in their own team; None: every role from the command's
# min_role up). `{…}` are the target team's key and records; a line without one names
# nothing, so it has no "other team named" case.
TABLE: dict[str, tuple[str, set[str] | None]] = {
    "help": ("help", None),
    "whoami": ("whoami", None),
    "due": ("due {team}", None),
    "mine": ("mine", None),
    "cover": ("cover {ref} @{owner}", None),
    "routes ok": ("routes ok", None),  # only the caller's own contacts and pages: nothing of another team
    "done": ("done {ref} visited", None),
    "missed": ("missed {ref} hospital", None),
    "reconcile": ("reconcile {team}", None),
    "escalations": ("escalations", None),
    # Staff who were not paged are not in the escalation chain, in any team.
    "ack": ("ack {esc}", {"supervisor", "manager", "nominated"}),
    "resolve": ("resolve {esc} called family, client safe", {"supervisor", "manager", "nominated"}),
    "meds": ("meds", None),
    "meds done": ("meds done {duty}", None),
    "meds late": ('meds late {duty} "handover delay" action="given 08:40" informed="Dr Shah"', None),
    "meds missed": ('meds missed {duty} refused action="GP told" informed="Dr Shah"', None),
    "meds check": ("meds check morning yes", None),
    "meds baseline": ("meds baseline 10", None),
    "meds trend": ("meds trend", None),
    "learn": ("learn Recheck bed rails after transfers incident={incident}", None),
    "learn ack": ("learn ack {point}", None),
    "learn who": ("learn who {point}", None),
    "incident open": ("incident open INC-77 falls", None),
    "incident review": ("incident review {incident} family informed", None),
    "incident action": ("incident action {incident} checklist updated", None),
    "incident close": ("incident close {incident}", None),
    "incident reopen": ("incident reopen {closed} falls again", None),
    "incident list": ("incident list", None),
    "action add": ('action add "Rota gaps" owner=@{owner} due="in 6 weeks"', None),
    "action evidence": ('action evidence {action} audit "rota audit: 2 gaps of 40"', None),
    "action review": ("action review {action} on track", None),
    "action update": ("action update {action} risk=safety", None),
    "action close": ("action close {action}", None),
    "action": ("action {action}", None),
    "action history": ("action history {action}", None),
    "plan": ("plan", None),
    "status": ("status team {team} last week", None),
    "status export": ("status export", None),
    "status month": ("status month last", None),
    "invite": ("invite @{owner}", None),
    # In the console a chat is a team key (always bound) and a DM says where to type it.
    "bind": ("bind {team}", None),
    "action set": ("action set {action} priority=high metric=missed_rate target=5%", None),
    "action milestone": ('action milestone {action} "Rota check" due="in 2 weeks"', None),
    "action reopen": ("action reopen {closed_action} slipped", None),
    "sample": ("sample {team}", None),
    "audit": ("audit {sampled} defect late_entry no risk review", None),
    "referral add": ("referral add C-8K2W source=gp", None),
    # managers and named authorisers (none among these four) decide; validators check
    "referral authorise": ("referral authorise {pending} basis=gp_referral", {"manager", "nominated"}),
    "referral decline": ("referral decline {pending} out of area", {"manager", "nominated"}),
    "referral validate": ("referral validate {accepted} ok", {"supervisor", "manager", "nominated"}),
    "referrals": ("referrals", None),
    "referral": ("referral", None),
    # Improvement plans: {pip} is a plan for chloe (North) or hana (South), so the staff member
    # in the table (ben) is a colleague of the person, never the person: refused every time.
    "pip open": ("pip open @{owner} records", None),
    "pip objective": ('pip objective {pip} "Notes on time" by="in 4 weeks" check="audit"', None),
    "pip checklist": ('pip checklist {pip} "notes on time; handover read"', None),
    "pip tick": ("pip tick {pip} 1", set()),  # the person only (tests/test_pips.py)
    "pip ack": ("pip ack {pip}", set()),
    "pip comment": ("pip comment {pip} my own words", set()),
    "pip": ("pip {pip}", {"supervisor", "manager", "nominated"}),
    "pip observe": ("pip observe {pip} met rationale recorded", None),
    "pip debrief": ("pip debrief {pip} rechecked obs", {"supervisor", "manager", "nominated"}),
    "pip signoff": ("pip signoff {pip} notes complete", None),
    "pip review": ("pip review {pip} O1=green audit 9 of 10", None),
    "pip close": ("pip close {pip} formal no improvement", None),
}

# where the line is typed (console chat: a team key, or None for a DM), and whose records
SCENARIOS = {"own channel": ("north", "north"), "dm": (None, "north"),
             "other team named": (None, "south"), "other team's channel": ("south", "south")}


def _setup(app, folder: Path) -> dict[str, dict[str, str]]:
    """Records in both teams for the table's lines to name; returns them per team."""
    import_meds(app.engine, write_csv(folder / "meds.csv", [
        {"duty_id": f"D-{key[0].upper()}1", "team": key, "round": "morning", "client_ref": ref,
         "due_at": "2026-11-24T08:00", "window_minutes": "30", "time_critical": "false"}
        for key, ref in (("north", "C-2M9Q"), ("south", "C-5H2D"))], MEDS_COLUMNS))
    lines = [("amira", None, "missed C-9X2P safety"), ("erin", None, "missed C-5H2D safety")]
    for key, owner in (("north", "ben"), ("south", "femi")):
        k = key[0].upper()
        lines += [("grace", key, line) for line in (
            "learn Handover starts on time",
            f"incident open INC-{k}1 falls", f"incident review INC-{k}1 reviewed",
            f"incident action INC-{k}1 checklist", f"learn Use the checklist incident=INC-{k}1",
            f"incident open INC-{k}2 other", f"incident review INC-{k}2 reviewed",
            f"incident action INC-{k}2 agreed", f"learn Agreed fix incident=INC-{k}2",
            f"incident close INC-{k}2",
            f'action add "{key} rota" owner=@{owner} due="in 6 weeks"')]
    for key, person in (("north", "chloe"), ("south", "hana")):
        lines += [("grace", key, f"pip open @{person}"),
                  ("grace", key, 'pip objective P-%d "Notes on time" by="in 4 weeks" check=audit'
                   % (1 if key == "north" else 2)),
                  ("grace", key, 'pip checklist P-%d "notes on time"' % (1 if key == "north" else 2))]
    for handle, chat, line in lines:
        assert run(app, handle, line, chat=chat).ok, line
    with Session(app.engine) as s:
        def first(model, team_id, *where):
            return s.exec(select(model).where(model.team_id == team_id, *where)
                          .order_by(model.id)).first()

        out = {}
        for key, owner in (("north", "ben"), ("south", "femi")):
            team = s.exec(select(Team).where(Team.key == key)).one()
            client = s.exec(select(Client).join(Contact, Contact.client_id == Client.id).where(
                Contact.team_id == team.id, Client.risk != "high").order_by(Client.ref)).first()
            k = key[0].upper()
            out[key] = {"team": key, "ref": client.ref, "owner": owner, "duty": f"D-{k}1",
                        "esc": str(first(Escalation, team.id).id),
                        "point": f"L-{first(LearningPoint, team.id).id}",
                        "incident": first(Incident, team.id, Incident.state == "open").ref,
                        "closed": first(Incident, team.id, Incident.state == "closed").ref,
                        "action": f"A-{first(Action, team.id).id}",
                        "pip": f"P-{first(Pip, team.id).id}"}
    for key in out:  # evidence, so that `action close` gets to its questions
        assert run(app, "grace", f"action evidence {out[key]['action']} audit done").ok
    for key, owner in (("north", "ben"), ("south", "femi")):  # a closed action to reopen
        line = f'action add "{key} closed" owner=@{owner} due="in 6 weeks"'
        number = run(app, "grace", line, chat=key).plain().splitlines()[0].split()[1]
        assert run(app, "grace", f"action evidence {number} audit done").ok
        for answer in ("a", "b", "c", "d"):
            assert run(app, "grace", f"action close {number} {answer}").ok
        out[key]["closed_action"] = number
    _sampled(app, out)
    for key in out:  # referrals: one pending, one accepted by dan (so others may validate it)
        k = key[0].upper()
        assert run(app, "dan", f"referral add C-P{k}1 source=gp", chat=key).ok
        assert run(app, "dan", f"referral add C-A{k}1 source=ward basis=gp_referral", chat=key).ok
        out[key].update(pending=f"C-P{k}1", accepted=f"C-A{k}1")
    return out


def _sampled(app, out: dict[str, dict[str, str]]) -> None:
    """A documentation sample in each team holding one done contact (not `{ref}`, which
    `cover` needs open), for `audit {sampled}`."""
    from handlers.sampling import draw, iso_week
    from storage.db import session_scope
    from tests.conftest import DAY

    for key, values in out.items():
        with Session(app.engine) as s:
            team = s.exec(select(Team).where(Team.key == key)).one()
            client = s.exec(select(Client).join(Contact, Contact.client_id == Client.id).where(
                Contact.team_id == team.id, Client.risk != "high",
                Client.ref != values["ref"]).order_by(Client.ref)).first()
        assert run(app, "grace", f"done {client.ref}", chat=key).ok
        with session_scope(app.engine) as session:
            draw(session, session.exec(select(Team).where(Team.key == key)).one(), iso_week(DAY),
                 app.clock.now())
        values["sampled"] = client.ref


def snapshot(engine) -> dict[str, tuple[int, int]]:
    """Every table's row count and a digest of its rows (an update shows as well as an insert)."""
    out = {}
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            rows = sorted(repr(tuple(r)) for r in conn.execute(table.select()))
            out[table.name] = (len(rows), hash(tuple(rows)))
    return out


@contextmanager
def _rolled_back(engine):
    with Session(engine, expire_on_commit=False) as session:
        if engine.dialect.name == "sqlite":
            # pysqlite begins only at the first INSERT/UPDATE: a SAVEPOINT before that would
            # be the outermost transaction, committed by its RELEASE. Begin here instead.
            session.connection().exec_driver_sql("BEGIN")
        try:
            yield session
        finally:
            session.rollback()


def expected(verb: str, role: str, scenario: str) -> bool:
    line, roles = TABLE[verb]
    spec = load()[verb]
    if roles is None:
        roles = {r for r in ROLES if at_least(r, spec.min_role)}
    in_team = scenario in ("own channel", "dm") or role == "nominated"
    return role in roles and in_team


def test_every_registered_command_has_a_row_in_the_access_table():
    assert sorted(set(load()) - set(TABLE)) == [], "add these commands to TABLE"


def test_every_command_role_and_place_is_allowed_or_refused_as_the_rule_says(app, monkeypatch,
                                                                            tmp_path):
    targets = _setup(app, tmp_path)
    before = snapshot(app.engine)
    crashed = catalog.crashed("x").split("x")[0]
    wrong, cases = [], 0
    for verb, (line, _) in TABLE.items():
        for role, handle in ROLES.items():
            for scenario, (chat, target) in SCENARIOS.items():
                if scenario == "other team named" and "{" not in line:
                    continue  # the line names no team or record
                cases += 1
                text = line.format(**targets[target])
                allow = expected(verb, role, scenario)
                with monkeypatch.context() as m:
                    if allow:  # what it writes is rolled back: the next case sees the same
                        m.setattr(dispatch_module, "session_scope", _rolled_back)
                    reply = run(app, handle, text, chat=chat)
                said = reply.plain().splitlines()[0] if reply.blocks else ""
                where = f"{handle} ({role}), {scenario}: {text!r} → {said!r}"
                if crashed in said:
                    wrong.append(f"crashed: {where}")
                elif reply.ok != allow:
                    wrong.append(f"{'refused' if allow else 'allowed'}: {where}")
                if not allow:
                    after = snapshot(app.engine)
                    if after != before:
                        changed = [t for t in after if after[t] != before[t]]
                        wrong.append(f"wrote to {changed}: {where}")
                        before = after
                    # The nominated individual is in every team: a refusal of theirs there
                    # is the command's own (e.g. `pip ack` on someone else's plan).
                    if scenario == "other team's channel" and role != "nominated" and \
                            not said.startswith("You are not in South Community Team"):
                        wrong.append(f"not the access refusal: {where}")
    assert cases > 400
    assert wrong == [], "\n".join(wrong)


# ---------------------------------------------------------------- buttons from the platforms

REFUSED = "You are not in South Community Team"
# Of the four forged values, each from North's chat and from South's: in South's chat all four
# are refused by the channel; in North's, `reconcile south` and the South escalation are
# refused by name and South's contact is not on North's list.
EXPECTED = sorted(["refused"] * 6 + ["not on your list"] * 2)


def _kind(text: str) -> str:
    if text.startswith(REFUSED):
        return "refused"
    return "not on your list" if text.startswith("No contact 'C-5H2D' on your teams'") else text


def _south_escalation(app) -> int:
    assert run(app, "erin", "missed C-5H2D safety").ok
    with Session(app.engine) as s:
        team = s.exec(select(Team).where(Team.key == "south")).one()
        return s.exec(select(Escalation.id).where(Escalation.team_id == team.id)).one()


def _south_reconciliations(app) -> int:
    """South reconciliations run: a check so far (before 17:30) or the day's log, both audited."""
    return count(app.engine, AuditEvent, col(AuditEvent.action).startswith("reconcile"),
                 col(AuditEvent.subject).startswith("south:"))


def test_forged_slack_buttons_and_commands_naming_another_team_write_nothing(slack_env):
    app, fake, api, bot = slack_env
    link(app.engine, key="south", team={"slack_channel": "C0SOUTH01"}, people={})
    esc = _south_escalation(app)
    before = snapshot(app.engine)

    def in_south(value: str, trigger: str) -> str:  # a payload claiming South's channel
        return interaction(api, {"type": "block_actions", "channel": {"id": "C0SOUTH01"},
                                 "container": {"type": "message", "is_ephemeral": False},
                                 "actions": [{"type": "button", "action_id": "carebot:1:0",
                                              "block_id": "b", "value": value}]}, trigger=trigger)

    presses = ["reconcile:south", f"ack:{esc}", "done:C-5H2D", "missed:C-5H2D:hospital"]
    for i, value in enumerate(presses):  # amira (North) in North's channel, or "in" South's
        assert post(bot, pressed(api, value, trigger=f"t-n{i}")).status_code == 200
        assert post(bot, in_south(value, f"t-s{i}")).status_code == 200
    note = interaction(api, {"type": "view_submission", "view": {
        "id": "V9", "type": "modal", "callback_id": "carebot_note",
        "private_metadata": "C0SOUTH01|missed:C-5H2D:other",
        "state": {"values": {"note": {"note": {"type": "plain_text_input", "value": "moved"}}}}}})
    refused = post(bot, note).json()
    assert refused["response_action"] == "errors" and REFUSED in refused["errors"]["note"]
    for i, (text, channel) in enumerate((("reconcile", "C0SOUTH01"), ("due south", "C0NORTH01"),
                                         ("reconcile south", "C0NORTH01"))):
        body = post(bot, slash(api, text, channel=channel, trigger=f"t-c{i}")).json()
        assert body["response_type"] == "ephemeral" and body["text"].startswith(REFUSED), text

    said = wait_for(lambda: len(fake.named("response_url")) >= 2 * len(presses)
                    and fake.named("response_url"), "the refusals")
    assert sorted(_kind(r["text"]) for r in said) == EXPECTED, said
    assert snapshot(app.engine) == before
    assert fake.named("chat.postMessage") == []  # nobody paged, nothing posted

    # The same forged value from someone in South goes through: the check is on the clicker.
    post(bot, pressed(api, "reconcile:south", trigger="t-dan", user="U0DAN0001"))
    assert _south_reconciliations(app) == 1


def test_forged_telegram_callbacks_naming_another_team_write_nothing(tg):
    app, fake, bot = tg
    south_group = -1009876543210
    link(app.engine, key="south", team={"telegram_chat": south_group}, people={})
    esc = _south_escalation(app)
    before = snapshot(app.engine)
    values = ["reconcile:south", f"ack:{esc}", "done:C-5H2D", "missed:C-5H2D:hospital"]
    for value in values:  # amira (North), in North's group and in South's
        assert deliver(bot, tapped(value)) == 200
        assert deliver(bot, tapped(value, chat_id=south_group)) == 200
    assert deliver(bot, typed("/reconcile", chat_id=south_group)) == 200
    assert deliver(bot, typed("/due south")) == 200
    answers = [a.get("text") or "" for a in fake.named("answerCallbackQuery")]
    assert sorted(_kind(a) for a in answers) == EXPECTED, answers
    sent = [m["text"] for m in fake.named("sendMessage")]
    assert sorted(_kind(t) for t in sent) == sorted([*EXPECTED, "refused", "refused"]), sent
    assert snapshot(app.engine) == before

    assert deliver(bot, tapped("reconcile:south", handle="dan")) == 200
    assert _south_reconciliations(app) == 1


# ---------------------------------------------------------------- what a manager of one team sees


def test_a_manager_sees_and_changes_only_their_own_teams(app):
    from storage.models import AuditEvent

    assert run(app, "erin", "missed C-5H2D safety").ok  # South's escalation, E-1
    assert run(app, "erin", 'action add "South rota" owner=@femi due="in 6 weeks"').ok
    status = run(app, "mia", "status").plain()
    assert "North Community Team" in status and "South" not in status
    assert "All teams" not in status
    refused = run(app, "mia", "status team south")
    assert not refused.ok and "No team 'south' you can see" in refused.plain()
    assert "Open escalations" not in run(app, "mia", "escalations").plain()
    plan = run(app, "mia", "plan").plain()
    assert plan.startswith("North Community Team: action plan (0 actions)")
    assert "South rota" not in plan
    for line in ("ack 1", "resolve 1 called family"):
        reply = run(app, "mia", line)
        assert not reply.ok and reply.plain().startswith(REFUSED), line
    assert run(app, "mia", "status export").ok
    with Session(app.engine) as s:
        pack = s.exec(select(AuditEvent).where(AuditEvent.action == "status:export")).one()
    assert pack.detail["teams"] == ["north"]
    # The nominated individual sees every team.
    both = run(app, "grace", "status").plain()
    assert "South Community Team" in both and "All teams" in both
    assert run(app, "grace", "ack 1").ok


def test_an_action_for_an_owner_outside_your_teams_is_refused(app):
    before = count(app.engine, Action)
    reply = run(app, "amira", 'action add "Weekend cover" owner=@femi due="in 5 weeks"')
    assert not reply.ok
    assert reply.plain() == ("Femi Adeyemi is not in any of your teams, so you can't give them an "
                             "action; nothing was changed. Example: owner=@amira")
    assert count(app.engine, Action) == before
    assert run(app, "amira", 'action add "Weekend cover" owner=@ben due="in 5 weeks"').ok
    reply = run(app, "amira", "action update A-1 owner=@femi")
    assert not reply.ok and "not in any of your teams" in reply.plain()


def test_an_incident_ref_used_by_another_team_says_nothing_about_it(app):
    assert run(app, "erin", "incident open INC-40 safeguarding").ok
    reply = run(app, "amira", "incident open INC-40 falls")
    assert not reply.ok and reply.plain().startswith("The ref INC-40 is already in use")
    assert "safeguarding" not in reply.plain() and "open" not in reply.plain().split(";")[0]
    assert count(app.engine, Incident) == 1
