"""Reply → Telegram HTML + inline keyboards, as plain data (no Telegram library here).

Telegram's limits: 4,096 characters a message, 64 bytes of callback_data a button. A long
list is split into several messages, each carrying the buttons of the lines it shows, so a
phone never scrolls past a button whose line is in another message. Lines stay short: no
tables; a contact's buttons name its ref ("✓ C-2M9Q", "✗ C-2M9Q").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from html import escape as _escape

from messages.reply import Block, Reply

MAX_TEXT = 4096
MAX_BUTTONS = 90  # per message; Telegram's own ceiling is about 100
MAX_CALLBACK = 64


def escape(text: str) -> str:
    """Telegram HTML needs only &, < and > escaped; quotes stay readable."""
    return _escape(text, quote=False)


@dataclass
class Message:
    text: str
    keyboard: list[list[dict]] = field(default_factory=list)  # rows of {"text", "callback_data"}


def _text(block: Block) -> str:
    text = escape(block.text)
    if block.kind == "header":
        return f"<b>{text}</b>"
    if block.kind == "context":
        return f"<i>{text}</i>"
    lines = [text] if text else []
    lines += [f"<b>{escape(k)}</b>: {escape(v)}" for k, v in block.fields]
    return "\n".join(lines)


def _button(label: str, action: str) -> dict:
    data = action.encode()[:MAX_CALLBACK].decode(errors="ignore")
    return {"text": label, "callback_data": data}


def _rows(block: Block) -> list[list[dict]]:
    rows = []
    if block.buttons:
        ref = block.text.split(" · ")[0].lstrip("⚠ ") if " · " in block.text else ""
        marks = {"Done": "✓", "Missed…": "✗"}
        rows.append([_button(f"{marks.get(b.label, b.label)} {ref}".strip() if ref else b.label,
                             b.action) for b in block.buttons])
    if block.select:
        options = [_button(o.label, o.action) for o in block.select.options]
        rows += [options[i:i + 2] for i in range(0, len(options), 2)]
    return rows


def render(reply: Reply) -> list[Message]:
    """One or more messages, in order."""
    messages = [Message(text="")]
    for block in reply.blocks:
        text, rows = _text(block), _rows(block)
        current = messages[-1]
        buttons = sum(len(r) for r in current.keyboard) + sum(len(r) for r in rows)
        if current.text and (len(current.text) + len(text) + 1 > MAX_TEXT or buttons > MAX_BUTTONS):
            current = Message(text="")
            messages.append(current)
        current.text = f"{current.text}\n{text}" if current.text else text
        current.keyboard += rows
    for message in messages:
        message.text = message.text[:MAX_TEXT] or "…"
    return messages
