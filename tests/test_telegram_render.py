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
    reply = Reply(blocks=[Block(text="⚠ C-7F3K · discharge · 09:00–12:00 · open", ref="C-7F3K",
                                buttons=[Button(label="Done", action="done:C-7F3K", mark="✓"),
                                         Button(label="Missed…", action="missed:C-7F3K", mark="✗")])])
    [message] = render(reply)
    assert message.keyboard == [[{"text": "✓ C-7F3K", "callback_data": "done:C-7F3K"},
                                 {"text": "✗ C-7F3K", "callback_data": "missed:C-7F3K"}]]


def visible(message) -> str:
    """What a reader sees; fails the test the way Telegram would refuse the HTML."""
    from tests.fakes.telegram_api import parse_html

    text, problem = parse_html(message.text)
    assert problem is None, problem
    return text


def test_long_text_splits_before_escaping_and_counts_utf16_units():
    from messages.telegram import units

    for text in ("&" * 5000, "😀" * 3000, "a <b> & c " * 900):
        messages = render(Reply(blocks=[Block(kind="header", text="Learning point L-1"),
                                        Block(text=text)]))
        assert len(messages) > 1
        assert all(units(m.text) <= 4096 for m in messages)  # emoji count twice
        seen = "\n".join(visible(m) for m in messages)  # never cut inside &amp; or a tag
        assert seen.replace("\n", "") == ("Learning point L-1" + text).replace("\n", "")


def test_a_long_field_keeps_its_name_once_and_stays_valid_html():
    from messages.telegram import units

    reply = Reply(blocks=[Block(text="Finding", fields=[("Evidence", "x & y " * 1500)])])
    messages = render(reply)  # 15,000 units escaped: four messages, each filled
    assert len(messages) == 4 and all(units(m.text) > 3800 for m in messages[:3])
    assert messages[0].text.startswith("Finding\n<b>Evidence</b>: x &amp; y")
    assert all("<b>Evidence</b>" not in m.text for m in messages[1:])
    assert "".join(visible(m) for m in messages).count("x & y") == 1500


def test_the_plain_text_render_has_no_markup_and_the_same_buttons():
    reply = Reply(blocks=[Block(kind="header", text="a <b> & c"),
                          Block(text="C-1 · visit · open", buttons=[Button(label="Done", action="done:C-1")])])
    [plain] = render(reply, html=False)
    assert plain.text == "a <b> & c\nC-1 · visit · open"
    assert plain.keyboard == render(reply)[0].keyboard


def test_a_caption_is_cut_at_1024_units():
    from messages.telegram import caption, units

    assert units(caption("📈" * 600)) == 1024 and caption("chart.png") == "chart.png"
