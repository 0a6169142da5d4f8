"""Slack end to end: really signed requests into the bot's real HTTP server, a fake Web API out."""
from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlencode

import httpx
from sqlmodel import Session, select

from bot import slack
from bot.settings import Settings
from storage.models import AuditEvent, Outbox
from tests.conftest import SLACK_SECRET as SECRET
from tests.conftest import SLACK_USERS as USERS
from tests.conftest import command, contact, count, interaction, link, needs_note, post, pressed
from tests.fakes.servers import wait_for


def test_slash_command_acks_with_the_reply_and_writes_the_row(slack_env):
    app, fake, api, bot = slack_env
    resp = post(bot, command(api, "missed C-7F3K hospital"))
    assert resp.status_code == 200
    body = resp.json()
    assert body["response_type"] == "ephemeral"
    assert body["text"] == "C-7F3K logged missed: Hospitalisation."
    row = contact(app.engine, "N-20261124-001")
    assert (row.status, row.reason_code, row.logged_via) == ("missed", "hospital", "slack")


def test_due_is_posted_in_channel_as_block_kit(slack_env):
    app, fake, api, bot = slack_env
    body = post(bot, command(api, "due")).json()
    assert body["response_type"] == "in_channel"
    assert body["blocks"][0] == {"type": "header", "text": {
        "type": "plain_text", "text": "North Community Team: contacts due Tue 24 Nov", "emoji": True}}
    menus = [b["accessory"] for b in body["blocks"] if "accessory" in b]
    assert {"text": {"type": "plain_text", "text": "Done", "emoji": True},
            "value": "done:C-2M9Q"} in [o for m in menus for o in m["options"]]


def test_button_click_writes_the_row_and_updates_the_channel_post(slack_env):
    app, fake, api, bot = slack_env
    bot.call(app.run_job("morning", "north"))
    [posted] = wait_for(lambda: fake.named("chat.postMessage"), "morning post")
    assert posted["channel"] == "C0NORTH01" and posted["text"].startswith("North Community Team")
    assert post(bot, pressed(api, "done:C-2M9Q")).status_code == 200
    assert contact(app.engine, "N-20261124-002").status == "done"
    [update] = wait_for(lambda: fake.named("chat.update"), "chat.update")
    assert update["ts"] == posted.get("ts", update["ts"])
    assert "C-2M9Q · home visit · 10:00–11:00 · done ✓" in json.dumps(update["blocks"], ensure_ascii=False)
    responses = wait_for(lambda: len(fake.named("response_url")) >= 2 and fake.named("response_url"),
                         "responses")
    assert responses[0]["text"] == "✓ C-2M9Q done at 08:00."
    assert responses[0]["response_type"] == "ephemeral"
    assert responses[1]["replace_original"] is True  # the list the button sat on, refreshed

    # Clicked twice: recorded once.
    post(bot, pressed(api, "done:C-2M9Q", trigger="t-3"))
    assert count(app.engine, AuditEvent, AuditEvent.action == "contact:done") == 1


def test_missed_button_offers_reasons_and_the_select_records(slack_env):
    app, fake, api, bot = slack_env
    post(bot, pressed(api, "missed:C-7F3K"))
    picker = wait_for(lambda: fake.named("response_url"), "picker")[0]
    select = picker["blocks"][-1]["elements"][0]
    assert select["type"] == "static_select"
    assert "missed:C-7F3K:hospital" in [o["value"] for o in select["options"]]
    assert contact(app.engine, "N-20261124-001").status == "open"
    post(bot, pressed(api, "missed:C-7F3K:hospital", ephemeral=True, trigger="t-4"))
    assert contact(app.engine, "N-20261124-001").reason_code == "hospital"


NOTE = 'moved to  respite, daughter\'s "idea"\nback Friday'


