"""A newcomer's and an attacker's pass over the controls that landed together (routes, cover,
documentation sampling, referrals, CAP accountability, improvement plans, bind): what they
type must be masked, inert in a pack, bounded, refused across teams and answered in one line
with an example of the command they typed. Table-driven: a row per command and field."""
from __future__ import annotations

import csv
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, SQLModel, select

from handlers.export import build_pack
from handlers.sampling import draw, iso_week
from messages.sampling import Group, Line, sample_list
from storage.db import session_scope
from storage.models import Action, ActionMilestone, Contact, Person, Pip, Team
from tests.conftest import DAY, MORNING, run
from tests.test_access import snapshot

LONDON = ZoneInfo("Europe/London")
TYPED = "O'Brien NHS 943 476 5919 DOB 12/03/1954"
RAW = re.compile(r"943\W{0,3}476\W{0,3}5919|12/03/1954|1954-03-12")
FORMULA = '=HYPERLINK("http://evil.example","click")'


# ---------------------------------------------------------------- set-up


def _team(app, key: str) -> Team:
    with Session(app.engine) as s:
        return s.exec(select(Team).where(Team.key == key)).one()


def _action(app, key: str) -> str:
    team = _team(app, key)
    with Session(app.engine) as s:
        return f"A-{s.exec(select(Action.id).where(Action.team_id == team.id)).first()}"


def _milestone(app, key: str) -> str:
    team = _team(app, key)
    with Session(app.engine) as s:
        number = s.exec(select(ActionMilestone.id)
                        .join(Action, Action.id == ActionMilestone.action_id)
                        .where(Action.team_id == team.id)).first()
    return f"M-{number}"


def _pip(app, handle: str) -> str:
    with Session(app.engine) as s:
        person = s.exec(select(Person).where(Person.handle == handle)).one()
        return f"P-{s.exec(select(Pip.id).where(Pip.person_id == person.id)).first()}"


def _sample(app, key: str, handle: str, ref: str) -> None:
    """`ref` done today and this week's documentation sample drawn, so it can be audited."""
    assert run(app, handle, f"done {ref}").ok
    with session_scope(app.engine) as session:
        draw(session, session.exec(select(Team).where(Team.key == key)).one(), iso_week(DAY),
             app.clock.now())


def _setup(app, *, north_pip: bool = True) -> dict[str, str]:
    """Records in both teams: an action (and South's milestone), an improvement plan, a
    drawn documentation sample, referrals pending and accepted."""
    lines = [("amira", 'action add "Rota gaps" owner=@amira due="in 6 weeks"'),
             ("erin", 'action add "South rota" owner=@erin due="in 6 weeks"'),
             ("erin", "pip open @hana records"),
             ("amira", "referral add C-8K2W source=gp basis=gp_referral"),
             ("amira", "referral add C-3J7V source=ward7"),
             ("erin", "referral add C-4S1X source=gp basis=gp_referral")]
    if north_pip:
        lines.append(("amira", "pip open @chloe records"))
    for handle, line in lines:
        assert run(app, handle, line).ok, line
    _sample(app, "north", "amira", "C-4T7P")
    _sample(app, "south", "erin", "C-EDZJ")
    south_action = _action(app, "south")
    assert run(app, "erin", f'action milestone {south_action} "South check" due="in 1 week"').ok
    out = {"A": _action(app, "north"), "SA": south_action, "SM": _milestone(app, "south"),
           "SP": _pip(app, "hana")}
    if north_pip:
        out["P"] = _pip(app, "chloe")
    return out


def _fill(app, line: str, ids: dict[str, str]) -> str:
    """`{P}` is looked up when the row runs (the table opens the plan in an earlier row)."""
    if "{P}" in line and "P" not in ids:
        ids = {**ids, "P": _pip(app, "chloe")}
    return line.format(**ids)


def _texts(engine) -> list[tuple[str, str]]:
    """(table, row) for every row of every table, as text."""
    out = []
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            out += [(table.name, repr(tuple(r))) for r in conn.execute(table.select())]
    return out


# ---------------------------------------------------------------- NHS numbers and birth dates

