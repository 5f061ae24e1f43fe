"""`autopilot serve`: one service in the foreground, for containers and scaling."""

from __future__ import annotations

import argparse
from typing import Any

SERVICES = ("planner", "generator", "validator", "gateway", "notifier")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the verb."""
    srv = sub.add_parser("serve", help="run one service in the foreground")
    srv.add_argument("service", choices=list(SERVICES))
    srv.set_defaults(func=run)


def plain_logs() -> None:
    """No ANSI colour codes in logs that go to a file or a pipe (or with NO_COLOR set).

    uvicorn colours only a terminal; FastStream colours its level names whatever the output,
    so its formatter is told not to, for the loggers it has made and those it will make.
    """
    import logging
    import os
    import sys

    if sys.stderr.isatty() and not os.environ.get("NO_COLOR"):
        return
    from faststream._internal.logger import formatter

    colourized = formatter.ColourizedFormatter
    if getattr(colourized, "_autopilot_plain", False):
        return
    init = colourized.__init__

    def plain_init(self: formatter.ColourizedFormatter, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.use_colors = False

    colourized.__init__ = plain_init  # type: ignore[method-assign]
    colourized._autopilot_plain = True  # type: ignore[attr-defined]
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler.formatter, colourized):
                handler.formatter.use_colors = False


def run(args: argparse.Namespace) -> int:
    """One service in the foreground."""
    import importlib

    plain_logs()
    module = importlib.import_module(f"services.{args.service}.main")
    module.main()
    return 0