def test_other_asks_for_a_note_in_a_modal(slack_env):
    app, fake, api, bot = slack_env
    post(bot, pressed(api, "missed:C-9X2P:other", ephemeral=True))
    [opened] = wait_for(lambda: fake.named("views.open"), "views.open")
    view = opened["view"]
    assert view["callback_id"] == "carebot_note" and contact(app.engine, "N-20261124-003").status == "open"
    submission = interaction(api, {"type": "view_submission", "view": {
        "id": "V1", "type": "modal", "callback_id": "carebot_note",
        "private_metadata": view["private_metadata"],
        "state": {"values": {"note": {"note": {"type": "plain_text_input",
                                               "value": NOTE}}}}}})
    assert post(bot, submission).status_code == 200
    row = contact(app.engine, "N-20261124-003")
    assert (row.status, row.reason_code, row.note) == ("missed", "other", NOTE)  # as typed
    [told] = wait_for(lambda: fake.named("chat.postEphemeral"), "ephemeral confirmation")
    assert told["user"] == "U0AMIRA01" and told["text"].startswith("C-9X2P logged missed")


def test_any_reason_configured_to_need_a_note_asks_for_it_in_a_modal(slack_env):
    app, fake, api, bot = slack_env
    needs_note(app, "refused")
    link(app.engine, team={"slack_channel": "C0NORTH01"},
         people={handle: {"slack_user": user} for handle, user in USERS.items()})
    post(bot, pressed(api, "missed:C-7F3K:refused", ephemeral=True))
    [opened] = wait_for(lambda: fake.named("views.open"), "views.open")
    view = opened["view"]
    assert view["title"]["text"] == "Missed: Client refused"
    assert "C-7F3K" in view["blocks"][0]["label"]["text"]
    assert contact(app.engine, "N-20261124-001").status == "open"  # nothing logged yet
    submission = interaction(api, {"type": "view_submission", "view": {
        "id": "V2", "type": "modal", "callback_id": "carebot_note",
        "private_metadata": view["private_metadata"],
        "state": {"values": {"note": {"note": {"type": "plain_text_input",
                                               "value": "said no at the door"}}}}}})
    assert post(bot, submission).status_code == 200
    row = contact(app.engine, "N-20261124-001")
    assert (row.status, row.reason_code, row.note) == ("missed", "refused", "said no at the door")
    # A code without the requirement is logged at once, no modal.
    post(bot, pressed(api, "missed:C-2M9Q:hospital", ephemeral=True, trigger="t-5"))
    assert contact(app.engine, "N-20261124-002").reason_code == "hospital"
    assert len(fake.named("views.open")) == 1


def test_bad_missing_or_stale_signatures_get_401_and_write_nothing(slack_env):
    app, fake, api, bot = slack_env
    body = command(api, "done C-2M9Q")
    assert post(bot, body, secret="wrong-secret").status_code == 401
    assert post(bot, body, ts=int(time.time()) - 6 * 60).status_code == 401
    assert httpx.post(f"{bot.url}/slack/events", content=body, headers={
        "Content-Type": "application/x-www-form-urlencoded"}).status_code == 401
    assert contact(app.engine, "N-20261124-002").status == "open"
    assert count(app.engine, AuditEvent) == 0


