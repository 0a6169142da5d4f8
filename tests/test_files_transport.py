"""Files on replies (a chart PNG, an evidence pack) reach Slack and Telegram, end to end through
the fake APIs: with an outbox post or DM, and after a typed command."""
from __future__ import annotations

import struct
import zlib

import pytest
from sqlmodel import Session, select

from handlers import registry
from messages.reply import Attachment, Block, Reply
from storage import repo
from storage.db import session_scope
from storage.models import Outbox
from tests.fakes.servers import wait_for
from tests.conftest import GROUP, command, deliver, post, typed
from tests.conftest import TG_USERS as USERS


def png() -> bytes:
    """A real 1×1 PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


@pytest.fixture
def chart(tmp_path) -> Attachment:
    path = tmp_path / "chart.png"
    path.write_bytes(png())
    return Attachment(path=str(path), filename="chart.png", title="Weekly chart")


@pytest.fixture
def pack(tmp_path) -> Attachment:
    path = tmp_path / "evidence.zip"
    path.write_bytes(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip
    return Attachment(path=str(path), filename="evidence.zip", title="Evidence pack",
                      mime="application/zip")


@pytest.fixture
def chart_command(chart):
    """`chartme` answers with the chart; `chartme private` only to the caller. Test-only."""
    @registry.command("chartme", args="private?", summary="test only")
    def chartme(ctx, args) -> Reply:
        return Reply(blocks=[Block(text="Here is the chart.")], files=[chart],
                     ephemeral=bool(args.private))

    yield
    registry.COMMANDS.pop("chartme", None)


def queue(app, key: str, target: str, reply: Reply) -> None:
    with session_scope(app.engine) as session:
        repo.enqueue(session, key=key, target=target, payload=reply.model_dump(mode="json"),
                     now=app.clock.now())


def refresh(app, key: str, reply: Reply) -> None:
    with session_scope(app.engine) as session:
        assert repo.refresh_post(session, key=key, payload=reply.model_dump(mode="json"),
                                 now=app.clock.now())


def statuses(app) -> list[str]:
    with Session(app.engine) as session:
        return list(session.exec(select(Outbox.status)))


def report(*files: Attachment) -> Reply:
    return Reply(blocks=[Block(text="Weekly status: North")], files=list(files))


# Slack

def test_slack_dm_with_a_chart_uploads_it_once_to_the_dm(slack_env, chart):
    app, fake, api, bot = slack_env
    queue(app, "weekly:amira", "person:amira", report(chart))
    bot.call(app.deliver())
    [dm] = fake.named("chat.postMessage")
    assert dm["channel"] == "DU0AMIRA01" and dm["text"] == "Weekly status: North"
    [upload] = fake.files()
    assert upload == {"channel": "DU0AMIRA01", "title": "Weekly chart", "filename": "chart.png",
                      "data": png()}
    bot.call(app.deliver())  # a second sweep sends nothing again
    assert len(fake.files()) == 1 and statuses(app) == ["sent"]


def test_slack_team_post_uploads_once_and_an_edit_does_not_reupload(slack_env, chart, pack):
    app, fake, api, bot = slack_env
    queue(app, "weekly:north", "team:north", report(chart, pack))
    bot.call(app.deliver())
    assert [(f["channel"], f["filename"]) for f in fake.files()] == [
        ("C0NORTH01", "chart.png"), ("C0NORTH01", "evidence.zip")]
    assert fake.files()[1]["data"].startswith(b"PK")
    refresh(app, "weekly:north", report(chart, pack))
    bot.call(app.deliver())
    assert len(fake.named("chat.update")) == 1 and len(fake.files()) == 2


def test_slack_missing_file_says_so_and_the_row_completes(slack_env, tmp_path):
    app, fake, api, bot = slack_env
    gone = Attachment(path=str(tmp_path / "gone.png"), filename="gone.png", title="Weekly chart")
    queue(app, "weekly:amira", "person:amira", report(gone))
    bot.call(app.deliver())
    texts = [(m["channel"], m["text"]) for m in fake.named("chat.postMessage")]
    assert texts == [("DU0AMIRA01", "Weekly status: North"),
                     ("DU0AMIRA01", "(file no longer available: Weekly chart)")]
    assert fake.files() == [] and statuses(app) == ["sent"]


def test_slack_refusing_a_file_is_said_once_and_the_text_is_not_posted_again(slack_env, chart):
    app, fake, api, bot = slack_env
    fake.fail("files.getUploadURLExternal", 200)  # ok: false, as for a missing files:write scope
    queue(app, "weekly:amira", "person:amira", report(chart))
    bot.call(app.deliver())
    assert [m["text"] for m in fake.named("chat.postMessage")] == [
        "Weekly status: North", "(file could not be sent: Weekly chart)"]
    assert statuses(app) == ["sent"]


def test_slack_down_during_the_upload_keeps_the_row_for_later(slack_env, chart):
    app, fake, api, bot = slack_env
    fake.fail("files.completeUploadExternal", 500, times=3)  # past the client's own retries
    queue(app, "weekly:amira", "person:amira", report(chart))
    bot.call(app.deliver())
    assert statuses(app) == ["pending"]
    assert len(fake.named("chat.postMessage")) == 1
    [taken_back] = fake.named("chat.delete")  # so the retry does not leave the text twice
    assert taken_back["channel"] == "DU0AMIRA01" and taken_back["ts"]


def test_slack_command_files_follow_the_ack_into_the_channel(slack_env, chart_command):
    app, fake, api, bot = slack_env
    body = post(bot, command(api, "chartme")).json()
    assert body["response_type"] == "in_channel" and body["text"] == "Here is the chart."
    [upload] = wait_for(fake.files, "the upload")
    assert upload["channel"] == "C0NORTH01" and upload["title"] == "Weekly chart"
    assert upload["data"] == png()


def test_slack_files_of_a_private_reply_go_to_the_callers_dm(slack_env, chart_command):
    app, fake, api, bot = slack_env
    body = post(bot, command(api, "chartme private", trigger="t-7")).json()
    assert body["response_type"] == "ephemeral"
    [upload] = wait_for(fake.files, "the upload")
    assert upload["channel"] == "DU0AMIRA01"  # Slack has no ephemeral files


# Telegram

def test_telegram_dm_with_a_chart_sends_a_photo_once(tg, chart):
    app, fake, bot = tg
    queue(app, "weekly:amira", "person:amira", report(chart))
    bot.call(app.deliver())
    [text] = fake.named("sendMessage")
    assert text["chat_id"] == USERS["amira"] and text["text"] == "Weekly status: North"
    [photo] = fake.named("sendPhoto")
    assert photo["chat_id"] == USERS["amira"] and photo["caption"] == "Weekly chart"
    assert photo["photo"] == png()
    bot.call(app.deliver())
    assert len(fake.named("sendPhoto")) == 1 and statuses(app) == ["sent"]


def test_telegram_team_post_sends_files_once_and_an_edit_does_not_resend(tg, chart, pack):
    app, fake, bot = tg
    queue(app, "weekly:north", "team:north", report(chart, pack))
    bot.call(app.deliver())
    [document] = fake.named("sendDocument")
    assert document["chat_id"] == GROUP and document["caption"] == "Evidence pack"
    assert document["filename"] == "evidence.zip" and document["document"].startswith(b"PK")
    assert fake.named("sendPhoto")[0]["chat_id"] == GROUP
    refresh(app, "weekly:north", Reply(blocks=[Block(text="Weekly status: North (updated)")],
                                       files=[chart, pack]))
    bot.call(app.deliver())
    [edit] = fake.named("editMessageText")
    assert edit["text"] == "Weekly status: North (updated)"
    assert len(fake.named("sendPhoto")) == 1 and len(fake.named("sendDocument")) == 1


def test_telegram_missing_file_says_so_and_the_row_completes(tg, tmp_path):
    app, fake, bot = tg
    gone = Attachment(path=str(tmp_path / "gone.zip"), filename="gone.zip", title="Evidence pack",
                      mime="application/zip")
    queue(app, "weekly:amira", "person:amira", report(gone))
    bot.call(app.deliver())
    assert [m["text"] for m in fake.named("sendMessage")] == [
        "Weekly status: North", "(file no longer available: Evidence pack)"]
    assert fake.named("sendDocument") == [] and statuses(app) == ["sent"]


def test_telegram_refusing_a_file_is_said_once_and_the_text_is_not_sent_again(tg, pack):
    app, fake, bot = tg
    fake.fail("sendDocument", status=400)
    queue(app, "weekly:amira", "person:amira", report(pack))
    bot.call(app.deliver())
    assert [m["text"] for m in fake.named("sendMessage")] == [
        "Weekly status: North", "(file could not be sent: Evidence pack)"]
    assert statuses(app) == ["sent"]


def test_telegram_command_files_follow_the_reply_in_the_same_chat(tg, chart_command):
    app, fake, bot = tg
    assert deliver(bot, typed("/chartme")) == 200
    [text] = fake.named("sendMessage")
    assert text["chat_id"] == GROUP and text["text"] == "Here is the chart."
    [photo] = fake.named("sendPhoto")
    assert photo["chat_id"] == GROUP and photo["caption"] == "Weekly chart"
    assert photo["photo"] == png()



# The real commands, end to end

def test_slack_status_acks_the_report_and_uploads_its_chart_to_the_dm(slack_env, tmp_path,
                                                                      monkeypatch):
    app, fake, api, bot = slack_env
    body = post(bot, command(api, "status last week", trigger="t-20")).json()
    assert body["response_type"] == "ephemeral"
    assert body["blocks"][0]["text"]["text"] == "Weekly status · Mon 16 Nov – Sun 22 Nov 2026"
    [upload] = wait_for(fake.files, "the chart upload")
    assert upload["channel"] == "DU0AMIRA01" and upload["filename"].endswith(".png")
    assert upload["data"].startswith(b"\x89PNG\r\n\x1a\n")


def test_telegram_status_sends_the_report_then_the_chart_as_a_photo(tg, tmp_path, monkeypatch):
    app, fake, bot = tg
    assert deliver(bot, typed("/status last week")) == 200
    [photo] = wait_for(lambda: fake.named("sendPhoto"), "the chart photo")
    assert photo["chat_id"] == GROUP and photo["photo"].startswith(b"\x89PNG\r\n\x1a\n")
    assert photo["caption"] == "North Community Team: weekly trend to 22 Nov 2026"
    assert fake.named("sendMessage")[0]["text"].startswith("<b>Weekly status · Mon 16 Nov")


def test_telegram_split_post_that_fails_half_way_sends_only_the_missing_part_later(tg):
    from datetime import timedelta

    app, fake, bot = tg
    long_post = Reply(blocks=[Block(text=f"Line {i}: " + "x" * 60) for i in range(100)])
    queue(app, "long:north", "team:north", long_post)
    fake.fail("sendMessage", after=1, status=502)  # the first part goes, the second fails
    bot.call(app.deliver())
    [first] = fake.named("sendMessage")
    assert fake.named("deleteMessage") == [] and statuses(app) == ["pending"]
    app.clock.set(app.clock.now() + timedelta(minutes=10))
    bot.call(app.deliver())
    parts = fake.named("sendMessage")
    assert len(parts) == 2 and parts[0] == first and statuses(app) == ["sent"]
    assert "Line 99" in parts[1]["text"]  # nothing lost, nothing left twice in the group
