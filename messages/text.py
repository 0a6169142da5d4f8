"""Plain-text renderer: the console, logs and tests.

Buttons are left out because every button has a typed twin that the reply text names;
a select shows its options so the reader can type one.
"""
from __future__ import annotations

from messages.reply import Reply


def render(reply: Reply) -> str:
    out: list[str] = []
    for block in reply.blocks:
        if block.kind == "header":
            out.append(block.text)
            out.append("-" * min(len(block.text), 40))
            continue
        if block.text:
            out.append(block.text)
        for label, value in block.fields:
            out.append(f"{label}: {value}")
        if block.select:
            codes = ", ".join(o.code or o.label for o in block.select.options)
            out.append(f"{block.select.placeholder}: {codes}")
    for file in reply.files:
        out.append(f"[file] {file.title or file.filename}: {file.path}")
    return "\n".join(out)