def test_a_slack_retry_never_writes_twice(slack_env):
    app, fake, api, bot = slack_env
    body = command(api, "missed C-7F3K hospital", trigger="t-9")
    assert post(bot, body).status_code == 200
    retry = post(bot, body, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert retry.status_code == 200
    assert count(app.engine, AuditEvent, AuditEvent.action == "contact:missed") == 1


def test_rate_limited_post_waits_and_is_sent_once(slack_env):
    app, fake, api, bot = slack_env
    fake.fail("chat.postMessage", 429, {"Retry-After": "1"})
    bot.call(app.run_job("morning", "north"))
    assert [name for name, _ in fake.calls if name.startswith("chat.postMessage")] == [
        "chat.postMessage!429", "chat.postMessage"]
    with Session(app.engine) as session:
        assert session.exec(select(Outbox.status)).all() == ["sent"]


def test_a_post_that_keeps_failing_stays_in_the_outbox(slack_env):
    app, fake, api, bot = slack_env
    fake.fail("chat.postMessage", 500, times=5)
    bot.call(app.run_job("morning", "north"))
    with Session(app.engine) as session:
        row = session.exec(select(Outbox)).one()
    assert (row.status, row.attempts) == ("pending", 1) and "slack" in row.last_error


def test_unknown_user_and_unbound_channel_are_refused(slack_env):
    app, fake, api, bot = slack_env
    body = post(bot, command(api, "done C-2M9Q", user="U0STRANGER")).json()
    assert body["response_type"] == "ephemeral"
    assert "doesn't know you" in body["text"] and 'slack_user = "U0STRANGER"' in body["text"]
    body = post(bot, command(api, "due", channel="C0RANDOM1")).json()
    assert 'slack_channel = "C0RANDOM1"' in body["text"]
    assert contact(app.engine, "N-20261124-002").status == "open"


def test_pages_are_dms_with_acknowledge_buttons(slack_env):
    app, fake, api, bot = slack_env
    post(bot, command(api, "missed C-9X2P safety", user="U0BEN0001"))
    [opened] = wait_for(lambda: fake.named("conversations.open"), "conversations.open")
    assert opened["users"] == "U0AMIRA01"
    dm = wait_for(lambda: [p for p in fake.named("chat.postMessage") if p["channel"] == "DU0AMIRA01"],
                  "the page")[0]
    assert dm["text"] == "carebot: safety concern logged — North Community Team"
    post(bot, pressed(api, "ack:1", trigger="t-5"))
    with Session(app.engine) as session:
        from storage.models import Escalation
        assert session.get(Escalation, 1).state == "acknowledged"


def test_a_morning_post_of_120_contacts_through_slack_stays_within_block_kit_limits(slack_env, tmp_path):
    from bot.demo import demo_rows
    from storage.importer import import_contacts
    from tests.conftest import DAY, write_csv

    app, fake, api, bot = slack_env
    import_contacts(app.engine, write_csv(tmp_path / "big.csv", demo_rows(DAY, per_team=120)))
    bot.call(app.run_job("morning", "north"))
    [posted] = wait_for(lambda: fake.named("chat.postMessage"), "morning post")
    blocks = posted["blocks"]
    assert len(blocks) <= 50
    assert posted["text"] == "North Community Team: contacts due Tue 24 Nov"  # names nobody
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert all(len(t) <= 3000 for t in texts)
    assert blocks[0]["type"] == "header" and len(blocks[0]["text"]["text"]) <= 150
    selects = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert all(len(s["options"]) <= 100 for s in selects)
    assert all(len(o["text"]["text"]) <= 75 for s in selects for o in s["options"])
    assert "120 due" in "\n".join(texts)
    # A pick from the long list's "Done" select goes through like a button.
    value = selects[0]["options"][0]["value"]
    assert value.startswith("done:")
    post(bot, interaction(api, {"type": "block_actions", "channel": {"id": "C0NORTH01"},
                                "container": {"type": "message", "is_ephemeral": False},
                                "actions": [{"type": "static_select", "action_id": "carebot:compact:Done:0",
                                             "block_id": "b", "action_ts": "1.3",
                                             "selected_option": {"value": value}}]}))
    assert count(app.engine, AuditEvent, AuditEvent.action == "contact:done") == 1
    [update] = wait_for(lambda: fake.named("chat.update"), "chat.update")
    assert len(update["blocks"]) <= 50 and "1 done" in json.dumps(update["blocks"])


def test_an_empty_note_keeps_the_modal_open_with_the_reason(slack_env):
    app, fake, api, bot = slack_env
    submission = interaction(api, {"type": "view_submission", "view": {
        "id": "V2", "type": "modal", "callback_id": "carebot_note",
        "private_metadata": "C0NORTH01|missed:C-9X2P:other",
        "state": {"values": {"note": {"note": {"type": "plain_text_input", "value": "  "}}}}}})
    resp = post(bot, submission)
    assert resp.status_code == 200
    body = resp.json()
    assert body["response_action"] == "errors" and "needs a short note" in body["errors"]["note"]
    assert contact(app.engine, "N-20261124-003").status == "open"


def test_payloads_without_ids_are_not_taken_for_retries_of_each_other(slack_env):
    app, fake, api, bot = slack_env
    for value in ("done:C-2M9Q", "missed:C-7F3K:hospital"):
        payload = {"type": "block_actions", "channel": {"id": "C0NORTH01"},
                   "container": {"type": "message"},
                   "actions": [{"type": "button", "action_id": "carebot:1:0", "block_id": "b",
                                "value": value}]}
        post(bot, urlencode({"payload": json.dumps({"team": {"id": "T1"},
                                                    "user": {"id": "U0AMIRA01"}, **payload})}))
    assert contact(app.engine, "N-20261124-002").status == "done"
    assert contact(app.engine, "N-20261124-001").status == "missed"


def test_socket_mode_has_no_route_and_connects_on_start(app):
    app.settings = Settings(SLACK_BOT_TOKEN="xoxb-test", SLACK_SIGNING_SECRET=SECRET,
                            SLACK_APP_TOKEN="xapp-test", SLACK_API_URL="http://127.0.0.1:9/api/")

    async def build():
        return slack.build(app)

    plugin = asyncio.run(build())
    assert plugin.routes == [] and plugin.start is not None and plugin.stop is not None
    assert plugin.transport.name == "slack"


def _event(bot, event: dict, *, secret: str = SECRET):
    """A signed Events API callback, as Slack sends it (JSON)."""
    body = json.dumps({"token": "legacy", "team_id": "T1", "api_app_id": "A1",
                       "type": "event_callback", "event_id": f"Ev{time.time_ns()}",
                       "event_time": int(time.time()), "event": event})
    return post(bot, body, headers={"Content-Type": "application/json"}, secret=secret)


def test_the_app_home_shows_the_persons_own_day_and_its_buttons_work(slack_env):
    app, fake, api, bot = slack_env
    post(bot, command(api, "missed C-9X2P safety", user="U0BEN0001"))  # pages amira
    assert _event(bot, {"type": "app_home_opened", "user": "U0AMIRA01", "channel": "D1",
                        "tab": "home", "event_ts": "1.1"}).status_code == 200
    [published] = wait_for(lambda: fake.named("views.publish"), "views.publish")
    assert published["user_id"] == "U0AMIRA01" and published["view"]["type"] == "home"
    shown = json.dumps(published["view"]["blocks"])
    assert "Your day" in shown and "C-7F3K" in shown  # amira's own contact
    assert "C-2M9Q" not in shown  # ben's, not hers
    assert "E-1" in shown and "ack:1" in shown  # the page she holds, with Acknowledge
    # Pressing Acknowledge on the Home tab owns it and redraws the tab.
    press = interaction(api, {"type": "block_actions", "view": {"id": "V1", "type": "home"},
                              "container": {"type": "view", "view_id": "V1"},
                              "actions": [{"type": "button", "action_id": "carebot:9:ack",
                                           "block_id": "b", "action_ts": "1.3",
                                           "value": "ack:1"}]}, trigger="t-9")
    assert post(bot, press).status_code == 200
    again = wait_for(lambda: fake.named("views.publish")[1:], "the redrawn Home tab")[0]
    assert "yours" in json.dumps(again["view"]["blocks"])  # E-1 is now hers, not paging
    with Session(app.engine) as session:
        from storage.models import Escalation
        assert session.get(Escalation, 1).state == "acknowledged"


def test_the_app_home_of_someone_unknown_says_who_can_add_them(slack_env):
    app, fake, api, bot = slack_env
    _event(bot, {"type": "app_home_opened", "user": "U0STRANGER", "tab": "home", "event_ts": "1"})
    [published] = wait_for(lambda: fake.named("views.publish"), "views.publish")
    assert 'slack_user = \\"U0STRANGER\\"' in json.dumps(published["view"]["blocks"])
