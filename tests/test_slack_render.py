"""Block Kit rendering stays within Slack's limits and escapes what it shows."""
from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from messages import catalog
from messages.reply import Block, Button, Reply
from messages.slack import render


def big_list(n: int) -> Reply:
    start = datetime(2026, 11, 24, 9, tzinfo=UTC)
    items = [catalog.Item(ref=f"C-{i:04d}", kind="home_visit", risk="high" if i % 5 == 0 else "low",
                          start=start + timedelta(minutes=i), end=start + timedelta(hours=1, minutes=i),
                          status="open" if i % 3 else "done",
                          assignee=None if i % 7 == 0 else f"Carer {i % 9}") for i in range(n)]
    return catalog.due_list("North Community Team", date(2026, 11, 24), ZoneInfo("Europe/London"), items)


def test_a_morning_post_of_120_contacts_stays_within_block_kit_limits():
    out = render(big_list(120))
    blocks = out["blocks"]
    assert len(blocks) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
    selects = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert all(len(s["options"]) <= 100 for s in selects)
    assert all(len(o["text"]["text"]) <= 75 for s in selects for o in s["options"])
    text = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert all(f"C-{i:04d}" in text for i in range(120))  # every contact is still listed
    refs = {o["value"] for s in selects for o in s["options"]}
    assert "done:C-0001" in refs and "done:C-0003" not in refs  # only open ones get controls


def test_a_short_list_gets_one_block_per_contact_with_its_menu():
    out = render(big_list(12))
    menus = [b for b in out["blocks"] if b.get("accessory", {}).get("type") == "overflow"]
    assert len(menus) == 8  # the open ones
    assert [o["value"] for o in menus[0]["accessory"]["options"]][0].startswith("done:")


def test_user_text_is_escaped_and_labels_are_cut():
    reply = Reply(blocks=[Block(text="note: <b>&</b> <@U123>"),
                          Block(text="x", buttons=[Button(label="L" * 90, action="done:C-1")] * 6)])
    out = render(reply)
    assert out["blocks"][0]["text"]["text"] == "note: &lt;b&gt;&amp;&lt;/b&gt; &lt;@U123&gt;"
    assert out["text"] == "note: &lt;b&gt;&amp;&lt;/b&gt; &lt;@U123&gt;"
    labels = [e["text"]["text"] for e in out["blocks"][-1]["elements"]]
    assert all(len(label) == 75 for label in labels)
    json.dumps(out)  # plain data, ready to send


def test_a_long_list_of_escaped_text_is_cut_between_lines_never_inside_one():
    reply = Reply(blocks=[Block(text=f"line {i} " + "&" * 40, buttons=[Button(label="Done",
                                                                             action=f"done:C-{i}")])
                          for i in range(80)])
    sections = [b["text"]["text"] for b in render(reply)["blocks"] if b["type"] == "section"]
    assert all(len(t) <= 3000 for t in sections)
    lines = "\n".join(sections).split("\n")
    assert lines == [f"line {i} " + "&amp;" * 40 for i in range(80)]


def test_a_page_keeps_one_tap_buttons_and_a_single_control_sits_beside_its_line():
    from messages.escalation import page

    out = render(page(7, "reason:safety", "North", "C-9X2P", "missed: Safety concern", "oncall",
                      0, {}, ZoneInfo("Europe/London")))
    [actions] = [b for b in out["blocks"] if b["type"] == "actions"]
    assert [(e["type"], e["value"]) for e in actions["elements"]] == [
        ("button", "ack:7"), ("button", "resolve:7")]
    single = render(Reply(blocks=[Block(text="Bed rails", buttons=[Button(label="I've read this",
                                                                          action="learn_ack:3")])]))
    assert single["blocks"][0]["accessory"]["type"] == "button"
