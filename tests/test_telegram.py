"""Telegram end to end: updates into the bot's real webhook (or long polling), a fake Bot API out."""
from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

import json

from bot.telegram import Carried
from bot.telegram_out import RawJSON, _json_body
from storage.models import AuditEvent
from tests.conftest import GROUP, bind, contact, count, deliver, needs_note, tapped, typed
from tests.conftest import TG_SECRET as SECRET
from tests.conftest import TG_USERS as USERS
from tests.fakes.servers import Served, wait_for


def test_start_up_sets_the_command_menu_from_the_registry(tg):
    app, fake, bot = tg
    [menu] = fake.named("setMyCommands")
    verbs = [c["command"] for c in menu["commands"]]
    assert {"due", "done", "missed", "reconcile", "help", "whoami", "ack", "resolve"} <= set(verbs)
    assert fake.named("setWebhook")[0]["secret_token"] == SECRET


def test_due_in_a_group_sends_the_list_with_inline_buttons(tg):
    app, fake, bot = tg
    assert deliver(bot, typed("/due")) == 200
    [sent] = fake.named("sendMessage")
    assert sent["chat_id"] == GROUP and sent["parse_mode"] == "HTML"
    assert sent["text"].startswith("<b>North Community Team: contacts due Tue 24 Nov</b>")
    buttons = [b for row in sent["reply_markup"]["inline_keyboard"] for b in row]
    assert {"text": "✓ C-2M9Q", "callback_data": "done:C-2M9Q"} in buttons
    assert all(len(b["callback_data"].encode()) <= 64 for b in buttons)


def test_two_taps_missed_then_a_reason(tg):
    app, fake, bot = tg
    deliver(bot, tapped("missed:C-7F3K"))
    picker = wait_for(lambda: fake.named("sendMessage"), "the reason keyboard")[0]
    reasons = [b["callback_data"] for row in picker["reply_markup"]["inline_keyboard"] for b in row]
    assert "missed:C-7F3K:hospital" in reasons and len(reasons) == 9
    assert len(fake.named("answerCallbackQuery")) == 1
    assert contact(app.engine, "N-20261124-001").status == "open"

    deliver(bot, tapped("missed:C-7F3K:hospital", reply_to=500))
    row = contact(app.engine, "N-20261124-001")
    assert (row.status, row.reason_code, row.logged_via) == ("missed", "hospital", "telegram")
    edits = fake.named("editMessageText")
    assert [e["message_id"] for e in edits] == [501, 500]  # the picker, then the list
    assert edits[0]["text"] == "C-7F3K logged missed: Hospitalisation."
    assert "C-7F3K · discharge · 09:00–12:00 · missed: hospital" in edits[1]["text"]
    assert fake.named("answerCallbackQuery")[-1]["text"] == "C-7F3K logged missed: Hospitalisation."


def test_a_reason_tap_answers_by_call_and_the_webhook_response_carries_the_list_edit(tg):
    """The list's edit, the tap's last call, rides in the response: one round trip fewer."""
    app, fake, bot = tg
    resp = httpx.post(f"{bot.url}/telegram/webhook", timeout=30,
                      json=tapped("missed:C-7F3K:hospital", reply_to=500),
                      headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    carried = resp.json()
    assert (carried["method"], carried["chat_id"], carried["message_id"]) == \
        ("editMessageText", GROUP, 500)
    assert "C-7F3K · discharge · 09:00–12:00 · missed: hospital" in carried["text"]
    assert carried["parse_mode"] == "HTML" and carried["reply_markup"]["inline_keyboard"]
    assert [e["message_id"] for e in fake.named("editMessageText")] == [501]  # the picker, by call
    assert fake.named("answerCallbackQuery")[-1]["text"] == "C-7F3K logged missed: Hospitalisation."


def test_a_method_carried_in_the_response_is_paced_like_a_call():
    """An edit in the webhook's response holds the rate limiter's slot while it is sent; with
    no slot in time it is not sent (the outbox edits the list anyway)."""
    class Limiter:
        def __init__(self, timeout: bool = False):
            self.timeout, self.seen = timeout, []

        async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):
            if self.timeout:
                raise TimeoutError("no send slot")
            self.seen.append((endpoint, data["chat_id"], "before"))
            await callback(*args, **kwargs)
            self.seen.append((endpoint, data["chat_id"], "sent"))

    method = {"method": "editMessageText", "chat_id": GROUP, "message_id": 500, "text": "x"}
    for limiter in (Limiter(), Limiter(timeout=True)):
        server = Served(Starlette(routes=[Route("/", lambda request: Carried(method, limiter))]))
        try:
            resp = httpx.get(server.url, timeout=30)
        finally:
            server.stop()
        assert resp.status_code == 200
        if limiter.timeout:
            assert resp.content == b""
        else:
            assert resp.json() == method
            assert limiter.seen == [("editMessageText", GROUP, "before"),
                                    ("editMessageText", GROUP, "sent")]


