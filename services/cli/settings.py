"""Everything the `autopilot` command reads from its environment, in one place (issue 13).

    AUTOPILOT_GATEWAY        the gateway the remote verbs talk to (else --gateway, else local)
    AUTOPILOT_API_KEY        sent as `Authorization: Bearer ...` to the gateway
    AUTOPILOT_DEBUG          any value: an internal error shows its traceback
    AUTOPILOT_DATABASE_URL   the Postgres `autopilot migrate` creates the tables in
    AUTOPILOT_WEBHOOK_SECRET the signing secret `autopilot webhooks add` uses without a file
    NO_COLOR, TERM           colour off with any NO_COLOR value or TERM=dumb
    PAGER                    how a gate's detail is shown (default `less -R`)
    VISUAL, EDITOR           how a plan is edited at a gate (default vi)
    AUTOPILOT_DAEMON         1: `generate --yes` hands the run to a warm per-user daemon
    AUTOPILOT_DAEMON_IDLE    seconds the daemon waits for work before it exits (default 900)
    XDG_RUNTIME_DIR          where the daemon's socket lives (else the cache directory)
    XDG_CACHE_HOME           the cache directory (default ~/.cache): the daemon's log

Settings are read when a command asks (`CliSettings()`), never at import, so a test's
monkeypatched variable is seen. Helpers that stand for the whole environment rather than one
variable live in `services/cli/environment.py` (no pydantic, for the daemon's fast path) and
are imported from there: `shell_environment()` is the user's shell, which fills a Compose file's
`${VAR}` on the user's own machine (a service passes only what a request carries), and
`child_environment()` is the one place an environment for a child process is built.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.cli.environment import cache_dir, daemon_dir, truthy


class CliSettings(BaseSettings):
    """The CLI's own variables and the standard ones it honours (no prefix: names are exact)."""

    # Each field names its variable exactly, and only that name is read: no prefix, and no
    # populate_by_name (pydantic-settings would then also read a field's bare name, so an
    # unrelated DEBUG or GATEWAY in the environment would be taken for one); case as written,
    # as os.environ reads it (no_color is not NO_COLOR).
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=True)

    gateway: str | None = Field(
        default=None,
        validation_alias="AUTOPILOT_GATEWAY",
        description="Gateway URL; may end in /v1.",
    )
    api_key: SecretStr | None = Field(
        default=None,
        validation_alias="AUTOPILOT_API_KEY",
        description="API key sent as a bearer token.",
    )
    debug: str = Field(
        default="",
        validation_alias="AUTOPILOT_DEBUG",
        description="Any non-empty value shows the traceback of an internal error.",
    )
    database_url: str | None = Field(
        default=None,
        validation_alias="AUTOPILOT_DATABASE_URL",
        description="PostgreSQL URL for `autopilot migrate`.",
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        validation_alias="AUTOPILOT_WEBHOOK_SECRET",
        description="Webhook signing secret when no --secret-file is given.",
    )
    no_color: str = Field(
        default="",
        validation_alias="NO_COLOR",
        description="Any non-empty value turns colour off (https://no-color.org).",
    )
    term: str = Field(default="", validation_alias="TERM", description="TERM=dumb: no colour.")
    pager: str = Field(
        default="",
        validation_alias="PAGER",
        description="Pager command for a gate's detail (empty: `less -R`).",
    )
    visual: str = Field(
        default="",
        validation_alias="VISUAL",
        description="Editor command, preferred over EDITOR.",
    )
    editor: str = Field(
        default="",
        validation_alias="EDITOR",
        description="Editor command when VISUAL is unset (empty: vi).",
    )

    daemon: str = Field(
        default="",
        validation_alias="AUTOPILOT_DAEMON",
        description="1: `generate --yes` runs in a warm per-user daemon (started on first use).",
    )
    daemon_idle: str = Field(
        default="",
        validation_alias="AUTOPILOT_DAEMON_IDLE",
        description="Seconds the daemon waits for a request before it exits (default 900).",
    )
    runtime_dir: str = Field(
        default="",
        validation_alias="XDG_RUNTIME_DIR",
        description="The user's runtime directory: the daemon's socket is under autopilot/.",
    )
    cache_home: str = Field(
        default="",
        validation_alias="XDG_CACHE_HOME",
        description="The user's cache directory (empty: ~/.cache).",
    )

    @property
    def daemon_enabled(self) -> bool:
        """AUTOPILOT_DAEMON=1 (or true/yes/on)."""
        return truthy(self.daemon)

    @property
    def daemon_idle_seconds(self) -> float:
        """AUTOPILOT_DAEMON_IDLE as seconds; 900 (15 min) when unset, not a number or not > 0."""
        try:
            seconds = float(self.daemon_idle)
        except ValueError:
            return 900.0
        return seconds if seconds > 0 else 900.0

    @property
    def cache_dir(self) -> Path:
        """The CLI's cache directory: $XDG_CACHE_HOME/autopilot, else ~/.cache/autopilot."""
        return cache_dir(self.cache_home)

    @property
    def daemon_dir(self) -> Path:
        """The daemon's socket directory: $XDG_RUNTIME_DIR/autopilot, else the cache dir's
        daemon/ folder."""
        return daemon_dir(self.runtime_dir, self.cache_home)

    @property
    def colour_allowed(self) -> bool:
        """False with NO_COLOR set or TERM=dumb; whether the stream is a terminal is separate."""
        return not self.no_color and self.term != "dumb"

    @property
    def pager_command(self) -> str:
        """$PAGER, else `less -R`."""
        return self.pager or "less -R"

    @property
    def editor_command(self) -> str:
        """$VISUAL, else $EDITOR, else vi."""
        return self.visual or self.editor or "vi"
