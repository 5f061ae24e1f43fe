"""Settings every service shares: where NATS and Postgres are, where local data lives, the AES key.

Each service subclasses `Settings` (one settings object per service). Environment variables carry
the `AUTOPILOT_` prefix, except the checkpoint key, which keeps LangGraph's own name
`LANGGRAPH_AES_KEY` so LangGraph tooling and this project read the same key the same way.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.events import STREAM_NAME, SUBJECT_PREFIX

AES_KEY_ENV = "LANGGRAPH_AES_KEY"
AES_KEY_SIZES = (16, 24, 32)


def cache_dir() -> Path:
    """The user's cache directory for this project: `$XDG_CACHE_HOME/autopilot`, else
    `~/.cache/autopilot` (what can be rebuilt at any time: compiled schemas)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "autopilot"


def default_data_dir() -> Path:
    """XDG data home (`~/.local/share/autopilot`), or `./.autopilot-data` when there is no home."""
    xdg = os.environ.get("XDG_DATA_HOME")
    if xdg:
        return Path(xdg) / "autopilot"
    home = Path.home()
    # Containers often run with HOME=/ or a read-only home; the working directory is then the
    # only place a user can expect data to land.
    if str(home) in ("", "/") or not os.access(home, os.W_OK):
        return Path.cwd() / ".autopilot-data"
    return home / ".local" / "share" / "autopilot"


class Settings(BaseSettings):
    """Infrastructure settings shared by the gateway, the swarms and the CLI."""

    # hide_input_in_errors: a wrong-sized key must not end up in a log through its error message.
    model_config = SettingsConfigDict(
        env_prefix="AUTOPILOT_", extra="ignore", populate_by_name=True, hide_input_in_errors=True
    )

    nats_url: str | None = Field(
        default=None, description="NATS server URL; unset in local mode starts an embedded one."
    )
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql://...); unset in local mode starts an embedded one.",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where embedded servers keep their data.",
    )
    aes_key: SecretStr | None = Field(
        default=None,
        validation_alias=AES_KEY_ENV,
        description="AES key for checkpoints and artifacts: 16, 24 or 32 bytes, taken raw (UTF-8).",
    )
    subject_prefix: str = Field(
        default=SUBJECT_PREFIX, description="Subject prefix of every event (tests use their own)."
    )
    stream_name: str = Field(default=STREAM_NAME, description="The JetStream stream name.")
    local_mode: bool = Field(
        default=True,
        description="A single-user machine: embedded servers allowed, encryption optional.",
    )
    metrics_enabled: bool = Field(
        default=True,
        description="Prometheus metrics; false makes every metric a no-op (/metrics stays, empty).",
    )

    @field_validator("aes_key")
    @classmethod
    def _key_size(cls, value: SecretStr | None) -> SecretStr | None:
        """Reject keys AES cannot use, naming the sizes that work."""
        # An empty variable means "no key", as in `LANGGRAPH_AES_KEY= autopilot up`.
        if value is None or value.get_secret_value() == "":
            return None
        size = len(value.get_secret_value().encode())
        if size not in AES_KEY_SIZES:
            raise ValueError(
                f"{AES_KEY_ENV} must be 16, 24 or 32 bytes long (UTF-8), got {size} bytes"
            )
        return value

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        """Outside local mode, refuse to run with plaintext checkpoints or embedded servers."""
        if self.local_mode:
            return self
        missing = []
        if self.aes_key is None:
            missing.append(
                f"{AES_KEY_ENV} (checkpoints and chart files would be stored in plaintext)"
            )
        if not self.nats_url:
            missing.append("AUTOPILOT_NATS_URL (embedded servers are for local mode only)")
        if not self.database_url:
            missing.append("AUTOPILOT_DATABASE_URL (embedded servers are for local mode only)")
        if missing:
            raise ValueError(
                "AUTOPILOT_LOCAL_MODE is false but these are unset: " + "; ".join(missing)
            )
        return self

    def listen_host(self, explicit: str | None) -> str:
        """The interface to serve HTTP on: the explicit one, else loopback only in local mode."""
        if explicit:
            return explicit
        # Outside local mode a container is probed and scraped from outside its own loopback.
        return "127.0.0.1" if self.local_mode else "0.0.0.0"  # noqa: S104

    def aes_key_bytes(self) -> bytes | None:
        """The key as LangGraph's `from_pycryptodome_aes` reads it: the raw string, UTF-8 encoded."""
        return None if self.aes_key is None else self.aes_key.get_secret_value().encode()
