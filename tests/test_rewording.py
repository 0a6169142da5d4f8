"""Rewording the list line and its buttons changes no button: renderers read the ref, the
marks and the actions from the Reply's fields, never out of the words."""
from __future__ import annotations

from sqlmodel import Session, select

from handlers.base import Actor, Chat, Command
from handlers.dispatch import dispatch
from handlers.grammar import split_action
from messages import catalog, slack, telegram, text
from storage.models import Contact
from tests.conftest import run


def controls(reply) -> dict:
    """What each renderer lets a person press or type, and what it runs."""
    compact = slack._compact(reply)  # the long-list layout, forced
    return {
        "telegram": [m.keyboard for m in telegram.render(reply)],
        # A line's overflow menu: its options are the words, their values what runs.
        "slack": [[o["value"] for o in (b.get("accessory") or {}).get("options", [])]
                  for b in slack.render(reply)["blocks"]],
        "slack compact": [[(o["text"]["text"], o["value"]) for o in e["options"]]
                          for b in compact if b["type"] == "actions" for e in b["elements"]],
    }


def reword(monkeypatch) -> None:
    # New words with the old separators in odd places: nothing may parse them.
    monkeypatch.setattr(catalog, "item_line", lambda item, zone, day, **_: (
        f"Visit for {item.ref.lower()} ({item.kind}) — now {item.status} · see ⚠ notes"))
    monkeypatch.setitem(catalog.LIST_BUTTONS, "done", ("Seen · ok", "✓"))
    monkeypatch.setitem(catalog.LIST_BUTTONS, "missed", ("Could not · visit…", "✗"))


def test_rewording_the_list_changes_no_button_on_any_renderer(app, monkeypatch):
    before = run(app, "amira", "due")
    reword(monkeypatch)
    after = run(app, "amira", "due")
    assert after.plain() != before.plain() and "Seen · ok" in str(after.model_dump())
    assert controls(after) == controls(before)
    keys = [b for m in telegram.render(after) for row in m.keyboard for b in row]
    assert {"text": "✓ C-2M9Q", "callback_data": "done:C-2M9Q"} in keys
    assert {"text": "✗ C-7F3K", "callback_data": "missed:C-7F3K"} in keys
    options = controls(after)["slack compact"]
    assert ("C-2M9Q", "done:C-2M9Q") in options[0] and options[0][0][0].startswith("C-")

    # Pressed, the reworded list's button runs what it always ran.
    [press] = [b["callback_data"] for b in keys if b["text"] == "✓ C-2M9Q"]
    verb, *args = split_action(press)
    reply = dispatch(app.engine, app.clock, Command(Actor("console", "ben"), Chat("console", None),
                                                    verb, args, from_button=True))
    assert reply.ok and reply.first_line.startswith("✓ C-2M9Q done")
    with Session(app.engine) as session:
        assert session.exec(select(Contact.status).where(Contact.source_id == "N-20261124-002")
                            ).one() == "done"


def test_the_console_lists_the_codes_a_picker_runs_whatever_their_labels():
    codes = [("hospital", "In hospital: hospital"), ("refused", "Client said no, refused")]
    picker = catalog.reason_picker("C-7F3K", codes)
    assert text.render(picker).splitlines()[-1] == "Reason codes: hospital, refused"
    assert [o.action for o in picker.blocks[0].select.options] == [
        "missed:C-7F3K:hospital", "missed:C-7F3K:refused"]


def test_a_list_queued_before_these_fields_still_validates_and_renders():
    """An outbox payload in the old shape (no ref, status, mark, code, ask_note, refresh)."""
    from messages.reply import Reply

    old = {"blocks": [{"kind": "section", "text": "C-2M9Q · home visit · open", "fields": [],
                       "buttons": [{"label": "Done", "action": "done:C-2M9Q", "style": "primary"}],
                       "select": {"placeholder": "Reason codes", "options": [
                           {"label": "Hospitalisation", "action": "missed:C-2M9Q:hospital"}]}}],
           "ephemeral": False, "ok": True, "duplicate": False, "crashed": False, "files": [],
           "queued": False}
    reply = Reply.model_validate(old)
    assert (reply.ask_note, reply.refresh, reply.blocks[0].ref) == (None, None, "")
    keys = [b for m in telegram.render(reply) for row in m.keyboard for b in row]
    assert keys[0] == {"text": "Done", "callback_data": "done:C-2M9Q"}
    options = [o for b in slack._compact(reply) if b["type"] == "actions" for e in b["elements"]
               for o in e["options"]]
    assert options[0]["value"] == "done:C-2M9Q"
    assert "Reason codes: Hospitalisation" in text.render(reply)
