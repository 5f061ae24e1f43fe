"""Checkov's Kubernetes checks, run in-process and offline over rendered objects."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import pickle
import sys
import tempfile
import threading
import types
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from services.validator.cache import LRU
from shared.libyaml import SafeDumper, SafeLoader
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


@dataclass(frozen=True)
class Outcome:
    """One checkov result on one resource: the parts of a check record the report reads."""

    check_id: str
    check_name: str
    resource: str
    result: str
    """PASSED, FAILED or SKIPPED."""
    suppress_comment: str | None = None
    """The reason a checkov.io/skip annotation gives (checkov's "No comment provided" if none)."""


_lock = threading.Lock()
RESULTS_CACHE_SIZE = 4096
"""Rendered objects whose checkov results a process keeps (a few KB each)."""
GRAPH_CACHE_SIZE = 64
"""Whole renders whose cross-object (graph) check results a process keeps."""
_PATH = "/rendered.yaml"
"""The file name checkov's records carry; nothing is written there."""
# Checkov's k8_yaml.load skips a whole file whose text looks like an unrendered Helm template
# (`{{ .Values.` / `{{ .Release.`). What is scanned here was rendered by Helm, so such text is
# data (an app's own template in a ConfigMap): the in-memory path does not follow that gate, or
# one string would switch the scan off and score the chart 100%.


class _DropCheckovRootRecords(logging.Filter):
    """Drop records checkov logs straight on the root logger (it calls logging.debug() etc.)."""

    def __init__(self, package_dir: str) -> None:
        """Keep records unless they come from files under package_dir."""
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


class _LineLoader(SafeLoader):  # type: ignore[valid-type,misc]
    """Checkov's loader over libyaml: every mapping marked with its first and last line
    (`__startline__`, `__endline__`, 1-based). Checkov parses the render with the pure-Python
    loader; libyaml gives the same nodes and marks several times faster."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        """The mapping with its first and last line added, as checkov's SafeLineLoader."""
        mapping = super().construct_mapping(node, deep=deep)
        mapping["__startline__"] = node.start_mark.line + 1
        mapping["__endline__"] = node.end_mark.line + 1
        return mapping


_results: LRU[bytes, _Document] = LRU(RESULTS_CACHE_SIZE)
"""Content key of one rendered object -> its _Document (checkov's per-object results)."""
_graphs: LRU[tuple[bytes, ...], list[Outcome]] = LRU(GRAPH_CACHE_SIZE)
"""Content keys of a whole render, in order -> its graph checks' outcomes."""


@dataclass
class _Checkov:
    """Checkov loaded once per process: its registries, one runner and the cache key prefix."""

    runner_cls: Any
    filter_cls: Any
    runner: Any
    runner_filter: Any
    registry: Any
    utils: Any
    validator: Any
    config: bytes
    """What besides an object's content decides its results: checkov's version and checks."""
    graph_kinds: frozenset[str] | None
    """The kinds a graph check reads (a check's own or connected types, and the workloads its
    Pods come from); None when some check reads every kind."""

    def in_graph(self, kind: Any) -> bool:
        """Whether a resource of this kind can change a graph check's result."""
        return self.graph_kinds is None or not isinstance(kind, str) or kind in self.graph_kinds


_loaded: _Checkov | None = None
_import_lock = threading.Lock()


def _checkov() -> _Checkov:
    """Import checkov once (~2 s), offline and quiet, and load its checks."""
    global _loaded
    with _import_lock:
        if _loaded is None:
            _loaded = _import_checkov()
        return _loaded


def _import_checkov() -> _Checkov:
    """The import itself (see _checkov)."""
    for key, value in _OFFLINE_ENV.items():
        os.environ[key] = value
    os.environ.pop("BC_API_KEY", None)
    root = logging.getLogger()
    level = root.level
    with _root_handlers_kept(), _without_terraform_checks():
        import checkov
        from checkov.common.models.enums import ParallelizationType
        from checkov.common.parallelizer.parallel_runner import parallel_runner
        from checkov.kubernetes import kubernetes_utils
        from checkov.kubernetes.checks.resource.registry import registry
        from checkov.kubernetes.parser import k8_yaml
        from checkov.kubernetes.parser.validatior import K8sValidator
        from checkov.kubernetes.runner import Runner
        from checkov.runner_filter import RunnerFilter
        from checkov.version import version

        parallel_runner.type = ParallelizationType.NONE  # when checkov was imported before us
        k8_yaml.SafeLineLoader = _LineLoader  # type: ignore[misc]
        runner: Any = Runner()
        runner_filter = RunnerFilter(framework=["kubernetes"])
        runner.graph_registry.load_checks()
    root.setLevel(level)
    root.addFilter(_DropCheckovRootRecords(str(Path(checkov.__file__).parent)))
    logging.getLogger("checkov").setLevel(logging.CRITICAL)
    checks = sorted(
        [f"{kind}:{c.id}:{c.name}:{type(c).__module__}" for kind, c in registry.all_checks()]
        + [
            f"graph:{c.id}:{c.name}:{sorted(c.resource_types)}"
            for c in runner.graph_registry.checks
        ]
    )
    config = "\n".join([_FORMAT, version, *checks]).encode()
    return _Checkov(
        Runner,
        RunnerFilter,
        runner,
        runner_filter,
        registry,
        kubernetes_utils,
        K8sValidator,
        hashlib.sha256(config).digest(),
        _graph_kinds(runner.graph_registry.checks, kubernetes_utils),
    )


def _graph_kinds(checks: list[Any], utils: Any) -> frozenset[str] | None:
    """Every kind the graph checks name, or None when one names none (or `all`).

    The graph's edges join two resources by their own fields (label selectors, names), so
    leaving out resources of other kinds changes no edge between those a check reads.
    """
    kinds: set[str] = set()
    for check in checks:
        if not check.resource_types:
            return None
        stack = [check]
        while stack:
            part = stack.pop()
            kinds.update(part.resource_types or ())
            kinds.update(getattr(part, "connected_resources_types", None) or ())
            stack += getattr(part, "sub_checks", None) or []
    if "all" in kinds:
        return None
    if utils.DEFAULT_NESTED_RESOURCE_TYPE in kinds:
        # a workload's pod template becomes a Pod of its own in the graph
        kinds |= set(utils.SUPPORTED_POD_CONTAINERS_TYPES)
    return frozenset(kinds)


@contextmanager
def _without_terraform_checks() -> Iterator[None]:
    """Import checkov's Kubernetes runner without its ~1,000 Terraform check modules.

    Checkov's graph-check solvers import a Terraform submodule, and `checkov.terraform`'s
    package init imports every Terraform check (a third of the import). While our import runs
    the package stands in as a bare namespace, so only the submodules named are loaded; after,
    it is forgotten, so a later `import checkov.terraform` runs the real init in full.
    """
    name = "checkov.terraform"
    if name in sys.modules:
        yield
        return
    spec = importlib.util.find_spec("checkov")
    if spec is None or not spec.submodule_search_locations:
        yield
        return
    stand_in = types.ModuleType(name)
    stand_in.__path__ = [str(Path(p) / "terraform") for p in spec.submodule_search_locations]
    sys.modules[name] = stand_in
    try:
        yield
    finally:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]


