"""The one logging set-up every entry point calls: the gateway, the swarm services, the notifier
and `autopilot up`.

Records go to stderr as `<time> <LEVEL> <logger>: <message>`, at `AUTOPILOT_LOG_LEVEL` (INFO
unless set). Logs that do not go to a terminal (a file, a pipe: `autopilot up` writes each
service's to `<data_dir>/logs/<service>.log`), or with `NO_COLOR` set, carry no ANSI colour codes.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LogSettings(BaseSettings):
    """What the environment says about logs."""

    model_config = SettingsConfigDict(env_prefix="AUTOPILOT_LOG_", extra="ignore")

    level: str = Field(
        default="INFO", description="Level of the root logger (AUTOPILOT_LOG_LEVEL)."
    )
    no_color: str = Field(
        default="",
        validation_alias="NO_COLOR",
        description="Any non-empty value turns colour off (https://no-color.org).",
    )


def configure(settings: LogSettings | None = None) -> None:
    """Set up the root logger once per process and keep colour codes out of non-terminals."""
    settings = settings or LogSettings()
    logging.basicConfig(level=settings.level.upper(), format=FORMAT)
    if settings.no_color or not sys.stderr.isatty():
        plain_logs()


def plain_logs() -> None:
    """No ANSI colour codes in FastStream's logs.

    uvicorn colours only a terminal; FastStream colours its level names whatever the output,
    so its formatter is told not to, for the loggers it has made and those it will make.
    """
    from faststream._internal.logger import formatter

    colourized = formatter.ColourizedFormatter
    if getattr(colourized, "_autopilot_plain", False):
        return
    init = colourized.__init__

    def plain_init(self: formatter.ColourizedFormatter, *args: Any, **kwargs: Any) -> None:
        """FastStream's own set-up, then colours off."""
        init(self, *args, **kwargs)
        self.use_colors = False

    colourized.__init__ = plain_init  # type: ignore[method-assign]
    colourized._autopilot_plain = True  # type: ignore[attr-defined]
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler.formatter, colourized):
                handler.formatter.use_colors = False
