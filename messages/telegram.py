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
MIN_ROOM = 200  # a long line starts a new message rather than leave a head shorter than this


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
    if units(escape(raw) if html else raw) <= room:  # most lines: measured at C speed
        return raw, ""
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


def _button(label: str, action: str) -> dict:
    data = action.encode()[:MAX_CALLBACK].decode(errors="ignore")
    return {"text": label, "callback_data": data}


def _rows(block: Block) -> list[list[dict]]:
    rows = []
    if block.buttons:  # beside a line about a ref, each button names it: "✓ C-2M9Q"
        rows.append([_button(f"{b.mark or b.label} {block.ref}" if block.ref else b.label,
                             b.action) for b in block.buttons])
    if block.select:
        options = [_button(o.label, o.action) for o in block.select.options]
        rows += [options[i:i + 2] for i in range(0, len(options), 2)]
    return rows


def render(reply: Reply, *, html: bool = True) -> list[Message]:
    """One or more messages, in order. A block stays in one message when it fits one; a longer
    one fills the message it starts in and runs on, cut between characters, never inside
    markup. html=False: the same as plain text (the retry for a post Telegram refused)."""
    esc = escape if html else str
    quick = _in_one(reply, html, esc)
    if quick is not None:
        return [quick]
    messages, texts, size, buttons = [Message(text="")], [[]], 0, 0  # texts: each one's lines

    def filled() -> bool:  # an empty line alone (a block of buttons only) is no text yet
        return len(texts[-1]) > 1 or bool(texts[-1] and texts[-1][0])

    def add(line: str) -> None:
        nonlocal size
        if filled():
            size += units(line) + 1
            texts[-1].append(line)
        else:
            size += units(line)
            texts[-1][:] = [line]

    def new() -> None:
        nonlocal size, buttons
        messages.append(Message(text=""))
        texts.append([])
        size = buttons = 0

    for block in reply.blocks:
        rows, lines = _rows(block), _units_of(block, html) or [("", "", "")]
        cost = sum(units(o + c) + units(esc(r)) for o, r, c in lines) + len(lines) - 1
        count = sum(len(r) for r in rows)
        if filled() and (size + 1 + cost > MAX_TEXT and cost <= MAX_TEXT
                          or buttons + count > MAX_BUTTONS):
            new()
        for opening, raw, closing in lines:
            while True:
                sep = 1 if filled() else 0
                room = MAX_TEXT - size - sep - units(opening + closing)
                if sep and room < MIN_ROOM:  # too little left for a useful head
                    new()
                    continue
                head, raw = _take(raw, room, html=html)
                add(f"{opening}{esc(head)}{closing}")
                if not raw:
                    break
                new()
                if not closing:  # a field's name only on its first piece
                    opening = ""
        messages[-1].keyboard += rows  # buttons go with the block's end
        buttons += count
    for message, lines in zip(messages, texts):
        message.text = "\n".join(lines)
    for message in messages:
        message.text = message.text or "…"
    return messages


def _in_one(reply: Reply, html: bool, esc) -> Message | None:
    """The common case (the list a tap refreshes, every tap): a reply that fits one message
    with MIN_ROOM to spare and MAX_BUTTONS buttons, which render would not split anywhere.
    The same message, measured once as a whole rather than line by line; None: not such."""
    if sum(len(b.buttons) + (len(b.select.options) if b.select else 0)
           for b in reply.blocks) > MAX_BUTTONS:  # a morning list: split, known before building
        return None
    lines: list[str] = []
    keyboard: list[list[dict]] = []
    for block in reply.blocks:
        for opening, raw, closing in _units_of(block, html) or [("", "", "")]:
            line = f"{opening}{esc(raw)}{closing}"
            if len(lines) > 1 or (lines and lines[0]):  # render's filled(): append
                lines.append(line)
            else:  # an empty line alone is replaced, as render's add() does
                lines[:] = [line]
        keyboard += _rows(block)
    text = "\n".join(lines)
    if units(text) + MIN_ROOM > MAX_TEXT or sum(len(row) for row in keyboard) > MAX_BUTTONS:
        return None
    return Message(text=text or "…", keyboard=keyboard)