def clear_caches() -> None:
    """Forget every cached result (checkov stays loaded): a first-sight measurement."""
    _results.clear()
    _graphs.clear()


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
    if not objects:
        report = SecurityScanReport(excluded=list(EXCLUDED_CHECKS))
        report.notRun = "the chart rendered no objects to scan"
        return report
    found = outcomes(objects)
    if not found:
        # Objects went in and no check answered: a pass rate of 100% would be a false pass.
        report = SecurityScanReport(excluded=list(EXCLUDED_CHECKS))
        report.notRun = f"checkov returned no results for {len(objects)} rendered objects"
        return report
    return report_for(found)


def report_for(results: Iterable[Outcome]) -> SecurityScanReport:
    """Count checkov's outcomes: excluded checks left out, skips accepted only with a reason."""
    report = SecurityScanReport(excluded=list(EXCLUDED_CHECKS))
    findings: list[Finding] = []
    skipped: list[Outcome] = []
    for outcome in results:
        if outcome.check_id in EXCLUDED_CHECKS:
            continue
        if outcome.result == "PASSED":
            report.passed += 1
        elif outcome.result == "FAILED":
            findings.append(_finding(outcome))
        elif outcome.result == "SKIPPED":
            skipped.append(outcome)
    for outcome in skipped:
        reason = _skip_reason(outcome)
        if reason is None or not _acceptable(outcome.check_id, reason):
            # A skip without a reason, or of a check no reason can excuse, still fails.
            why = "skipped without a reason" if reason is None else "critical: cannot be skipped"
            finding = _finding(outcome)
            findings.append(finding.model_copy(update={"message": f"{finding.message} ({why})"}))
        else:
            report.accepted.append(_accepted(outcome, reason))
    report.failed = len(findings)
    report.failedChecks = findings
    return report


