"""Reply → Telegram HTML + inline keyboards, as plain data (no Telegram library here).

Telegram's limits: 4,096 characters a message (1,024 a caption), counted in UTF-16 code units
(an emoji is two), and 64 bytes of callback_data a button. A long list is split into several
messages, each carrying the buttons of the lines it shows, so a phone never scrolls past a
button whose line is in another message. Text is split BEFORE it is escaped, and each piece is
measured escaped, so no message ends inside `&amp;` or a tag. Lines stay short: no tables; a
contact's buttons name its ref ("✓ C-2M9Q", "✗ C-2M9Q").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from html import escape as _escape

from messages.reply import Block, Reply

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_BUTTONS = 90  # per message; Telegram's own ceiling is about 100
MAX_CALLBACK = 64


def escape(text: str) -> str:
    """Telegram HTML needs only &, < and > escaped; quotes stay readable."""
    return _escape(text, quote=False)


def units(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (a character outside the BMP is two)."""
    return len(text.encode("utf-16-le")) // 2


def caption(text: str) -> str:
    """A caption (sent without parse mode) cut to Telegram's 1,024 units."""
    return _take(text, MAX_CAPTION, html=False)[0]


@dataclass
class Message:
    text: str
    keyboard: list[list[dict]] = field(default_factory=list)  # rows of {"text", "callback_data"}


def _cost(ch: str, html: bool) -> int:
    if html and ch in "&<>":
        return len(escape(ch))
    return 2 if ord(ch) > 0xFFFF else 1


def _take(raw: str, room: int, *, html: bool) -> tuple[str, str]:
    """The longest head of `raw` whose escaped form fits `room` units (cut at a line break or
    a space when one is in the second half), and the rest. Never empty while raw is not."""
    used = 0
    for i, ch in enumerate(raw):
        used += _cost(ch, html)
        if used > room:
            break
    else:
        return raw, ""
    for sep in ("\n", " "):
        at = raw.rfind(sep, 0, i)
        if at > i // 2:
            return raw[:at + 1], raw[at + 1:]
    i = max(i, 1)
    return raw[:i], raw[i:]


def _units_of(block: Block, html: bool) -> list[tuple[str, str, str]]:
    """A block as (opening, raw text, closing) lines; the markup is never split."""
    if html and block.kind == "header":
        lines = [("<b>", block.text, "</b>")]
    elif html and block.kind == "context":
        lines = [("<i>", block.text, "</i>")]
    else:
        lines = [("", block.text, "")] if block.text else []
    for key, value in block.fields:
        lines.append((f"<b>{escape(key)}</b>: " if html else f"{key}: ", value, ""))
    return lines


def _pieces(block: Block, html: bool) -> list[str]:
    """The block's text in pieces of at most MAX_TEXT units each, every piece valid HTML."""
    esc = escape if html else str
    pieces: list[str] = []
    for opening, raw, closing in _units_of(block, html):
        while True:
            head, raw = _take(raw, MAX_TEXT - units(opening + closing), html=html)
            pieces.append(f"{opening}{esc(head)}{closing}")
            if not raw:
                break
            if not closing:  # a field's name only on its first piece
                opening = ""
    # Consecutive short lines of one block travel together, as before.
    joined: list[str] = []
    for piece in pieces:
        if joined and units(joined[-1]) + 1 + units(piece) <= MAX_TEXT:
            joined[-1] = f"{joined[-1]}\n{piece}"
        else:
            joined.append(piece)
    return joined or [""]


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


def render(reply: Reply, *, html: bool = True) -> list[Message]:
    """One or more messages, in order. html=False: the same split as plain text (the retry
    for a post Telegram refused to parse)."""
    messages, size = [Message(text="")], 0
    for block in reply.blocks:
        pieces, rows = _pieces(block, html), _rows(block)
        for n, piece in enumerate(pieces):
            extra = rows if n == len(pieces) - 1 else []  # buttons go with the block's end
            current = messages[-1]
            buttons = sum(len(r) for r in current.keyboard) + sum(len(r) for r in extra)
            if current.text and (size + units(piece) + 1 > MAX_TEXT or buttons > MAX_BUTTONS):
                current, size = Message(text=""), 0
                messages.append(current)
            current.text = f"{current.text}\n{piece}" if current.text else piece
            size = units(current.text) if size == 0 else size + 1 + units(piece)
            current.keyboard += extra
    for message in messages:
        message.text = message.text or "…"
    return messages