def test_two_taps_in_a_private_chat_also_edit_the_list(tg):
    app, fake, bot = tg
    private = USERS["ben"]
    deliver(bot, tapped("missed:C-7F3K", handle="ben", chat_id=private))
    [picker] = fake.named("sendMessage")
    assert picker["chat_id"] == private
    assert picker["reply_parameters"]["message_id"] == 500  # quoted, so the next tap finds the list
    deliver(bot, tapped("missed:C-7F3K:refused", handle="ben", reply_to=500, chat_id=private))
    assert contact(app.engine, "N-20261124-001").reason_code == "refused"
    assert [e["message_id"] for e in fake.named("editMessageText")] == [501, 500]


def test_a_reason_configured_to_need_a_note_asks_for_it_in_a_reply(tg):
    app, fake, bot = tg
    needs_note(app, "refused")
    bind(app)
    deliver(bot, tapped("missed:C-7F3K:refused", reply_to=500))
    [asked] = fake.named("sendMessage")
    assert asked["text"] == ("Reason 'refused' needs a short note. "
                             "Example: missed C-7F3K refused WHAT HAPPENED")
    assert asked["reply_parameters"]["message_id"] == 501  # under the picker tapped
    assert contact(app.engine, "N-20261124-001").status == "open" and not fake.named("editMessageText")
    deliver(bot, typed("/missed C-7F3K refused said no at the door"))
    row = contact(app.engine, "N-20261124-001")
    assert (row.status, row.reason_code, row.note) == ("missed", "refused", "said no at the door")


def test_done_button_edits_the_list_in_place(tg):
    app, fake, bot = tg
    deliver(bot, tapped("done:C-2M9Q", handle="ben"))
    assert contact(app.engine, "N-20261124-002").status == "done"
    [edit] = fake.named("editMessageText")
    assert edit["message_id"] == 500 and "C-2M9Q · home visit · 10:00–11:00 · done ✓" in edit["text"]


def test_a_tap_is_one_command_and_its_list_comes_with_it(tg):
    """The list a tap refreshes is built with the outcome: /metrics counts the tap, not a
    second `due` nobody typed."""
    from tests.test_health_metrics import scrape

    app, fake, bot = tg
    deliver(bot, tapped("missed:C-7F3K:hospital", reply_to=500))
    assert "C-7F3K · discharge · 09:00–12:00 · missed: hospital" in \
        fake.named("editMessageText")[-1]["text"]
    counted = {dict(labels)["verb"]: v for (name, labels), v in scrape(bot.url).items()
               if name == "carebot_commands_total"}
    assert counted == {"missed": 1}


def test_typed_commands_with_the_bot_name_in_groups(tg):
    app, fake, bot = tg
    deliver(bot, typed("/missed@carebot_bot C-7F3K hospital"))
    assert contact(app.engine, "N-20261124-001").reason_code == "hospital"
    assert fake.named("sendMessage")[-1]["text"] == "C-7F3K logged missed: Hospitalisation."


def test_a_command_for_another_bot_is_ignored(tg):
    app, fake, bot = tg
    assert deliver(bot, typed("/done@other_bot C-2M9Q")) == 200
    assert contact(app.engine, "N-20261124-002").status == "open"
    assert fake.named("sendMessage") == []


def test_a_body_that_is_not_an_update_is_rejected(tg):
    app, fake, bot = tg
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "content-type": "application/json"}
    assert httpx.post(f"{bot.url}/telegram/webhook", content=b"{not json", headers=headers,
                      timeout=30).status_code == 400
    assert fake.named("sendMessage") == [] and count(app.engine, AuditEvent) == 0


