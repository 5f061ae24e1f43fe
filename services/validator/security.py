"""Checkov's Kubernetes checks, run in-process and offline over rendered objects."""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import yaml

from shared.models.reports import Finding, SecurityScanReport, Severity

MIN_CHECKOV_PASS_RATE = 0.95
"""The checkov step passes at this share of counted checks (Bitnami nginx scores 0.978)."""

EXCLUDED_CHECKS = ("CKV_K8S_35", "CKV_K8S_43")
"""Counted as neither pass nor fail: image digests (pinned at release time, not in a chart's
defaults) and secrets-as-files (env from a Secret is an accepted pattern)."""

# Checkov must never call out: no platform mapping download, no version check, no API key.
_OFFLINE_ENV = {
    "BC_SKIP_MAPPING": "TRUE",
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE",
    "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "FALSE",
    "CKV_GITHUB_CONFIG_FETCH_DATA": "FALSE",
    "CKV_GITLAB_CONFIG_FETCH_DATA": "FALSE",
    "CKV_BITBUCKET_CONFIG_FETCH_DATA": "FALSE",
    "CKV_VALIDATE_SECRETS": "FALSE",
    "BC_ENABLE_PERSIST_GRAPHS": "FALSE",
    # Forking workers to parse one in-memory render costs more than the parse (and forking a
    # threaded service is unsafe): parse in this process.
    "CHECKOV_PARALLELIZATION_TYPE": "none",
}

CRITICAL_CHECKS = frozenset(
    {"CKV_K8S_16", "CKV_K8S_17", "CKV_K8S_18", "CKV_K8S_19", "CKV_K8S_27", "CKV_K8S_39"}
)
"""Privileged, host namespaces, Docker socket, SYS_ADMIN: any one of these fails the scan
whatever the pass rate, because a single such container hands over the node."""

ACCEPTABLE_CRITICAL = {"CKV_K8S_19": "hostNetwork"}
"""Critical checks a declared exception may accept: check -> the exception's setting, which the
skip's reason must name (`hostNetwork: <why>`, as the generator writes it). The node's network
namespace alone does not hand over the node; privileged, host PID/IPC, the Docker socket and
SYS_ADMIN do, so no reason accepts those."""

HINTS = {
    "CKV_K8S_8": "add a livenessProbe to the container",
    "CKV_K8S_9": "add a readinessProbe to the container",
    "CKV_K8S_10": "set resources.requests.cpu",
    "CKV_K8S_11": "set resources.limits.cpu",
    "CKV_K8S_12": "set resources.requests.memory",
    "CKV_K8S_13": "set resources.limits.memory",
    "CKV_K8S_14": "pin the image to a fixed tag (not latest or empty)",
    "CKV_K8S_15": "set imagePullPolicy: Always",
    "CKV_K8S_16": "remove securityContext.privileged: true",
    "CKV_K8S_17": "remove hostPID: true",
    "CKV_K8S_18": "remove hostIPC: true",
    "CKV_K8S_19": "remove hostNetwork: true",
    "CKV_K8S_20": "set securityContext.allowPrivilegeEscalation: false",
    "CKV_K8S_21": "set metadata.namespace: {{ .Release.Namespace }}",
    "CKV_K8S_22": "set readOnlyRootFilesystem: true and mount emptyDirs where the app writes",
    "CKV_K8S_23": "set runAsNonRoot: true and a non-zero runAsUser",
    "CKV_K8S_25": "remove securityContext.capabilities.add",
    "CKV_K8S_26": "remove hostPort; expose the port through a Service",
    "CKV_K8S_27": "do not mount the Docker socket",
    "CKV_K8S_28": "drop ALL (or at least NET_RAW) capabilities",
    "CKV_K8S_29": "set a pod securityContext",
    "CKV_K8S_30": "set a container securityContext",
    "CKV_K8S_31": "set seccompProfile.type: RuntimeDefault",
    "CKV_K8S_37": "set capabilities.drop: [ALL]",
    "CKV_K8S_38": "set automountServiceAccountToken: false unless the app calls the API",
    "CKV_K8S_39": "do not add SYS_ADMIN",
    "CKV_K8S_40": "run as a UID above 10000 (e.g. runAsUser: 10001)",
    "CKV_K8S_41": "create a dedicated ServiceAccount; do not use `default`",
    "CKV_K8S_42": "create a dedicated ServiceAccount; do not use `default`",
    "CKV_K8S_49": "list the resources and verbs the Role needs instead of `*`",
    "CKV2_K8S_6": "add a NetworkPolicy whose podSelector selects this pod",
}


class _Record(Protocol):
    """The parts of a checkov check record we read."""

    check_id: str
    check_name: str
    resource: str


_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_lock = threading.Lock()


class _DropCheckovRootRecords(logging.Filter):
    """Drop records checkov logs straight on the root logger (it calls logging.debug() etc.)."""

    def __init__(self, package_dir: str) -> None:
        super().__init__()
        self.package_dir = package_dir

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record that does not come from checkov's own files."""
        return not record.pathname.startswith(self.package_dir)


@contextmanager
def _root_handlers_kept() -> Iterator[None]:
    """Undo handlers logging.basicConfig() adds when checkov logs on an unconfigured root."""
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        yield
    finally:
        for handler in list(root.handlers):
            if handler not in before:
                root.removeHandler(handler)


