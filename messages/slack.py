"""Reply → Slack Block Kit + mrkdwn, as plain dicts (no Slack library here).

Slack's limits: 50 blocks a message, 3,000 characters a section, 75 a button label, 100
options a select. In a list, a contact line with controls becomes one section with an
overflow menu (Done / Missed…), so most lists fit; a page keeps real buttons (one tap); a longer list collapses its lines into a few text
sections and offers its controls as "Mark done…" / "Missed…" selects of the open refs.
"""
from __future__ import annotations

from functools import lru_cache

from messages.reply import Block, Reply

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_LABEL = 75
MAX_OPTIONS = 100


def escape(text: str) -> str:
    """Slack's three control characters; everything we show is data, never markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@lru_cache(maxsize=4096)  # a list repeats the same few labels on every line
def _plain(text: str, limit: int = MAX_LABEL) -> dict:
    return {"type": "plain_text", "text": text[:limit] or " ", "emoji": True}


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": escape(text)[:MAX_SECTION] or " "}}


def _option(label: str, value: str) -> dict:
    return {"text": _plain(label), "value": value}


def _controls(block: Block, n: int) -> list[dict]:
    elements = [{"type": "button", "text": _plain(b.label), "value": b.action,
                 "action_id": f"carebot:{n}:{i}", **({"style": b.style} if b.style else {})}
                for i, b in enumerate(block.buttons)]
    if block.select:
        elements.append({"type": "static_select", "action_id": f"carebot:{n}:select",
                         "placeholder": _plain(block.select.placeholder),
                         "options": [_option(o.label, o.action)
                                     for o in block.select.options[:MAX_OPTIONS]]})
    return [{"type": "actions", "elements": elements}] if elements else []


def _block(block: Block, n: int, menus: bool = False) -> list[dict]:
    if block.kind == "header":
        return [{"type": "header", "text": _plain(block.text, 150)}]
    if block.kind == "context":
        return [{"type": "context", "elements": [{"type": "mrkdwn",
                                                  "text": escape(block.text)[:MAX_SECTION] or " "}]}]
    out = [_section(block.text)] if block.text else []
    if block.fields:
        out.append({"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*{escape(k)}*\n{escape(v)}"[:2000]}
            for k, v in block.fields[:10]]})
    if block.text and len(block.buttons) == 1 and not block.select:
        b = block.buttons[0]  # one control: a button beside its line, one tap
        out[0]["accessory"] = {"type": "button", "text": _plain(b.label), "value": b.action,
                               "action_id": f"carebot:{n}:0", **({"style": b.style} if b.style else {})}
        return out
    if menus and block.text and block.buttons and not block.select and len(block.buttons) <= 5:
        # A list: one block for a line and its controls, an overflow menu on the section.
        out[0]["accessory"] = {"type": "overflow", "action_id": f"carebot:{n}:menu",
                               "options": [_option(b.label, b.action) for b in block.buttons]}
        return out
    return out + _controls(block, n)


def _compact(reply: Reply) -> list[dict]:
    """For long lists: text in as few sections as fit, controls as selects of the open refs."""
    blocks, lines, size = [], [], 0  # size: the lines' length once escaped, with newlines
    for block in reply.blocks:
        if block.kind == "header":
            blocks.append(_block(block, 0)[0])
            continue
        # Measured escaped: `&` grows to `&amp;`, and a cut must never fall inside a line.
        # Fields are kept as "label: value" lines rather than dropped.
        line = "\n".join([block.text, *(f"{k}: {v}" for k, v in block.fields)])
        grown = len(escape(line))
        if lines and size + grown + 1 > MAX_SECTION - 200:
            blocks.append(_section("\n".join(lines)))
            lines, size = [], 0
        size += grown + (1 if lines else 0)
        lines.append(line)
    if lines:
        blocks.append(_section("\n".join(lines)))
    menus: dict[str, list[dict]] = {}
    for block in reply.blocks:
        if not block.buttons:
            continue
        # Named by the line's ref (a payload queued before refs were fields: its line); each
        # ref is its own label, so not through _plain's cache (a list would churn it).
        name = {"type": "plain_text", "text": (block.ref or block.text)[:MAX_LABEL] or " ",
                "emoji": True}
        for button in block.buttons:
            menus.setdefault(button.label, []).append({"text": name, "value": button.action})
    elements = []
    for label, options in menus.items():
        for start in range(0, len(options), MAX_OPTIONS):
            elements.append({"type": "static_select", "action_id": f"carebot:compact:{label}:{start}",
                             "placeholder": _plain(f"{label.rstrip('…')} — pick a ref"),
                             "options": options[start:start + MAX_OPTIONS]})
    if elements:
        blocks.append({"type": "actions", "elements": elements[:25]})
    return blocks[:MAX_BLOCKS]


def render(reply: Reply) -> dict:
    """`{"text": …, "blocks": […]}` for chat.postMessage / chat.update / an ack body."""
    # Many lines with controls (a contact list) get compact menus; a few (an escalation page)
    # keep real buttons, so Acknowledge is one tap.
    menus = sum(1 for block in reply.blocks if block.buttons) > 3
    # Each block below renders to at least one Slack block: past the limit, go compact at once
    # rather than build (a list's thousands of menu options) and throw away.
    least = sum(1 for b in reply.blocks if b.kind != "section" or b.text or b.fields
                or b.buttons or b.select)
    blocks = _compact(reply) if least > MAX_BLOCKS else \
        [b for n, block in enumerate(reply.blocks) for b in _block(block, n, menus)]
    if len(blocks) > MAX_BLOCKS:
        blocks = _compact(reply)
    return {"text": escape(reply.first_line)[:MAX_SECTION], "blocks": blocks}