def file_outcomes(objects: list[dict[str, Any]]) -> list[Outcome]:
    """Checkov's own way: the objects written to a YAML file its runner parses and scans.

    The reference the in-memory path (outcomes) is tested against: passed, failed, then
    skipped outcomes, each in checkov's report order.
    """
    ck = _checkov()
    with tempfile.TemporaryDirectory(prefix="autopilot-checkov-") as tmp:
        path = Path(tmp) / "rendered.yaml"
        path.write_text(
            yaml.dump_all(objects, Dumper=SafeDumper, sort_keys=False), encoding="utf-8"
        )
        # Checkov's registries are module globals: one scan at a time.
        with _lock, _root_handlers_kept():
            result = ck.runner_cls().run(
                root_folder=None, files=[str(path)], runner_filter=ck.runner_filter
            )
    records = [*result.passed_checks, *result.failed_checks, *result.skipped_checks]
    return [_from_record(r) for r in records]


def _from_record(record: Any) -> Outcome:
    """The parts of one checkov Record the report reads."""
    result = record.check_result
    comment = result.get("suppress_comment")
    return Outcome(
        record.check_id,
        record.check_name,
        record.resource,
        result["result"].name,
        None if comment is None else str(comment),
    )


@dataclass
class _Document:
    """What checkov makes of one rendered object, cached under its content key."""

    lines: int
    """Lines of its YAML document (the next one starts after these and a `---`)."""
    marked: Any
    """Checkov's parse of the document (mappings marked with lines from 1), None if its
    validator drops the document."""
    has_api_version: bool
    has_kind: bool
    kinds: tuple[Any, ...] = ()
    """The kinds of the resources it gives checkov (a List's items')."""
    resources: list[Outcome] | None = None
    """Its resource checks' outcomes in checkov's order (the items' for a List)."""


def outcomes(objects: list[dict[str, Any]]) -> list[Outcome]:
    """Checkov's results over the objects, as its runner gets them from a file of them.

    Each object is dumped and parsed alone (checkov's line-marked parse) and its resource
    checks run once per content: a cache keyed by the object's content and checkov's version
    and checks keeps them. The cross-object (graph) checks run over the whole render, cached
    under the keys of the objects of the kinds they read. Ordered as checkov's report:
    resource checks object by object (a List's items after every other object), then graph
    checks (in the registry's order, where checkov's follows its threads).
    """
    ck = _checkov()
    keys = [_content_key(ck, obj) for obj in objects]
    docs: list[_Document] = []
    for key, obj in zip(keys, objects, strict=True):
        doc = _results.get(key)
        if doc is None:
            doc = _document(obj)
            _results.put(key, doc)
        docs.append(doc)
    # k8_yaml.load: a file without both words yields nothing. (Its unrendered-template gate is
    # not followed: what is scanned was rendered by Helm, so template-like text is data.)
    if not any(d.has_api_version for d in docs) or not any(d.has_kind for d in docs):
        return []
    missing = [d for d in docs if d.marked is not None and d.resources is None]
    graph_key = tuple(
        key
        for key, doc in zip(keys, docs, strict=True)
        if doc.marked is not None and any(ck.in_graph(kind) for kind in doc.kinds)
    )
    graph = _graphs.get(graph_key)
    if missing or graph is None:
        with _lock, _root_handlers_kept():
            for doc in missing:
                if doc.resources is None:  # another scan may have filled it meanwhile
                    doc.resources = _resource_outcomes(ck, doc.marked)
            if graph is None:
                graph = _graph_outcomes(ck, _definitions(docs))
        _graphs.put(graph_key, graph)
    direct = [o for d in docs if not _is_list(d.marked) for o in d.resources or []]
    spread = [o for d in docs if _is_list(d.marked) for o in d.resources or []]
    return [*direct, *spread, *graph]