def test_webhook_secret_is_checked(tg):
    app, fake, bot = tg
    assert deliver(bot, typed("/done C-2M9Q"), secret="wrong") == 403
    assert deliver(bot, typed("/done C-2M9Q"), secret=None) == 403
    assert contact(app.engine, "N-20261124-002").status == "open"
    assert fake.named("sendMessage") == [] and count(app.engine, AuditEvent) == 0
    assert deliver(bot, typed("/done C-2M9Q")) == 200
    assert contact(app.engine, "N-20261124-002").status == "done"


def test_a_redelivered_update_is_processed_once(tg):
    app, fake, bot = tg
    update = typed("/missed C-7F3K hospital")
    deliver(bot, update)
    deliver(bot, update)
    assert count(app.engine, AuditEvent, AuditEvent.action == "contact:missed") == 1
    assert len(fake.named("sendMessage")) == 1


def test_429_is_waited_out_and_sent_once(tg):
    app, fake, bot = tg
    fake.fail("sendMessage", retry_after=1)
    deliver(bot, typed("/whoami"))
    assert [name for name, _ in fake.calls if name.startswith("sendMessage")] == [
        "sendMessage!429", "sendMessage"]


def test_unknown_user_and_unbound_group_are_refused(tg):
    app, fake, bot = tg
    deliver(bot, typed("/done C-2M9Q", handle="stranger", chat_id=7777777))
    text = fake.named("sendMessage")[-1]["text"]
    assert "doesn't know you" in text and "telegram_user = 9999999" in text
    deliver(bot, typed("/due", chat_id=-100999))
    assert "telegram_chat = -100999" in fake.named("sendMessage")[-1]["text"]
    # Set-up: nobody in a new group is linked yet, and /whoami there names both ids.
    deliver(bot, typed("/whoami", handle="stranger", chat_id=-100888))
    text = fake.named("sendMessage")[-1]["text"]
    assert "telegram_user = 9999999" in text and "telegram_chat = -100888" in text
    deliver(bot, typed("/whoami", handle="stranger", chat_id=GROUP))  # a linked group: no id
    assert "telegram_chat" not in fake.named("sendMessage")[-1]["text"]
    deliver(bot, tapped("done:C-2M9Q", handle="stranger"))
    assert "doesn't know you" in fake.named("answerCallbackQuery")[-1]["text"]
    assert contact(app.engine, "N-20261124-002").status == "open"
    assert count(app.engine, AuditEvent) == 0


def test_a_dm_to_someone_who_never_opened_the_bot_falls_back_to_the_group(tg):
    app, fake, bot = tg
    fake.forbidden.add(USERS["amira"])
    deliver(bot, typed("/missed C-9X2P safety", handle="ben"))
    group = wait_for(lambda: [m for m in fake.named("sendMessage") if m["chat_id"] == GROUP
                              and "message for a colleague" in m["text"]], "the fallback")[0]
    assert group["text"].splitlines()[0] == "carebot: a message for a colleague — North Community Team"
    assert count(app.engine, AuditEvent, AuditEvent.action == "notify:fallback") == 1


@pytest.mark.polling
def test_long_polling_picks_up_updates(tg):
    app, fake, bot = tg
    fake.queue(typed("/done C-2M9Q", handle="ben"))
    wait_for(lambda: contact(app.engine, "N-20261124-002").status == "done", "the polled update")
    assert fake.named("getUpdates")


def test_a_keyboard_made_ready_as_json_reaches_telegram_as_the_same_json():
    keyboard = {"inline_keyboard": [[{"text": "✓ C-2M9Q", "callback_data": "done:C-2M9Q"}]]}
    params = {"chat_id": GROUP, "text": "a \"quoted\" <b>list</b>", "parse_mode": "HTML"}
    body = _json_body({**params, "reply_markup": RawJSON(json.dumps(keyboard))})
    assert json.loads(body) == {**params, "reply_markup": keyboard}
    assert json.loads(_json_body({"reply_markup": RawJSON(json.dumps(keyboard))})) == \
        {"reply_markup": keyboard}
    assert json.loads(_json_body(params)) == params