MASKED = [  # (who, line): TYPED in every free-text field a new command takes
    ("amira", "routes ok {T}"),
    ("amira", "audit C-4T7P defect missing_outcome {T}"),
    ("amira", "referral add C-7Q2Z source={T}"),
    ("dan", "referral decline C-3J7V {T}"),
    ("dan", "referral validate C-8K2W wrong {T}"),
    ("amira", 'action set {A} failure_mode="{T}" control="{T}" root_cause="{T}" '
              'immediate_control="{T}" regulation="{T}"'),
    ("amira", 'action milestone {A} "{T}" due="in 2 weeks"'),
    ("amira", "pip open @chloe {T}"),
    ("amira", 'pip objective {P} "{T}" by="in 4 weeks" check="{T}"'),
    ("amira", 'pip checklist {P} "{T}; handover read"'),
    ("chloe", "pip comment {P} {T}"),
    ("amira", "pip observe {P} partly {T}"),
    ("chloe", "pip debrief {P} {T}"),
    ("amira", "pip signoff {P} {T}"),
    ("amira", "pip review {P} O1=amber {T}"),
    ("dan", "pip close {P} formal {T}"),
]


def test_nhs_numbers_and_birth_dates_are_masked_in_every_new_field(app):
    ids = _setup(app, north_pip=False)
    wrong = []
    for handle, line in MASKED:
        text = _fill(app, line.replace("{T}", TYPED), ids)
        reply = run(app, handle, text)
        if not reply.ok or RAW.search(reply.plain()):
            wrong.append(f"{text!r} → {reply.plain()[:200]!r}")
    assert wrong == []
    leaked = [f"{table}: {row[:200]}" for table, row in _texts(app.engine) if RAW.search(row)]
    assert leaked == []  # the database, its audit rows and every queued post or DM
    kept = {table for table, row in _texts(app.engine) if "O'Brien" in row}
    assert {"routecheck", "docsample", "referral", "action", "actionmilestone", "pip",
            "pipobjective", "pipentry"} <= kept  # the apostrophe stored as typed


# ---------------------------------------------------------------- formulas in the pack

FORMULAS = [  # (who, line, pack file whose cell must show the formula as text)
    ("amira", "routes ok {F}", "routes"),
    ("amira", "audit C-4T7P defect missing_outcome {F}", "documentation_sample"),
    ("amira", "referral add C-7Q2Z source={F}", "referrals"),
    ("dan", "referral decline C-3J7V {F}", "referrals"),
    ("amira", "action set {A} failure_mode={F}", "actions"),
    ("amira", 'action milestone {A} {F} due="in 2 weeks"', "action_milestones"),
    ("amira", "pip observe {P} partly {F}", "pip_entries"),
    ("amira", 'pip objective {P} {F} by="in 4 weeks" check=audit', "pip_objectives"),
]


def test_a_formula_typed_into_a_new_field_is_inert_in_the_pack(app, tmp_path):
    ids = _setup(app)
    for handle, line, _ in FORMULAS:
        text = _fill(app, line.replace("{F}", FORMULA), ids)
        assert run(app, handle, text).ok, text
    out = tmp_path / "pack"
    with session_scope(app.engine) as session:
        teams = list(session.exec(select(Team).where(Team.key == "north")))
        build_pack(session, teams, DAY - timedelta(days=7), DAY, MORNING, LONDON, out,
                   include_pips=True)
    live, shown = [], set()
    for path in out.glob("*.csv"):
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.reader(fh):
                for cell in row:
                    if cell[:1] in ("=", "+", "@", "|", "%") or (
                            cell[:1] == "-" and not re.fullmatch(r"-[\d.]+", cell)):
                        live.append(f"{path.name}: {cell[:80]}")
                    if cell.startswith("'=HYPERLINK("):
                        shown.add(path.stem)
    assert live == []
    assert {name for *_, name in FORMULAS} <= shown
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'HYPERLINK("http' not in html  # escaped, shown as text


# ---------------------------------------------------------------- too long

LONG = [  # (who, line): {X} is the over-long text
    ("amira", "routes ok {X}"),
    ("amira", "audit C-4T7P defect missing_outcome {X}"),
    ("amira", "referral add C-7Q2Z source={X}"),
    ("dan", "referral decline C-3J7V {X}"),
    ("dan", "referral validate C-8K2W wrong {X}"),
    ("amira", "action set {A} failure_mode={X}"),
    ("amira", 'action milestone {A} {X} due="in 2 weeks"'),
    ("amira", 'pip objective {P} "x" by="in 4 weeks" check={X}'),
    ("chloe", "pip comment {P} {X}"),
    ("amira", "pip observe {P} partly {X}"),
]


