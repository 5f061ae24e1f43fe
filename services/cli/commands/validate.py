"""`autopilot validate`: validate an existing chart directory."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the verb."""
    val = sub.add_parser("validate", help="validate a chart directory or a packaged chart (.tgz)")
    val.add_argument("chart", help="chart directory, or the .tgz `helm package` writes")
    val.add_argument("--json", action="store_true")
    val.set_defaults(func=run)


MAX_UNPACKED_BYTES = 50 * 1024 * 1024


def unpack_chart(archive: Path, into: Path) -> Path:
    """Extract a packaged chart (`helm package`'s .tgz) under `into`; its chart directory.

    Only regular files and folders inside `into` are written: an absolute path, `..`, a
    link or a device in the archive refuses it, and so does an archive over 50 MB unpacked.
    """
    import tarfile

    from shared.errors import AutopilotError

    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            total = 0
            for member in members:
                parts = Path(member.name).parts
                if member.name.startswith("/") or ".." in parts or not parts:
                    raise AutopilotError(
                        f"{archive} holds a path outside the chart: {member.name!r}", field="CHART"
                    )
                if not (member.isfile() or member.isdir()):
                    raise AutopilotError(
                        f"{archive} holds a link or special file: {member.name!r}", field="CHART"
                    )
                total += member.size
                if total > MAX_UNPACKED_BYTES:
                    raise AutopilotError(f"{archive} is over 50 MB unpacked", field="CHART")
            tar.extractall(into, members=members, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise AutopilotError(f"{archive} is not a chart archive: {exc}", field="CHART") from exc
    charts = sorted(p.parent for p in into.glob("*/Chart.yaml"))
    if len(charts) != 1:
        raise AutopilotError(
            f"{archive} is not a packaged chart (one top folder with a Chart.yaml)", field="CHART"
        )
    return charts[0]


def run(args: argparse.Namespace) -> int:
    """Validate an existing chart directory or packaged chart."""
    import tarfile
    import tempfile

    from shared.errors import AutopilotError

    chart = Path(args.chart)
    if chart.is_file() and tarfile.is_tarfile(chart):
        with tempfile.TemporaryDirectory(prefix="autopilot-validate-") as tmp:
            return _validate(unpack_chart(chart, Path(tmp)), args, shown=chart)
    if not (chart / "Chart.yaml").is_file():
        raise AutopilotError(
            f"{chart} is not a chart directory (no Chart.yaml) or a packaged chart (.tgz)",
            field="CHART",
        )
    return _validate(chart, args, shown=chart)


def _validate(chart: Path, args: argparse.Namespace, *, shown: Path) -> int:
    """Validate one chart directory and print its report; 0 when it passed, else 1."""
    from services.cli.common import print_report
    from services.validator.engine import validate_chart

    report = validate_chart(chart)
    if args.json:
        print(report.model_dump_json(by_alias=True, indent=2))
    else:
        print(f"validated {shown}")
        print_report(report)
        print("validation passed" if report.passed else "validation FAILED")
    return 0 if report.passed else 1
