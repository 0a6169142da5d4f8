"""Every environment setting in one place (DESIGN.md, "Interfaces the outside world relies on")."""
from __future__ import annotations

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(name: str):
    return Field(default=None, validation_alias=AliasChoices(name))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=False)

    database_url: str = Field(
        default="sqlite:///var/carebot.db", validation_alias=AliasChoices("DATABASE_URL")
    )
    config_path: str | None = _env("CAREBOT_CONFIG")
    port: int = Field(default=8000, validation_alias=AliasChoices("PORT"))
    # Charts and evidence packs: they outlive the request (the outbox may send them later).
    files_dir: str = Field(default="var/files", validation_alias=AliasChoices("CAREBOT_FILES_DIR"))
    slack_bot_token: str | None = _env("SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = _env("SLACK_SIGNING_SECRET")
    slack_app_token: str | None = _env("SLACK_APP_TOKEN")
    slack_api_url: str = Field(
        default="https://slack.com/api/", validation_alias=AliasChoices("SLACK_API_URL")
    )
    telegram_bot_token: str | None = _env("TELEGRAM_BOT_TOKEN")
    telegram_webhook_url: str | None = _env("TELEGRAM_WEBHOOK_URL")
    telegram_webhook_secret: str | None = _env("TELEGRAM_WEBHOOK_SECRET")
    # The bot's @username, for `invite` links (https://t.me/<username>?start=<code>).
    telegram_bot_username: str | None = _env("TELEGRAM_BOT_USERNAME")
    # How long a sweeper holds the rows it is sending before another may take them (a crashed
    # process's rows wait this long). Shorter only for tests; longer than a sweep's batch takes.
    outbox_lease_seconds: int = Field(
        default=120, validation_alias=AliasChoices("CAREBOT_OUTBOX_LEASE_SECONDS")
    )
    telegram_api_url: str = Field(
        default="https://api.telegram.org/bot", validation_alias=AliasChoices("TELEGRAM_API_URL")
    )

    @field_validator("database_url")
    @classmethod
    def _driver(cls, url: str) -> str:
        """Hosts set `postgres://…` or `postgresql://…`; SQLAlchemy needs the driver named."""
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url.removeprefix(prefix)
        return url