@pytest.mark.parametrize("size,said", [(100_000, "carebot reads at most 20,000"),
                                       (2_500, "2,000")])
def test_over_long_text_is_refused_in_one_line_and_nothing_is_written(app, size, said):
    ids = _setup(app)
    before = snapshot(app.engine)
    wrong = []
    for handle, line in LONG:
        text = _fill(app, line.replace("{X}", "a" * size), ids)
        reply = run(app, handle, text)
        plain = reply.plain()
        if reply.ok or said not in plain or "\n" in plain or len(plain) > 400:
            wrong.append(f"{text[:60]!r} → {plain[:200]!r}")
    assert wrong == []
    assert snapshot(app.engine) == before


# ---------------------------------------------------------------- unknown refs, other teams

UNKNOWN = [  # (who, line, what the one line says)
    ("amira", "pip P-99", "No improvement plan 'P-99'"),
    ("amira", 'pip objective P-99 "x" by="in 4 weeks" check=audit', "No improvement plan 'P-99'"),
    ("amira", "action set A-99 priority=high", "No action 'A-99' on your teams. Open ones: {A}"),
    ("amira", 'action milestone A-99 "x" due="in 2 weeks"', "No action 'A-99'"),
    ("amira", "action milestone done M-99", "No milestone 'M-99' on your teams, and none is open"),
    ("dan", "referral authorise C-ZZZZ basis=gp_referral", "Example: referral authorise"),
    ("dan", "referral decline C-ZZZZ out of area", "Example: referral decline"),
    ("dan", "referral validate C-ZZZZ ok", "Example: referral validate"),
    ("amira", "audit C-ZZZZ ok", "not in your team's current documentation sample"),
    ("amira", "cover C-ZZZZ @ben", "Example: cover C-"),
    # another team's records, named by their refs from North: as if they did not exist
    ("amira", "action set {SA} priority=high", "No action '{SA}'"),
    ("amira", 'action milestone {SA} "x" due="in 2 weeks"', "No action '{SA}'"),
    ("amira", "action milestone done {SM}", "No milestone '{SM}'"),
    ("amira", "pip {SP}", "No improvement plan '{SP}'"),
    ("amira", "pip review {SP} O1=green fine", "No improvement plan '{SP}'"),
    ("amira", "pip comment {SP} mine now", "No improvement plan '{SP}'"),
    ("amira", "referral validate C-4S1X ok", "No referral 'C-4S1X' on your teams (north)"),
    ("amira", "referral add C-4S1X source=gp", "already in use"),
    ("amira", "audit C-EDZJ ok", "not in your team's current documentation sample"),
    ("amira", "cover C-EDZJ @ben", "No contact 'C-EDZJ'"),
    ("amira", "cover C-9X2P @erin", "No one '@erin' in North Community Team"),
    ("amira", "pip open @hana x", "No active colleague '@hana'"),
    ("amira", "invite @erin", "No one '@erin' in your teams"),
]


def test_unknown_and_other_teams_refs_get_one_line_and_write_nothing(app):
    ids = _setup(app)
    before = snapshot(app.engine)
    wrong = []
    for handle, line, says in UNKNOWN:
        text = line.format(**ids)
        reply = run(app, handle, text)
        plain = reply.plain()
        if reply.ok or says.format(**ids) not in plain or "\n" in plain \
                or "xample" not in plain and "See" not in plain:
            wrong.append(f"{handle}: {text!r} → {plain!r}")
        elif "South" in plain or "erin" in plain.replace("'@erin'", ""):
            wrong.append(f"names the other team: {text!r} → {plain!r}")
    assert wrong == []
    assert snapshot(app.engine) == before


# ---------------------------------------------------------------- a newcomer's wording

