"""Issue 8, points 5-7: one-shots run as Jobs others wait for, Compose profiles, shared data.

Each point is tested at the importer/planner level and on a chart rendered through real Helm
with release name `rel` (not the chart's name).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from services.generator.engine import generate_chart
from services.planner.compose.importer import ImportResult, import_compose
from services.planner.engine import plan_chart
from services.validator.engine import render_objects
from shared.models.plan import ChartPlan, ComponentPlan, ServicePlan
from shared.models.requirements import (
    ChartRequirements,
    Component,
    JobSpec,
    Port,
    Volume,
    WorkloadKind,
)

RELEASE = "rel"
NAMESPACE = "apps"

STACK = """
services:
  db:
    image: postgres:16.4
    volumes: [dbdata:/var/lib/postgresql/data]
  migrate:
    image: ghcr.io/acme/api:1.2.0
    command: ["npm", "run", "migrate"]
    depends_on:
      db: {condition: service_healthy}
  api:
    image: ghcr.io/acme/api:1.2.0
    ports: ["3000:3000"]
    volumes: [uploads:/srv/uploads]
    depends_on:
      migrate: {condition: service_completed_successfully}
      db: {condition: service_started}
  worker:
    image: ghcr.io/acme/worker:1.2.0
    volumes: [uploads:/data/uploads, ./media:/media]
    depends_on: [migrate]
  thumbs:
    image: ghcr.io/acme/thumbs:1.2.0
    volumes: [./media/:/srv/media]
  adminer:
    image: adminer:4.8.1
    ports: ["8080:8080"]
    profiles: [debug]
