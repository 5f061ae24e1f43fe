"""The `autopilot` command line: generate, validate, plan, schema, up, serve, submit,
and against a gateway list, get, approve, reject, logs.

Exit codes: 0 done, 1 validation failed or a gate was rejected, 2 bad input or usage,
3 the gateway is unavailable or failed inside, or an internal error. Every error is one
line on stderr (a JSON object on stdout with --json or -o json); AUTOPILOT_DEBUG=1 shows
the traceback of an internal error.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import Any

from services.cli.commands import VERBS

EXIT_BAD_INPUT = 2
EXIT_UNAVAILABLE = 3
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for `yes | head -1`
FORMAT_VERBS = ("list", "get", "approve", "reject", "logs", "webhooks")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="autopilot", description=__doc__.split("\n\n")[0].replace("\n", " ")
    )
    parser.add_argument("--version", action=_Version, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", required=True)
    for verb in VERBS:
        importlib.import_module(f"services.cli.commands.{verb}").add_parser(sub)
    return parser


class _Version(argparse.Action):
    """`--version`: looks the installed version up only when asked (the metadata lookup is
    most of a bare start-up, and every other invocation would pay it for nothing)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        """A flag that takes no value and stores nothing, as argparse's version action."""
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        """Print `autopilot <version>` and exit, as argparse's own version action does."""
        print(f"{parser.prog} {_version()}")
        parser.exit()


def _version() -> str:
    """The installed package's version (the source tree's when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("k8s-autopilot")
    except PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `autopilot` command."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.cli_argv = argv  # what `generate` hands a warm daemon (services/cli/daemon.py)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _broken_pipe()
    except Exception as exc:  # noqa: BLE001 - every failure ends as one line, never a traceback
        return _fail(args, exc)
    return code


def _fail(args: argparse.Namespace, exc: Exception) -> int:
    """Report an error in one line (or one JSON object) and return its exit code."""
    from shared.errors import AutopilotError

    if _raised_from("services.cli.remote", "Unavailable", exc):
        code, kind, message = EXIT_UNAVAILABLE, "unavailable", str(exc)
    elif isinstance(exc, AutopilotError):
        if exc.field == "<file>":
            # Parsers name no file; the command line knows which one it was.
            source = getattr(args, "input", None)
            exc.field = "stdin" if source in (None, "-") else source
        code, kind, message = EXIT_BAD_INPUT, "input", str(exc)
    elif _raised_from("httpx", "HTTPError", exc):
        code, kind = EXIT_UNAVAILABLE, "unavailable"
        message = f"the gateway failed: {type(exc).__name__}: {exc}"
    else:
        from services.cli.settings import CliSettings

        if CliSettings().debug:
            raise exc
        code, kind = EXIT_UNAVAILABLE, "internal"
        message = (
            f"internal error: {type(exc).__name__}: {exc} (AUTOPILOT_DEBUG=1 shows the traceback)"
        )
    message = " ".join(message.split()) if kind != "input" else message.replace("\n", " ")
    try:
        if _wants_json(args):
            error: dict[str, object] = {"kind": kind, "message": message, "exitCode": code}
            if isinstance(exc, AutopilotError) and exc.field:
                error["field"] = exc.field
            print(json.dumps({"error": error}))
        else:
            print(f"error: {message}", file=sys.stderr)
    except BrokenPipeError:
        return _broken_pipe()
    return code


def _raised_from(module: str, name: str, exc: Exception) -> bool:
    """Whether exc is a `module.name`, without importing the module: a verb that never loaded
    it (no gateway, no httpx) cannot have raised one, and an error path should stay light."""
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(exc, getattr(loaded, name))


def _wants_json(args: argparse.Namespace) -> bool:
    """--json, or -o json on the verbs that talk to a gateway (-o is a folder elsewhere)."""
    if getattr(args, "json", False) is True:
        return True
    return args.command in FORMAT_VERBS and getattr(args, "output", None) == "json"


def _broken_pipe() -> int:
    """The reader went away (`| head -1`): stop quietly, as other Unix tools do."""
    # Python would complain again when it flushes stdout at exit; point it at /dev/null.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE
