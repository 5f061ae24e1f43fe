"""Real Compose files of public projects (tests/fixtures/realworld, see SOURCE.md there) become
charts that would run: generated beside each project's own `.env`, rendered under a release
name that is not the chart's, and checked against what the Compose file itself says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from services.cli.common import read_override
from services.generator.engine import generate_chart
from services.generator.naming import values_key
from services.planner.compose.common import Notes, dns_label
from services.planner.compose.importer import ImportResult, compose_model, import_compose
from services.planner.compose.load import parse_dotenv, project_environment
from services.planner.compose.proxy import is_docker_provider_proxy
from services.planner.compose.secrets import is_secret_name
from services.planner.engine import plan_chart
from services.validator.engine import FOREIGN_RELEASE, validate_chart
from services.validator.helm import with_placeholders
from shared.models.plan import ChartPlan
from shared.models.reports import Severity, ValidationReport

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "realworld"
FILES = sorted(
    p
    for p in ROOT.glob("*/*")
    if p.name in {"docker-compose.yml", "docker-compose.yaml", "compose.yaml", "compose.yml"}
)
MIN_PASS_RATE = 0.95

pytestmark = pytest.mark.slow


def fixture_environ(folder: Path) -> dict[str, str]:
    """Variables a fixture sets for this test only: its `autopilot-test.env` (see SOURCE.md),
    for required variables the project leaves for the user to fill in."""
    path = folder / "autopilot-test.env"
    if not path.is_file():
        return {}
    parsed = parse_dotenv(path.read_text(), path.name, Notes())
    return {k: v for k, v in parsed.items() if v is not None}


def import_stack(path: Path) -> ImportResult:
    """Import one fixture as the CLI would, beside the project's own files and override file."""
    overrides, names = read_override(str(path), quiet=True)
    return import_compose(
        path.read_text(),
        name=path.parent.name,
        base_dir=path.parent,
        environ=fixture_environ(path.parent),
        overrides=overrides,
        override_names=names,
    )


class Stack:
    """One fixture: its interpolated Compose document, plan, chart, render and report."""

    def __init__(self, path: Path, out: Path) -> None:
        self.path = path
        text = path.read_text()
        environ = fixture_environ(path.parent)
        overrides, _ = read_override(str(path), quiet=True)
        self.doc: dict[str, Any] = compose_model(
            text, base_dir=path.parent, environ=environ, overrides=overrides
        )
        result = import_stack(path)
        self.plan: ChartPlan = plan_chart(result.requirements, notes=result.notes)
        self.chart = generate_chart(self.plan, out).chart_dir
        self.values = yaml.safe_load((self.chart / "values.yaml").read_text())
        self.report: ValidationReport = validate_chart(self.chart)
        with helm_python.Chart.load(str(self.chart)) as chart:
            files = chart.render(
                with_placeholders(self.chart, None), name=FOREIGN_RELEASE, namespace="apps"
            )
        self.objects = [
            doc
            for name, body in sorted(files.items())
            if not name.endswith("NOTES.txt")
            for doc in yaml.safe_load_all(body)
            if doc
        ]

    @property
    def services(self) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in (self.doc.get("services") or {}).items() if isinstance(v, dict)}

    def component(self, service: str) -> str:
        """The component a Compose service became (a lower-case DNS label)."""
        return dns_label(service, fallback="service")

    def workloads(self, component: str) -> list[dict[str, Any]]:
        return [
            o
            for o in self.objects
            if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
            and o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component
        ]


_CACHE: dict[Path, Stack] = {}


@pytest.fixture(params=FILES, ids=[p.parent.name for p in FILES])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    path: Path = request.param
    if path not in _CACHE:
        _CACHE[path] = Stack(path, tmp_path_factory.mktemp(path.parent.name))
    return _CACHE[path]


def test_there_are_at_least_twenty_real_stacks() -> None:
    assert len(FILES) >= 20, FILES


def test_chart_passes_every_step_and_every_reference_resolves(stack: Stack) -> None:
    failed = {
        r.step: [
            f"{f.check} {f.object}: {f.message}" for f in r.findings if f.severity == Severity.ERROR
        ][:5]
        for r in stack.report.results
        if not r.passed
    }
    assert stack.report.passed, failed
    assert stack.report.security.passRate >= MIN_PASS_RATE
    runs = [
        f
        for r in stack.report.results
        for f in r.findings
        if f.check == "runs" and f.severity == Severity.ERROR
    ]
    assert runs == []


def test_one_shots_others_wait_for_are_jobs(stack: Stack) -> None:
    waited = {
        dep
        for svc in stack.services.values()
        if isinstance(svc.get("depends_on"), dict)
        for dep, cond in svc["depends_on"].items()
        if isinstance(cond, dict) and cond.get("condition") == "service_completed_successfully"
    }
    for service in waited:
        if service not in stack.services:
            continue
        kinds = {o["kind"] for o in stack.workloads(stack.component(service))}
        assert kinds in (set(), {"Job"}), (service, kinds)  # set(): disabled by profile