_COUNTED = ("PASSED", "FAILED", "SKIPPED")
"""The results checkov's report keeps (a check may also answer UNKNOWN: not applicable)."""
_FORMAT = "autopilot-checkov-outcomes-1"
"""Changes when what a cached _Document holds changes."""


def _content_key(ck: _Checkov, obj: Any) -> bytes:
    """A key for everything that decides one object's results: its exact content (types,
    key order and all, as repr writes them) and checkov's version and checks."""
    return hashlib.sha256(ck.config + repr(obj).encode("utf-8", "surrogatepass")).digest()


def _document(obj: Any) -> _Document:
    """Dump one object as the scan's file would hold it and parse it as checkov does."""
    text = yaml.dump_all([obj], Dumper=SafeDumper, sort_keys=False)
    parsed = list(yaml.load_all(text, Loader=_LineLoader))
    ck = _checkov()
    marked = parsed[0] if len(parsed) == 1 else None
    if marked is not None and not ck.validator.is_valid_template(marked)[0]:
        marked = None
    kinds = () if marked is None else tuple(_kind(r) for r in _resources(marked))
    return _Document(
        lines=len(text.splitlines()),
        marked=marked,
        kinds=kinds,
        has_api_version="apiVersion" in text,
        has_kind="kind" in text,
    )


def _kind(resource: Any) -> Any:
    """A resource's kind as checkov's graph reads it (no kind: a Pod)."""
    return resource.get("kind", "Pod") if isinstance(resource, dict) else None


def _is_list(marked: Any) -> bool:
    """Whether a parsed document is a `List` whose items checkov scans one by one."""
    return isinstance(marked, dict) and marked.get("kind") == "List"


