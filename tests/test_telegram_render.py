"""Telegram rendering: HTML escaped, ≤ 4,096 characters a message, buttons beside their lines."""
from __future__ import annotations

from messages.reply import Block, Button, Option, Reply, Select
from messages.telegram import MAX_BUTTONS, render
from tests.test_slack_render import big_list


def test_a_long_list_splits_and_each_message_carries_its_own_buttons():
    messages = render(big_list(120))
    assert len(messages) > 1
    for message in messages:
        assert len(message.text) <= 4096
        buttons = [b for row in message.keyboard for b in row]
        assert len(buttons) <= MAX_BUTTONS
        for button in buttons:  # a button's ref is on a line of the same message
            assert button["text"].split()[-1] in message.text
            assert len(button["callback_data"].encode()) <= 64
    text = "\n".join(m.text for m in messages)
    assert all(f"C-{i:04d}" in text for i in range(120))


def test_html_is_escaped_and_selects_become_buttons():
    reply = Reply(blocks=[Block(kind="header", text="a <b> & c"),
                          Block(text="Why?", select=Select(placeholder="Reasons", options=[
                              Option(label=f"Reason {i}", action=f"missed:C-1:r{i}") for i in range(5)]))])
    [message] = render(reply)
    assert message.text.startswith("<b>a &lt;b&gt; &amp; c</b>")
    assert [len(row) for row in message.keyboard] == [2, 2, 1]


def test_a_contact_line_gets_buttons_named_by_its_ref():
    reply = Reply(blocks=[Block(text="⚠ C-7F3K · discharge · 09:00–12:00 · open", buttons=[
        Button(label="Done", action="done:C-7F3K"), Button(label="Missed…", action="missed:C-7F3K")])])
    [message] = render(reply)
    assert message.keyboard == [[{"text": "✓ C-7F3K", "callback_data": "done:C-7F3K"},
                                 {"text": "✗ C-7F3K", "callback_data": "missed:C-7F3K"}]]