volumes: {dbdata: {}, uploads: {}}
"""


def imp(text: str, environ: dict[str, str] | None = None, **kwargs: Any) -> ImportResult:
    return import_compose(textwrap.dedent(text), name="app", environ=environ or {}, **kwargs)


def comp(result: ImportResult, name: str) -> Component:
    return next(c for c in result.requirements.components if c.name == name)


def messages(result: ImportResult, source: str) -> str:
    return " | ".join(n.message for n in result.notes if n.source.startswith(source))


# --- importer ---------------------------------------------------------------------------------


def test_completion_condition_makes_a_job() -> None:
    result = imp(STACK)
    migrate = comp(result, "migrate")
    assert migrate.kind == WorkloadKind.JOB
    assert "api waits for it to complete" in messages(result, "services.migrate")
    assert comp(result, "api").kind is None
    assert "migrate" in comp(result, "api").dependsOn


def test_restart_no_judged_from_facts() -> None:
    result = imp("""
        services:
          seed:
            image: ghcr.io/acme/seed:1.0
            restart: "no"
          init:
            image: ghcr.io/acme/init:1.0
            restart: on-failure:3
          web:
            image: ghcr.io/acme/web:1.0
            restart: "no"
            ports: ["80:80"]
          cache:
            image: ghcr.io/acme/cache:1.0
            restart: "no"
            healthcheck: {test: ["CMD", "true"]}
          always:
            image: ghcr.io/acme/loop:1.0
            restart: unless-stopped
    """)
    assert comp(result, "seed").kind == WorkloadKind.JOB
    assert comp(result, "init").kind == WorkloadKind.JOB
    assert comp(result, "web").kind is None
    assert "publishes ports" in messages(result, "services.web.restart")
    assert comp(result, "cache").kind is None
    assert "has a healthcheck" in messages(result, "services.cache.restart")
    assert comp(result, "always").kind is None


def test_a_service_others_need_healthy_is_not_a_one_shot() -> None:
    result = imp("""
        services:
          queue:
            image: ghcr.io/acme/queue:1.0
            restart: "no"
          app:
            image: ghcr.io/acme/app:1.0
            depends_on: {queue: {condition: service_healthy}}
    """)
    assert comp(result, "queue").kind is None
    assert "must be healthy for app" in messages(result, "services.queue.restart")


def test_profiles_off_unless_active(tmp_path: Path) -> None:
    result = imp(STACK)
    assert comp(result, "adminer").enabled is False
    assert comp(result, "api").enabled is True
    assert "adminer.enabled=true" in messages(result, "services.adminer.profiles")
    assert comp(imp(STACK, {"COMPOSE_PROFILES": "debug"}), "adminer").enabled is True
    assert comp(imp(STACK, {"COMPOSE_PROFILES": "*"}), "adminer").enabled is True
    (tmp_path / ".env").write_text("COMPOSE_PROFILES=other,debug\n")
    assert comp(imp(STACK, base_dir=tmp_path), "adminer").enabled is True


def test_profile_dependency_of_an_active_service_is_deployed() -> None:
    result = imp("""
        services:
          app:
            image: ghcr.io/acme/app:1.0
            depends_on: [cache]
          cache:
            image: ghcr.io/acme/cache:1.0
            profiles: [extra]
          tools:
            image: ghcr.io/acme/tools:1.0
            profiles: [extra]
    """)
    assert comp(result, "cache").enabled is True
    assert comp(result, "tools").enabled is False
    assert "app depends on it" in messages(result, "services.cache.profiles")


def test_optional_dependency_does_not_pull_in_its_profile() -> None:
    result = imp("""
        services:
          app:
            image: ghcr.io/acme/app:1.0
            depends_on:
              cache: {condition: service_started, required: false}
          cache:
            image: ghcr.io/acme/cache:1.0
            profiles: [extra]
    """)
    assert comp(result, "cache").enabled is False


def test_named_volume_and_bind_folder_shared_by_two_services_share_a_claim(
    tmp_path: Path,
) -> None:
    (tmp_path / "media").mkdir()
    result = imp(STACK, base_dir=tmp_path)
    api, worker, thumbs = comp(result, "api"), comp(result, "worker"), comp(result, "thumbs")
    uploads = [v for v in (*api.volumes, *worker.volumes) if v.sharedClaim == "uploads"]
    assert len(uploads) == 2
    assert all(v.accessModes == ["ReadWriteMany"] for v in uploads)
    media = [v for v in (*worker.volumes, *thumbs.volumes) if v.sharedClaim == "media"]
    assert {v.mountPath for v in media} == {"/media", "/srv/media"}
    assert comp(result, "db").volumes[0].sharedClaim is None
    note = messages(result, "volumes.uploads")
    assert "api, worker" in note and "ReadWriteMany" in note


def test_source_code_mount_over_the_app_dir_is_dropped(tmp_path: Path) -> None:
    (tmp_path / "backend").mkdir()
    (tmp_path / "backend" / "data").mkdir()
    result = imp(
        """
        services:
          api:
            build: ./backend
            volumes:
              - ./backend:/app
              - /app/node_modules
              - ./backend/data:/var/lib/data
          web:
            image: node:22.11.0
            working_dir: /usr/src/app
            volumes: [".:/usr/src/app"]
        """,
        base_dir=tmp_path,
    )
    api = comp(result, "api")
    assert [v.mountPath for v in api.volumes] == ["/var/lib/data"]
    assert "development override" in messages(result, "services.api.volumes[0]")
    assert "dropped too" in messages(result, "services.api.volumes[1]")
    assert comp(result, "web").volumes == []


# --- planner ----------------------------------------------------------------------------------


def native(*components: dict[str, Any]) -> ChartRequirements:
    return ChartRequirements.model_validate({"name": "app", "components": list(components)})


def test_native_job_others_depend_on_is_waited_for() -> None:
    plan = plan_chart(
        native(
            {"name": "db", "image": "postgres:16.4", "ports": [{"port": 5432}]},
            {
                "name": "migrate",
                "image": "ghcr.io/acme/api:1.0",
                "kind": "Job",
                "dependsOn": ["db"],
            },
            {
                "name": "api",
                "image": "ghcr.io/acme/api:1.0",
                "ports": [{"port": 8080}],
                "dependsOn": ["migrate", "db"],
            },
        )
    )
    migrate, api = plan.component("migrate"), plan.component("api")
    assert migrate.kind == WorkloadKind.JOB and migrate.waitFor == ["db"]
    assert migrate.spec.job is not None and migrate.spec.job.ttlSecondsAfterFinished is None
    assert api.waitForJobs == ["migrate"] and api.waitFor == ["db"]
    reasons = {(d.component, d.topic): d.reason for d in plan.decisions}
    assert "release revision" in reasons[("migrate", "workload")]
    assert "kubectl wait" in reasons[("api", "startup order")]


def test_imported_one_shot_is_planned_as_a_job_with_waiting_dependents() -> None:
    result = imp(STACK)
    plan = plan_chart(result.requirements, notes=result.notes)
    assert plan.component("migrate").kind == WorkloadKind.JOB
    assert plan.component("api").waitForJobs == ["migrate"]
    assert plan.component("worker").waitForJobs == ["migrate"]
    assert not plan.component("adminer").spec.enabled
    assert ("adminer", "enabled") in {(d.component, d.topic) for d in plan.decisions}


def test_shared_claim_decision_and_statefulset_keeps_its_own() -> None:
    shared = {
        "name": "data",
        "mountPath": "/data",
        "sharedClaim": "data",
        "accessModes": ["ReadWriteMany"],
    }
    plan = plan_chart(
        native(
            {"name": "db", "image": "postgres:16.4", "volumes": [shared]},
            {"name": "backup", "image": "ghcr.io/acme/backup:1.0", "volumes": [shared]},
            {"name": "report", "image": "ghcr.io/acme/report:1.0", "volumes": [shared]},
        )
    )
    assert plan.component("db").kind == WorkloadKind.STATEFULSET
    assert plan.component("db").spec.volumes[0].sharedClaim is None
    assert plan.component("backup").spec.volumes[0].sharedClaim == "data"
    assert any("StatefulSet gives each replica" in n.message for n in plan.notes)
    decision = next(d for d in plan.decisions if d.topic == "shared claim data")
    assert "backup, report" in decision.choice and "ReadWriteMany" in decision.reason


# --- generator: rendered through real Helm ----------------------------------------------------


def _plan() -> ChartPlan:
    uploads = {"sharedClaim": "uploads", "accessModes": ["ReadWriteMany"]}
    return ChartPlan(
        name="app",
        chartVersion="0.1.0",
        appVersion="1.0.0",
        description="one-shot, profile and shared claim",
        components=[
            ComponentPlan(
                spec=Component(
                    name="db", image="postgres:16.4", ports=[Port(name="postgresql", port=5432)]
                ),
                kind=WorkloadKind.STATEFULSET,
                replicas=1,
                service=ServicePlan(headless=True),
            ),
            ComponentPlan(
                spec=Component(
                    name="migrate",
                    image="ghcr.io/acme/api:1.0",
                    job=JobSpec(ttlSecondsAfterFinished=None),
                ),
                kind=WorkloadKind.JOB,
                replicas=1,
                waitFor=["db"],
            ),
            ComponentPlan(
                spec=Component(
                    name="api",
                    image="ghcr.io/acme/api:1.0",
                    ports=[Port(name="http", port=8080)],
                    volumes=[Volume(name="uploads", mountPath="/srv/uploads", **uploads)],
                    dependsOn=["migrate", "db"],
                ),
                kind=WorkloadKind.DEPLOYMENT,
                replicas=1,
                service=ServicePlan(),
                waitFor=["db"],
                waitForJobs=["migrate"],
            ),
            ComponentPlan(
                spec=Component(
                    name="worker",
                    image="ghcr.io/acme/worker:1.0",
                    volumes=[Volume(name="files", mountPath="/data", **uploads)],
                    dependsOn=["migrate"],
                ),
                kind=WorkloadKind.DEPLOYMENT,
                replicas=1,
                waitForJobs=["migrate"],
            ),
            ComponentPlan(
                spec=Component(
                    name="adminer",
                    image="adminer:4.8.1",
                    enabled=False,
                    ports=[Port(name="http", port=8080)],
                    volumes=[Volume(name="sessions", mountPath="/sessions")],
                ),
                kind=WorkloadKind.DEPLOYMENT,
                replicas=1,
                service=ServicePlan(),
                waitFor=["db"],
            ),
        ],
    )


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_chart(_plan(), tmp_path_factory.mktemp("lifecycle")).chart_dir


def find(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for obj in objs:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise AssertionError(f"no {kind} {name}: {[(o['kind'], o['metadata']['name']) for o in objs]}")


def test_one_shot_is_a_job_the_dependents_wait_for(chart: Path) -> None:
    objs = render_objects(chart, namespace=NAMESPACE, release=RELEASE)
    assert not [o for o in objs if o["kind"] == "Deployment" and "migrate" in o["metadata"]["name"]]
    job = find(objs, "Job", "rel-app-migrate-1")
    assert "ttlSecondsAfterFinished" not in job["spec"]
    # The Job waits for its own dependency with the existing wait-for-services container.
    assert job["spec"]["template"]["spec"]["initContainers"][0]["args"] == [
        "300",
        "rel-app-db:5432",
    ]
    pod = find(objs, "Deployment", "rel-app-api")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    services, jobs = pod["initContainers"]
    assert services["args"] == ["300", "rel-app-db:5432"]
    assert jobs["command"] == ["kubectl"]
    assert jobs["image"] == "registry.k8s.io/kubectl:v1.34.1"
    assert "--for=condition=complete" in jobs["args"]
    assert jobs["args"][-1] == "job/rel-app-migrate-1"
    assert "--namespace=apps" in jobs["args"]
    # The token reaches the wait-for-jobs container only, never the app.
    token = next(v for v in pod["volumes"] if v["name"] == "wait-jobs-token")
    assert token["projected"]["sources"][0]["serviceAccountToken"]["path"] == "token"
    assert {m["name"] for m in jobs["volumeMounts"]} == {"wait-jobs-token", "wait-jobs-tmp"}
    for container in (*pod["containers"], services):
        assert "wait-jobs-token" not in {m["name"] for m in container.get("volumeMounts", [])}
    off = render_objects(
        chart, namespace=NAMESPACE, release=RELEASE, values={"api": {"waitFor": {"enabled": False}}}
    )
    assert (
        "initContainers" not in find(off, "Deployment", "rel-app-api")["spec"]["template"]["spec"]
    )
    assert not [o for o in off if o["kind"] == "Role" and "api" in o["metadata"]["name"]]


def test_role_reads_only_the_awaited_jobs_and_binds_the_dependents_account(chart: Path) -> None:
    objs = render_objects(chart, namespace=NAMESPACE, release=RELEASE)
    role = find(objs, "Role", "rel-app-api-wait")
    assert role["rules"] == [
        {
            "apiGroups": ["batch"],
            "resources": ["jobs"],
            "resourceNames": ["rel-app-migrate-1"],
            "verbs": ["get", "list", "watch"],
        }
    ]
    binding = find(objs, "RoleBinding", "rel-app-api-wait")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "rel-app-api", "namespace": "apps"}
    ]
    assert binding["roleRef"]["name"] == "rel-app-api-wait"
    assert find(objs, "Role", "rel-app-worker-wait")
    assert {o["kind"] for o in objs} >= {"Role", "RoleBinding"}
    assert not [o for o in objs if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]


def test_job_name_follows_the_release_revision(chart: Path) -> None:
    with helm_python.Chart.load(str(chart)) as loaded:
        rendered = loaded.render(
            None, name=RELEASE, namespace=NAMESPACE, revision=3, is_upgrade=True
        )
    objs = [
        d
        for p, t in rendered.items()
        if not p.endswith("NOTES.txt")
        for d in yaml.safe_load_all(t)
        if d
    ]
    assert find(objs, "Job", "rel-app-migrate-3")
    assert find(objs, "Role", "rel-app-api-wait")["rules"][0]["resourceNames"] == [
        "rel-app-migrate-3"
    ]
    pod = find(objs, "Deployment", "rel-app-api")["spec"]["template"]["spec"]
    assert pod["initContainers"][1]["args"][-1] == "job/rel-app-migrate-3"


def test_profile_component_is_off_by_default_and_whole_when_enabled(chart: Path) -> None:
    off = render_objects(chart, namespace=NAMESPACE, release=RELEASE)
    assert not [o for o in off if o["metadata"]["name"].startswith("rel-app-adminer")]
    values = yaml.safe_load((chart / "ci" / "all-profiles-values.yaml").read_text())
    assert values == {"adminer": {"enabled": True}}
    on = render_objects(chart, namespace=NAMESPACE, release=RELEASE, values=values)
    kinds = {o["kind"] for o in on if o["metadata"]["name"].startswith("rel-app-adminer")}
    assert kinds == {
        "Deployment",
        "Service",
        "ServiceAccount",
        "NetworkPolicy",
        "PersistentVolumeClaim",
    }
    test = find(on, "Job", "rel-app-test-connection")["spec"]["template"]["spec"]["containers"][0]
    assert "rel-app-adminer:8080" in test["args"]
    test_off = find(off, "Job", "rel-app-test-connection")["spec"]["template"]["spec"]
    assert "rel-app-adminer:8080" not in test_off["containers"][0]["args"]
    schema = (chart / "values.schema.json").read_text()
    assert '"enabled"' in schema


def test_disabled_wait_target_is_not_waited_for(chart: Path) -> None:
    objs = render_objects(
        chart, namespace=NAMESPACE, release=RELEASE, values={"migrate": {"enabled": False}}
    )
    pod = find(objs, "Deployment", "rel-app-worker")["spec"]["template"]["spec"]
    assert "initContainers" not in pod and not [o for o in objs if o["kind"] == "Role"]
    assert "wait-jobs-token" not in {v["name"] for v in pod["volumes"]}


def test_one_claim_mounted_by_both(chart: Path) -> None:
    objs = render_objects(chart, namespace=NAMESPACE, release=RELEASE)
    claims = [o for o in objs if o["kind"] == "PersistentVolumeClaim"]
    assert [c["metadata"]["name"] for c in claims] == ["rel-app-uploads"]
    assert claims[0]["spec"]["accessModes"] == ["ReadWriteMany"]
    for name, volume in (("rel-app-api", "uploads"), ("rel-app-worker", "files")):
        pod = find(objs, "Deployment", name)["spec"]["template"]["spec"]
        mounted = next(v for v in pod["volumes"] if v["name"] == volume)
        assert mounted["persistentVolumeClaim"]["claimName"] == "rel-app-uploads"
    alone = render_objects(
        chart,
        namespace=NAMESPACE,
        release=RELEASE,
        values={"api": {"enabled": False}, "worker": {"enabled": False}},
    )
    assert not [o for o in alone if o["kind"] == "PersistentVolumeClaim"]


def test_lint_strict_with_defaults_and_every_ci_file(chart: Path) -> None:
    sets: list[dict[str, Any] | None] = [None]
    sets += [yaml.safe_load(p.read_text()) for p in sorted((chart / "ci").glob("*-values.yaml"))]
    for values in sets:
        report = helm_python.lint(str(chart), values, strict=True, namespace=NAMESPACE)
        assert report["messages"] == [], (values, report)


# --- CLI ----------------------------------------------------------------------------------------


def test_generate_profile_flag_sets_compose_profiles(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.cli.commands.generate import profile_environ
    from services.cli.main import build_parser

    args = build_parser().parse_args(
        ["generate", "x.yaml", "-o", "out", "--profile", "debug", "--profile", "tools"]
    )
    assert args.profile == ["debug", "tools"]
    monkeypatch.setenv("COMPOSE_PROFILES", "other")
    assert profile_environ(args.profile)["COMPOSE_PROFILES"] == "debug,tools"
    assert profile_environ([])["COMPOSE_PROFILES"] == "other"