def _enabled_services(stack: Stack) -> set[str]:
    """What `docker compose up` starts: no profile or an active one, plus what those require."""
    env = project_environment(stack.path.parent, fixture_environ(stack.path.parent), Notes())
    active = {p.strip() for p in env.get("COMPOSE_PROFILES", "").split(",") if p.strip()}
    on = {
        name
        for name, spec in stack.services.items()
        if not spec.get("profiles") or "*" in active or active & set(spec["profiles"])
    }
    pending = list(on)
    while pending:
        deps = stack.services[pending.pop()].get("depends_on") or []
        items = deps.items() if isinstance(deps, dict) else ((d, {}) for d in deps)
        for dep, cond in items:
            required = not (isinstance(cond, dict) and cond.get("required") is False)
            if required and dep in stack.services and dep not in on:
                on.add(dep)
                pending.append(dep)
    return on


def test_profiles_are_honoured(stack: Stack) -> None:
    # A Traefik that routes through the Docker socket is off on purpose (see compose/proxy.py).
    proxies = {name for name, spec in stack.services.items() if is_docker_provider_proxy(spec)}
    enabled = _enabled_services(stack) - proxies
    for service in stack.services:
        component = stack.component(service)
        deployed = stack.values[values_key(component)].get("enabled", True)
        assert deployed is (service in enabled), service
        assert bool(stack.workloads(component)) is (service in enabled), service


def test_explicit_user_read_only_and_shm_size_are_kept(stack: Stack) -> None:
    for service, spec in stack.services.items():
        workloads = stack.workloads(stack.component(service))
        if not workloads:
            continue
        pod = workloads[0]["spec"]
        pod = pod.get("jobTemplate", {}).get("spec", pod)["template"]["spec"]
        container = pod["containers"][0]
        user = str(spec.get("user", ""))
        if re.fullmatch(r"\d+(:\d+)?", user):
            uid = int(user.split(":")[0])
            context = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
            assert context.get("runAsUser") == uid, (service, context)
        if spec.get("read_only") is False:
            assert container["securityContext"]["readOnlyRootFilesystem"] is False, service
        if spec.get("shm_size"):
            shm = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/dev/shm"]
            assert shm, service


def test_shared_named_volumes_share_one_claim(stack: Stack) -> None:
    users: dict[str, set[str]] = {}
    for service, spec in stack.services.items():
        for item in spec.get("volumes") or []:
            source = item.split(":")[0] if isinstance(item, str) else (item or {}).get("source")
            if (
                source
                and not source.startswith((".", "/", "~", "$"))
                and ":" in str(item if isinstance(item, str) else ":")
            ):
                users.setdefault(source, set()).add(service)
    for volume, services in users.items():
        running = [s for s in services if stack.workloads(stack.component(s))]
        if len(running) < 2:
            continue
        claims = []
        for s in running:
            pod = stack.workloads(stack.component(s))[0]["spec"]
            pod = pod.get("jobTemplate", {}).get("spec", pod)["template"]["spec"]
            claims.append(
                {
                    v["persistentVolumeClaim"]["claimName"]
                    for v in pod.get("volumes", [])
                    if "persistentVolumeClaim" in v
                }
            )
        common = set.intersection(*claims)
        why = [n for n in stack.plan.notes if volume in n.source and "not shared" in n.message]
        assert common or why, (volume, running, claims)


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec", {})
    spec = spec.get("jobTemplate", {}).get("spec", spec)
    pod = spec.get("template", {}).get("spec", {})
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def test_no_literal_credential_outside_secrets(stack: Stack) -> None:
    """A secret variable's value is never written as that variable in values or a plain object."""
    credentials: dict[str, str] = {}
    for spec in stack.services.values():
        env = spec.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) for e in env if isinstance(e, str) and "=" in e)
        for var, value in env.items():
            if value not in (None, "") and is_secret_name(str(var), str(value)):
                credentials[str(var)] = str(value)
    for key, group in stack.values.items():
        if isinstance(group, dict) and isinstance(group.get("env"), dict):
            for var, value in group["env"].items():
                assert credentials.get(var) != value, (key, var)
    for obj in stack.objects:
        if obj["kind"] == "Secret":
            continue
        for container in _containers(obj):
            for item in container.get("env", []):
                assert "value" not in item or credentials.get(item["name"]) != item["value"], (
                    obj["metadata"]["name"],
                    item["name"],
                )
            argv = [*container.get("command", []), *container.get("args", [])]
            for value in credentials.values():
                for arg in argv:  # the value as an argument, a flag's value, or a URL password
                    assert (
                        arg != value and not arg.endswith("=" + value) and f":{value}@" not in arg
                    ), (
                        obj["metadata"]["name"],
                        arg,
                    )
