"""The web server under abuse: bodies over 1 MB are refused before they are read, malformed
payloads get 400 (never 500) and write nothing, big but honest requests are still answered."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import time
from urllib.parse import urlencode

import httpx

from bot import slack
from bot.server import MAX_BODY, web_app
from storage.models import AuditEvent
from tests.conftest import count
from tests.conftest import SLACK_SECRET as SECRET
from tests.conftest import TG_SECRET, command, contact, interaction, post

CHUNK = 64 * 1024


def signed_headers(body: bytes) -> dict[str, str]:
    """Slack's v0 signature over the raw bytes (slack_sdk's helper only signs UTF-8 text)."""
    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": ts, "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Signature": f"v0={digest.hexdigest()}"}


def raw_request(url: str, head: dict[str, str], send) -> bytes:
    """Open a socket, write the request line and headers, let `send` write (part of) a body,
    then read what the server answers."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        lines = ["POST /slack/events HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in head.items())]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        send(sock)
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
        return answer


def test_a_declared_body_of_1_mb_plus_1_is_refused_before_a_byte_of_it_is_read(slack_env):
    app, fake, api, bot = slack_env
    body = b"x" * (MAX_BODY + 1)
    head = {**signed_headers(body), "Content-Length": str(len(body))}
    answer = raw_request(bot.url, head, lambda sock: None)  # the body is never sent
    assert answer.startswith(b"HTTP/1.1 413")
    assert count(app.engine, AuditEvent) == 0 and fake.calls == []


def test_a_chunked_body_over_1_mb_is_refused_without_waiting_for_its_end(slack_env):
    app, fake, api, bot = slack_env
    sent = 0

    def stream(sock):  # 1 MB + 1 in chunks, and the closing chunk never comes
        nonlocal sent
        while sent <= MAX_BODY:
            part = b"y" * min(CHUNK, MAX_BODY + 1 - sent)
            sock.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            sent += len(part)

    head = {**signed_headers(b""), "Transfer-Encoding": "chunked"}
    assert raw_request(bot.url, head, stream).startswith(b"HTTP/1.1 413")
    assert sent == MAX_BODY + 1 and count(app.engine, AuditEvent) == 0


def test_a_200_mb_stream_is_read_only_up_to_the_limit(slack_env):
    """At the ASGI level, so the chunks the app pulls can be counted: the refusal comes after
    1 MB, the other 199 MB are never asked for."""
    app, fake, api, bot = slack_env
    asgi = web_app(app, slack.build(app).routes)
    pulled, sent = 0, []

    async def receive():
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"z" * CHUNK, "more_body": pulled < 3200}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/slack/events", "raw_path": b"/slack/events",
             "query_string": b"", "headers": [(b"content-type", b"application/x-www-form-urlencoded")],
             "http_version": "1.1", "scheme": "http", "server": ("test", 80), "client": ("t", 1),
             "root_path": ""}
    asyncio.run(asgi(scope, receive, send))
    assert sent[0]["status"] == 413
    assert pulled * CHUNK <= MAX_BODY + CHUNK  # about 1 MB of the 200 MB
    assert count(app.engine, AuditEvent) == 0


def test_a_body_of_exactly_1_mb_and_a_100_kb_command_are_answered(slack_env):
    app, fake, api, bot = slack_env
    base = command(api, "done C-2M9Q")
    padded = f"{base}&pad={'p' * (MAX_BODY - len(base) - 5)}"
    assert len(padded) == MAX_BODY
    resp = post(bot, padded)
    assert resp.status_code == 200 and resp.json()["text"].startswith("✓ C-2M9Q done")
    note = " ".join(["handed over to the evening carer"] * 3100)  # about 100 KB typed
    resp = post(bot, command(api, f"done C-4T7P {note}", trigger="t-big"))
    assert len(command(api, f"done C-4T7P {note}")) > 100_000
    assert resp.status_code == 200 and resp.json()["text"]  # a reply, not a crash or a timeout


def test_malformed_slack_payloads_get_400_and_write_nothing(slack_env):
    app, fake, api, bot = slack_env
    press = {"type": "block_actions", "channel": {"id": "C0NORTH01"},
             "container": {"type": "message"}}
    bodies = {
        "payload is not JSON": urlencode({"payload": "{not json"}),
        "payload is a list": urlencode({"payload": "[1, 2]"}),
        "JSON body is cut": '{"type": "event_callback", "event": {',
        "no actions": interaction(api, press),
        "empty actions": interaction(api, {**press, "actions": []}),
        "actions not objects": interaction(api, {**press, "actions": ["done:C-2M9Q"]}),
        "value not text": interaction(api, {**press, "actions": [
            {"action_id": "carebot:1:0", "block_id": "b", "value": 7}]}),
        "no user": urlencode({"payload": json.dumps({**press, "actions": [
            {"action_id": "carebot:1:0", "block_id": "b", "value": "done:C-2M9Q"}]})}),
        "view_submission without a view": interaction(api, {"type": "view_submission"}),
        "view without a type": interaction(api, {"type": "view_submission", "view": {
            "callback_id": "carebot_note", "private_metadata": "C0NORTH01|missed:C-9X2P:other"}}),
        "event is not an object": json.dumps({"type": "event_callback", "event": "type"}),
        "command without a user": urlencode({"command": "/care", "text": "done C-2M9Q"}),
    }
    for why, body in bodies.items():
        assert post(bot, body).status_code == 400, why
    stateless = interaction(api, {"type": "view_submission", "view": {
        "id": "V9", "type": "modal", "callback_id": "carebot_note", "private_metadata": "C0NORTH01|missed:C-9X2P:other"}})
    resp = post(bot, stateless)  # our modal without its state: the note is missing, said so
    assert resp.status_code == 200 and resp.json()["response_action"] == "errors"
    not_utf8 = b"command=%2Fcare&text=done+C-2M9Q&user_id=U0AMIRA01&x=\xff\xfe"
    resp = httpx.post(f"{bot.url}/slack/events", content=not_utf8, headers=signed_headers(not_utf8))
    assert resp.status_code == 400
    assert contact(app.engine, "N-20261124-002").status == "open"
    assert contact(app.engine, "N-20261124-003").status == "open"
    assert count(app.engine, AuditEvent) == 0
    assert [name for name, _ in fake.calls if name != "auth.test"] == []  # nothing posted


def test_non_updates_to_the_telegram_webhook_get_400(tg):
    app, fake, bot = tg
    headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET, "content-type": "application/json"}
    for body in (b"[1, 2]", b'[{"update_id": 1}]', b"42", b'"update"', b"null", b"{}",
                 b'{"update_id": "7"}', b'{"update_id": 8, "message": "hi"}',
                 b'{"update_id": 9, "message": {"text": "/done C-2M9Q"}}'):
        resp = httpx.post(f"{bot.url}/telegram/webhook", content=body, headers=headers, timeout=30)
        assert resp.status_code == 400, body
    assert fake.named("sendMessage") == [] and count(app.engine, AuditEvent) == 0
    too_big = httpx.post(f"{bot.url}/telegram/webhook", content=b" " * (MAX_BODY + 1),
                         headers=headers, timeout=30)
    assert too_big.status_code == 413
