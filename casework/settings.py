"""Configuration from the environment (prefix CASEWORK_), checked once at start-up."""

from __future__ import annotations

import getpass
import re
from functools import lru_cache
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

STAFF_ID_PATTERN = r"^[a-z][a-z0-9._-]{0,39}$"


class SettingsError(Exception):
    """A CASEWORK_ variable holds a value we refuse to start with."""


class CaseworkSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASEWORK_", extra="ignore")

    data_dir: Path = Field(
        default=Path(".casework"), description="where embedded SQLite files live"
    )
    database_url: str | None = Field(
        default=None, description="case store; default SQLite in data_dir"
    )
    programs_file: Path | None = Field(default=None, description="program configuration (TOML)")
    actor: str = Field(
        default_factory=lambda: _default_actor(), description="staff id recorded as actor"
    )
    runner_poll_seconds: float = Field(default=2.0, gt=0, le=60)
    runner_limit: int = Field(default=10, ge=1, le=200)
    schedules: bool = Field(
        default=True, description="serve the sweeps with their cron schedules (off: by hand only)"
    )
    partner_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    partner_retry_seconds: list[float] = Field(
        default=[2.0, 10.0, 30.0], description="delays between attempts to send a referral"
    )
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    webhook_attempts: int = Field(default=3, ge=1, le=10)

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        return value

    @field_validator("actor")
    @classmethod
    def _staff_id(cls, value: str) -> str:
        if not re.match(STAFF_ID_PATTERN, value):
            raise ValueError("must be a staff id: lowercase letters, digits, '.', '_' or '-'")
        return value

    @property
    def store_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir.resolve() / 'casework.db'}"


def _default_actor() -> str:
    name = re.sub(r"[^a-z0-9._-]", "", getpass.getuser().lower()) or "operator"
    return name if name[0].isalpha() else f"u{name}"


@lru_cache(maxsize=1)
def get_settings() -> CaseworkSettings:
    """Settings for this process; a bad variable stops us with its name in the message."""
    try:
        return CaseworkSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        variable = "CASEWORK_" + str(first["loc"][0]).upper() if first["loc"] else "CASEWORK_*"
        raise SettingsError(f"{variable}: {first['msg']}") from None