WORDING = [  # (who, line, what the reply says)
    ("amira", "routes", "'routes' needs one more word: routes ok. Nothing was changed. "
                        "Example: routes ok"),
    ("amira", "routes okay", "'routes' needs one more word: routes ok."),
    ("amira", "incident", "'incident' needs one more word: incident open, incident review"),
    ("dan", "bind nowhere", "Unknown team 'nowhere'. Teams: north, south. Example: bind north"),
    ("amira", "sample nowhere", "Example: sample north"),
    ("amira", "reconcile nowhere", "Example: reconcile north"),
    ("amira", 'pip objective {P} "x" by=yesterday check=audit',
     "The date it is due by (23 Nov 2026) is in the past."),
    ("amira", "action set {A} control_owner=@ghost", "Example: control_owner=@amira"),
    ("amira", "action set {A} control_owner=@erin", "Example: control_owner=@amira"),
    ("ben", 'action milestone {A} "x" due="in 1 week"',
     "Only the owner (Amira Khan) or a supervisor can update {A}; nothing was changed. "
     "See it: action {A}"),
]


def test_refusals_give_an_example_of_the_command_typed(app):
    ids = _setup(app)
    wrong = []
    for handle, line, says in WORDING:
        reply = run(app, handle, line.format(**ids))
        if reply.ok or says.format(**ids) not in reply.plain():
            wrong.append(f"{line!r} → {reply.plain()!r}")
    assert wrong == []


def test_one_plan_listed_is_named_by_its_own_ref(app):
    ids = _setup(app)
    listing = run(app, "amira", "pip").plain()
    assert f"One plan: pip {ids['P']}" in listing


def test_help_all_starts_with_the_daily_loop_and_lists_each_command_once(app):
    said = run(app, "amira", "help all").plain().splitlines()
    usages = [line for line in said[2:] if line and not line.startswith(" ")]
    assert usages[:4] == ["due [TEAM]", "mine", "done REF [NOTE…] [at=…]",
                          "missed REF [REASON] [NOTE…]"]
    assert "referrals" in usages and "referral" not in usages  # the alias, once
    assert not any(line.rstrip().endswith("?.") or "?. e.g." in line for line in said)


def test_help_names_a_supervisors_new_everyday_commands_and_a_topics_commands(app):
    everyday = run(app, "amira", "help").plain()
    assert all(f"\n{verb}" in everyday for verb in ("routes ok", "referral add", "referrals"))
    staff = run(app, "ben", "help").plain()
    assert "routes ok" not in staff and "referral add" not in staff
    topic = run(app, "amira", "help incident")
    assert topic.ok and "incident open REF" in topic.plain() and "incident list" in topic.plain()


def test_the_sample_list_shows_the_contact_id_of_a_client_listed_twice():
    due = MORNING
    group = Group(name="Ben Okafor", lines=[
        Line(ref="C-2M9Q", contact="N-1", kind="home_visit", due=due),
        Line(ref="C-2M9Q", contact="N-2", kind="home_visit", due=due + timedelta(days=1)),
        Line(ref="C-7F3K", contact="N-3", kind="review", due=due)])
    text = sample_list("North", "span", [group], LONDON, ["unsigned"]).plain()
    assert "C-2M9Q (N-1) · home visit" in text and "C-2M9Q (N-2) · home visit" in text
    assert "C-7F3K · review" in text and "(N-3)" not in text
    alone = sample_list("North", "span", [Group(name="B", lines=group.lines[2:])], LONDON,
                        ["unsigned"]).plain()
    assert "in brackets" not in alone


def test_a_record_audited_by_its_contact_id_is_named_so_in_the_reply(app):
    _setup(app)
    with Session(app.engine) as s:
        contact_id = s.exec(select(Contact.source_id).join(
            Team, Team.id == Contact.team_id).where(Team.key == "north",
                                                    Contact.status == "done")).first()
    bad = run(app, "amira", f"audit {contact_id} maybe")
    assert not bad.ok and "Say ok or defect after the ref, not 'maybe'" in bad.plain()
    reply = run(app, "amira", f"audit {contact_id} ok")
    assert reply.ok and reply.plain().startswith(f"C-4T7P ({contact_id}) audited: ok ✓.")


def test_the_pending_referrals_offer_the_decision_commands_only_to_who_may_decide(app):
    _setup(app)
    assert "referral authorise REF" in run(app, "dan", "referrals").plain()
    staff = run(app, "ben", "referrals").plain()
    assert "C-3J7V · from ward7" in staff and "referral authorise" not in staff
    assert "A manager or a named authoriser decides each one." in staff