def _line_loader() -> type[yaml.SafeLoader]:
    """Checkov's loader (mappings marked with their first and last line) over libyaml.

    Checkov parses the render with the pure-Python loader, most of a scan's time; libyaml
    gives the same nodes and marks several times faster.
    """
    base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class LineLoader(base):  # type: ignore[valid-type,misc]
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
            mapping = super().construct_mapping(node, deep=deep)
            mapping["__startline__"] = node.start_mark.line + 1
            mapping["__endline__"] = node.end_mark.line + 1
            return mapping

    return LineLoader


_loaded: tuple[Any, Any] | None = None
_import_lock = threading.Lock()


def _checkov() -> tuple[Any, Any]:
    """Import checkov once (~2 s), offline and quiet; returns (Runner, RunnerFilter)."""
    global _loaded
    with _import_lock:
        if _loaded is None:
            _loaded = _import_checkov()
        return _loaded


def _import_checkov() -> tuple[Any, Any]:
    """The import itself (see _checkov)."""
    for key, value in _OFFLINE_ENV.items():
        os.environ[key] = value
    os.environ.pop("BC_API_KEY", None)
    root = logging.getLogger()
    level = root.level
    with _root_handlers_kept():
        import checkov
        from checkov.common.models.enums import ParallelizationType
        from checkov.common.parallelizer.parallel_runner import parallel_runner
        from checkov.kubernetes.parser import k8_yaml
        from checkov.kubernetes.runner import Runner
        from checkov.runner_filter import RunnerFilter
    root.setLevel(level)
    parallel_runner.type = ParallelizationType.NONE  # when checkov was imported before us
    k8_yaml.SafeLineLoader = _line_loader()  # type: ignore[misc,assignment]
    root.addFilter(_DropCheckovRootRecords(str(Path(checkov.__file__).parent)))
    logging.getLogger("checkov").setLevel(logging.CRITICAL)
    return Runner, RunnerFilter


def warm_up() -> None:
    """Pay checkov's import cost now rather than during the first validation."""
    _checkov()


def preload() -> None:
    """Start importing checkov in the background, if nothing has yet.

    The import is Python work; Helm's lint and renders, which run meanwhile, are Go calls
    that leave the interpreter free, so a cold process scans sooner.
    """
    if _loaded is None and not _import_lock.locked():
        threading.Thread(target=_checkov, name="checkov-import", daemon=True).start()


def _resource_ref(resource: str) -> str:
    """Checkov's `Kind.namespace.name` -> `Kind/name`."""
    parts = resource.split(".", 2)
    return f"{parts[0]}/{parts[2]}" if len(parts) == 3 else resource


def scan(objects: list[dict[str, Any]]) -> SecurityScanReport:
    """Run every checkov Kubernetes check over the objects and count the results."""
    report = SecurityScanReport(excluded=list(EXCLUDED_CHECKS))
    if not objects:
        report.notRun = "the chart rendered no objects to scan"
        return report
    runner_cls, filter_cls = _checkov()
    with tempfile.TemporaryDirectory(prefix="autopilot-checkov-") as tmp:
        path = Path(tmp) / "rendered.yaml"
        path.write_text(yaml.dump_all(objects, Dumper=_Dumper, sort_keys=False), encoding="utf-8")
        # Checkov's registries are module globals: one scan at a time.
        with _lock, _root_handlers_kept():
            result = runner_cls().run(
                root_folder=None,
                files=[str(path)],
                runner_filter=filter_cls(framework=["kubernetes"]),
            )
    passed: list[_Record] = result.passed_checks
    failed: list[_Record] = result.failed_checks
    report.passed = sum(1 for r in passed if r.check_id not in EXCLUDED_CHECKS)
    counted = [r for r in failed if r.check_id not in EXCLUDED_CHECKS]
    findings = [_finding(r) for r in counted]
    for record in result.skipped_checks:
        if record.check_id in EXCLUDED_CHECKS:
            continue
        reason = _skip_reason(record)
        if reason is None or not _acceptable(record.check_id, reason):
            # A skip without a reason, or of a check no reason can excuse, still fails.
            why = "skipped without a reason" if reason is None else "critical: cannot be skipped"
            finding = _finding(record)
            findings.append(finding.model_copy(update={"message": f"{finding.message} ({why})"}))
        else:
            report.accepted.append(_accepted(record, reason))
    report.failed = len(findings)
    report.failedChecks = findings
    return report


def _acceptable(check: str, reason: str) -> bool:
    """Whether a skip with this reason accepts the check (critical ones only as listed)."""
    if check not in CRITICAL_CHECKS:
        return True
    setting = ACCEPTABLE_CRITICAL.get(check)
    head, _, why = reason.partition(":")
    return setting is not None and head.strip() == setting and len(why.strip()) >= 10


def _skip_reason(record: _Record) -> str | None:
    """The reason a checkov.io/skip annotation gives, or None when it gives none."""
    result = getattr(record, "check_result", None) or {}
    reason = str(result.get("suppress_comment") or "").strip()
    return None if not reason or reason == "No comment provided" else reason


def _accepted(record: _Record, reason: str) -> Finding:
    """A check the chart fails on purpose, with the reason it states."""
    return Finding(
        severity=Severity.INFO,
        tool="checkov",
        check=record.check_id,
        object=_resource_ref(record.resource),
        message=f"{record.check_name}: accepted, {reason}",
        hint="a declared security exception; remove it from the spec to get the hardened default",
    )


def _finding(record: _Record) -> Finding:
    """One failed checkov check with a fix hint; critical checks are errors."""
    return Finding(
        severity=Severity.ERROR if record.check_id in CRITICAL_CHECKS else Severity.WARNING,
        tool="checkov",
        check=record.check_id,
        object=_resource_ref(record.resource),
        message=record.check_name,
        hint=HINTS.get(record.check_id, "see the checkov documentation for this check"),
    )
