"""The neutral reply every handler returns; each transport renders it for its platform.

A Reply is plain data (pydantic), so it can be stored in the outbox and rendered later.
Text is never pre-escaped: renderers escape for their own markup.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from messages.privacy import mask_posted, mask_posted_field

MASKED = {"masked": True}  # validation context: the text was masked when the post was built


class Button(BaseModel):
    label: str
    action: str  # "verb:arg:arg", at most 64 bytes (Telegram callback_data)
    style: Literal["primary", "danger"] | None = None
    # A one-symbol label for a row of short buttons beside their line's ref ("✓ C-2M9Q").
    mark: str = ""


class Option(BaseModel):
    label: str
    action: str
    code: str = ""  # what a person types for this option (a reason code): the console lists it


class Select(BaseModel):
    placeholder: str
    options: list[Option]


class Block(BaseModel):
    """One visual unit: a header, a paragraph of lines, label/value fields, controls."""

    kind: Literal["header", "section", "context"] = "section"
    text: str = ""
    fields: list[tuple[str, str]] = Field(default_factory=list)
    buttons: list[Button] = Field(default_factory=list)
    select: Select | None = None
    # What the line is about, for renderers that name it beside the controls (a client ref,
    # a duty id, an escalation), and its state: never read back out of the text.
    ref: str = ""
    status: str = ""

    # The posting side of the privacy boundary: whatever a handler put in, a post cannot
    # carry an NHS number or a date of birth (stored text is masked already; this catches
    # text that never went through storage).
    # A post loaded back from the outbox was masked when it was built (and a dict queued as
    # such is masked by storage.outbox): validating it with context MASKED skips the re-run.
    @field_validator("text")
    @classmethod
    def _masked(cls, text: str, info: ValidationInfo) -> str:
        return text if info.context is MASKED else mask_posted(text)

    @field_validator("fields")
    @classmethod
    def _masked_fields(cls, fields: list[tuple[str, str]],
                       info: ValidationInfo) -> list[tuple[str, str]]:
        if info.context is MASKED:
            return fields
        return [mask_posted_field(k, v) for k, v in fields]


class NotePrompt(BaseModel):
    """The command needs a free-text note: ask for it (Slack: a modal; elsewhere the reply's
    text says how to type it), then run `action` with the note as its last word."""

    action: str  # "missed:C-9X2P:other"
    title: str  # short: Slack cuts a modal title at 24 characters
    question: str


class Attachment(BaseModel):
    """A file sent with the reply (a chart PNG, an evidence pack). Kept by path: the outbox
    stores the reply as JSON, so the file must outlive the request."""

    path: str
    filename: str
    title: str = ""
    mime: str = "image/png"


class Reply(BaseModel):
    blocks: list[Block] = Field(default_factory=list)
    # Only the caller needs to see it (Slack ephemeral; elsewhere a normal reply).
    ephemeral: bool = False
    ok: bool = True
    # A redelivered platform event: already handled, nothing to show or do.
    duplicate: bool = False
    # The command hit a bug, not bad input (ok is False either way): counted as an error.
    crashed: bool = False
    files: list[Attachment] = Field(default_factory=list)
    # Set by the dispatcher: the command queued posts or DMs, so the outbox needs a sweep.
    queued: bool = False
    # Set by the core for a transport to act on (never stored meaning in the text):
    # ask the caller for a note before running the command again …
    ask_note: NotePrompt | None = None
    # … or show this command's reply in place of the message the button sat on (the list
    # showing the new status). A typed command ignores it.
    refresh: str | None = None
    # That command's reply, when the core built it in the same unit of work (a button's
    # command): the transport shows it rather than running `refresh` again.
    refreshed: Reply | None = None

    @property
    def first_line(self) -> str:
        for block in self.blocks:
            if block.text:
                return block.text.splitlines()[0]
        return ""

    @classmethod
    def text(cls, text: str, *, ephemeral: bool = False) -> "Reply":
        return cls(blocks=[Block(text=text)], ephemeral=ephemeral)

    @classmethod
    def error(cls, text: str) -> "Reply":
        """One clear line: what was wrong and an example of the right form."""
        return cls(blocks=[Block(text=text)], ephemeral=True, ok=False)

    def plain(self) -> str:
        from messages.text import render

        return render(self)