def _resources(marked: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources one document gives checkov: a List's non-empty items, else itself."""
    if _is_list(marked):
        return [item for item in marked.get("items", []) if item]
    return [marked]


def _resource_outcomes(ck: _Checkov, marked: dict[str, Any]) -> list[Outcome]:
    """Checkov's resource checks over one document, as its runner's check_definitions."""
    out: list[Outcome] = []
    for entity in _resources(_copy(marked, 0)):
        if entity.get("kind") == "Kustomization":
            continue
        # The runner reads the skips twice (context, then scan); the first turns a dict of
        # annotations into a list, which the checks then see.
        if not ck.utils.is_invalid_k8_definition(entity):
            ck.utils.get_skipped_checks(entity)
        skipped = ck.utils.get_skipped_checks(entity)
        results = ck.registry.scan(_PATH, entity, skipped, ck.runner_filter)
        resource_id = ck.utils.get_resource_id(entity)
        if not resource_id:
            continue
        out += [_outcome(check, resource_id, result) for check, result in results.items()]
    return [o for o in out if o.result in _COUNTED]


def _outcome(check: Any, resource: str, result: dict[str, Any]) -> Outcome:
    """One check's result dict on one resource."""
    comment = result.get("suppress_comment")
    return Outcome(
        check.id,
        check.name,
        resource,
        result["result"].name,
        None if comment is None else str(comment),
    )


def _definitions(docs: list[_Document]) -> list[dict[str, Any]]:
    """The file's definitions as checkov's parser gives them: valid documents, each with the
    line numbers it has in the one file (documents follow each other after a `---`)."""
    out: list[dict[str, Any]] = []
    offset = 0
    for doc in docs:
        if doc.marked is not None:
            out.append(_copy(doc.marked, offset))
        offset += doc.lines + 1
    return out


def _copy(value: Any, offset: int) -> Any:
    """A deep copy of a parsed document with its line marks moved down by offset."""
    if isinstance(value, dict):
        copied = {k: _copy(v, offset) for k, v in value.items()}
        if offset and "__startline__" in value:
            copied["__startline__"] = value["__startline__"] + offset
            copied["__endline__"] = value["__endline__"] + offset
        return copied
    if isinstance(value, list):
        return [_copy(v, offset) for v in value]
    return value


def _graph_outcomes(ck: _Checkov, definitions: list[dict[str, Any]]) -> list[Outcome]:
    """Checkov's graph (cross-object) checks over the whole file, as its runner runs them."""
    runner = ck.runner
    runner.definitions = {_PATH: definitions}
    runner.spread_list_items()
    runner.definitions[_PATH] = [r for r in runner.definitions[_PATH] if ck.in_graph(_kind(r))]
    runner.context = _context(ck, runner.definitions)
    try:
        local_graph = runner.graph_manager.build_graph_from_definitions(
            pickle.loads(pickle.dumps(runner.definitions, pickle.HIGHEST_PROTOCOL))
        )
        runner.graph_manager.save_graph(local_graph)
        results = runner.run_graph_checks_results(ck.runner_filter, runner.report_type)
        # Checkov runs the graph checks on threads and lists them as they finish: list them
        # in the registry's order instead, so a report does not change from run to run.
        order = {check.id: i for i, check in enumerate(runner.graph_registry.checks)}
        out: list[Outcome] = []
        for check, check_results in sorted(results.items(), key=lambda kv: order[kv[0].id]):
            for check_result in check_results:
                entity = check_result["entity"]
                context = runner.get_entity_context(entity, entity["file_path_"])
                clean = ck.utils.create_check_result(check_result, context, check.id)
                out.append(_outcome(check, entity["id_"], clean))
        return [o for o in out if o.result in _COUNTED]
    finally:
        runner.definitions, runner.context = {}, None


def _context(ck: _Checkov, definitions: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """What checkov's build_definitions_context keeps that checks read: each resource's skips.

    Reading the skips turns a dict of annotations into a list in place, as there.
    """
    context: dict[str, dict[str, Any]] = {}
    for path, resources in definitions.items():
        by_id = context.setdefault(path, {})
        for resource in resources:
            if ck.utils.is_invalid_k8_definition(resource):
                continue
            resource_id = ck.utils.get_resource_id(resource)
            if resource_id:
                by_id[resource_id] = {"skipped_checks": ck.utils.get_skipped_checks(resource)}
    return context


def _acceptable(check: str, reason: str) -> bool:
    """Whether a skip with this reason accepts the check (critical ones only as listed)."""
    if check not in CRITICAL_CHECKS:
        return True
    setting = ACCEPTABLE_CRITICAL.get(check)
    head, _, why = reason.partition(":")
    return setting is not None and head.strip() == setting and len(why.strip()) >= 10


def _skip_reason(outcome: Outcome) -> str | None:
    """The reason a checkov.io/skip annotation gives, or None when it gives none."""
    reason = (outcome.suppress_comment or "").strip()
    return None if not reason or reason == "No comment provided" else reason


def _accepted(record: Outcome, reason: str) -> Finding:
    """A check the chart fails on purpose, with the reason it states."""
    return Finding(
        severity=Severity.INFO,
        tool="checkov",
        check=record.check_id,
        object=_resource_ref(record.resource),
        message=f"{record.check_name}: accepted, {reason}",
        hint="a declared security exception; remove it from the spec to get the hardened default",
    )


def _finding(record: Outcome) -> Finding:
    """One failed checkov check with a fix hint; critical checks are errors."""
    return Finding(
        severity=Severity.ERROR if record.check_id in CRITICAL_CHECKS else Severity.WARNING,
        tool="checkov",
        check=record.check_id,
        object=_resource_ref(record.resource),
        message=record.check_name,
        hint=HINTS.get(record.check_id, "see the checkov documentation for this check"),
    )
