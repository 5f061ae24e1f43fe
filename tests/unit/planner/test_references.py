"""Calls between components: found in any variable, rendered from Service names under any
release name, exposed by a Service, admitted by NetworkPolicies, and proven by the validator."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from services.generator.engine import generate_chart
from services.planner.compose.importer import import_compose
from services.planner.engine import plan_chart
from services.validator.engine import validate_chart
from services.validator.helm import with_placeholders
from shared.hosts import HostFinder
from shared.models.requirements import ChartRequirements, ServiceRef

RELEASE = "prod"


def compose(text: str, name: str = "shop") -> ChartRequirements:
    return import_compose(textwrap.dedent(text), name=name, environ={}).requirements


def render(chart: Path, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every object of `helm template prod <chart>`."""
    values = with_placeholders(chart, values)
    with helm_python.Chart.load(str(chart)) as loaded:
        files = loaded.render(values, name=RELEASE, namespace="apps")
    return [
        doc
        for path, text in sorted(files.items())
        if not path.endswith("NOTES.txt")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def env_of(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """name -> value (or valueFrom) of the first container of a workload."""
    obj = next(o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name)
    spec = obj["spec"]["template"]["spec"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in spec["containers"][0]["env"]}


# --- finding hosts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("POSTGRES_SEEDS", "postgresql", [("postgresql", None)]),
        (
            "MEMCACHE_SERVERS",
            "cache-a:11211,cache-b:11211",
            [("cache-a", 11211), ("cache-b", 11211)],
        ),
        ("ANYTHING", "redis://cache-a:6379/0", [("cache-a", 6379)]),
        ("ANYTHING", "cache-a:11211", [("cache-a", 11211)]),
        (
            "ANYTHING",
            "mongodb://u:p@cache-a:27017,cache-b:27017/db",
            [("cache-a", 27017), ("cache-b", 27017)],
        ),
        ("REDIS_HOST", "cache-a", [("cache-a", None)]),
        ("MYSQL_USER", "wordpress", []),
        ("DSN", "mysql://cache-a:s3cret@tcp(cache-b:3306)/app", [("cache-b", 3306)]),
        ("QUEUE_CONNECTION", "cache-a", []),
        ("ANYTHING", "cache-a.example.com:6379", []),
        ("ANYTHING", "mycache-a:6379", []),
        ("ANYTHING", "/data/cache-a/x", []),
    ],
)
def test_hosts_are_found_in_any_variable_and_only_where_they_are_hosts(
    var: str, value: str, expected: list[tuple[str, int | None]]
) -> None:
    finder = HostFinder(
        {
            "postgresql": "postgresql",
            "cache-a": "cache-a",
            "cache-b": "cache-b",
            "wordpress": "wordpress",
        }
    )
    assert [(m.component, m.port) for m in finder.find(value, var)] == expected


def test_import_turns_every_host_shape_into_service_references() -> None:
    req = compose(
        """
        services:
          app:
            image: ghcr.io/acme/app:1
            command: ["app", "--redis=cache:6379", "--peer", "worker:5679"]
            environment:
              POSTGRES_SEEDS: postgresql
              MEMCACHE_SERVERS: cache:11211,memcached:11211
              MYSQL_USER: wordpress
              WORKER_URL: http://worker:5679/rpc
          postgresql: {image: postgres:16}
          cache: {image: redis:7}
          memcached: {image: memcached:1.6}
          wordpress: {image: wordpress:6}
          worker: {image: ghcr.io/acme/worker:1, ports: ["5678:5678"]}
        """
    )
    app = next(c for c in req.components if c.name == "app")
    assert app.env["POSTGRES_SEEDS"] == ServiceRef(serviceRef="postgresql")
    servers = app.env["MEMCACHE_SERVERS"]
    assert isinstance(servers, ServiceRef)
    assert servers.links() == [("cache", 11211), ("memcached", 11211)]
    assert app.env["MYSQL_USER"] == "wordpress"
    assert app.args == [
        "app",
        "--redis=$(CACHE_SERVICE_NAME):6379",
        "--peer",
        "$(WORKER_SERVICE_NAME):5679",
    ]
    assert app.env["CACHE_SERVICE_NAME"] == ServiceRef(serviceRef="cache")


def test_native_spec_service_ref_is_validated_naming_the_field() -> None:
    base: dict[str, Any] = {"name": "shop", "components": [{"name": "db", "image": "postgres:16"}]}
    bad = {
        **base,
        "components": [
            *base["components"],
            {"name": "api", "image": "x:1", "env": {"DB": {"serviceRef": "nope"}}},
        ],
    }
    with pytest.raises(ValueError, match="unknown component 'nope'"):
        ChartRequirements.model_validate(bad)
    bad_port = {
        **base,
        "components": [
            *base["components"],
            {
                "name": "api",
                "image": "x:1",
                "env": {"DB": {"serviceRef": "db", "format": "{host}:{port}"}},
            },
        ],
    }
    with pytest.raises(ValueError, match="port"):
        ChartRequirements.model_validate(bad_port)
    bad_secret = {
        **base,
        "components": [
            *base["components"],
            {
                "name": "api",
                "image": "x:1",
                "env": {"DB": {"serviceRef": "db", "format": "x:{secret:pw}@{host}"}},
            },
        ],
    }
    with pytest.raises(ValueError, match="secret 'pw'"):
        ChartRequirements.model_validate(bad_secret)


# --- planning -------------------------------------------------------------------------------

NATIVE = {
    "name": "shop",
    "components": [
        {
            "name": "web",
            "image": "ghcr.io/acme/web:1.0.0",
            "ports": [{"name": "http", "port": 8080}],
            "env": {
                "API_URL": "http://shop-api:9000/v1",
                "DATABASE_URL": {
                    "serviceRef": "db",
                    "port": 5432,
                    "format": "postgres://app:{secret:db-password}@{host}:{port}/app",
                },
            },
        },
        {"name": "api", "image": "ghcr.io/acme/api:1.0.0", "env": {"DB_HOST": "db"}},
        {
            "name": "db",
            "image": "postgres:16.4",
            "env": {"POSTGRES_PASSWORD": {"secret": "db-password"}},
        },
    ],
    "secrets": [{"name": "db-password", "generate": True}],
}


def test_planner_makes_literals_explicit_exposes_called_ports_and_admits_exactly_callers() -> None:
    plan = plan_chart(ChartRequirements.model_validate(NATIVE))
    web = plan.component("web").spec
    assert web.env["API_URL"] == ServiceRef(
        serviceRef="api", port=9000, format="http://{host:api}:9000/v1"
    )
    assert any(d.topic == "reference" and d.component == "web" for d in plan.decisions)
    # api published no port, but web calls it on 9000: it gets a Service with that port.
    api = plan.component("api")
    assert api.service is not None and [p.port for p in api.spec.ports] == [9000]
    assert [(r.caller, r.variable, r.callee, r.port) for r in plan.references] == [
        ("web", "API_URL", "api", 9000),
        ("web", "DATABASE_URL", "db", 5432),
        ("api", "DB_HOST", "db", None),
    ]
    db_peers = {(p.component, tuple(p.ports)) for p in plan.component("db").networkPolicy.allowFrom}
    assert db_peers == {("web", (5432,)), ("api", ())}
    assert [(p.component, p.ports) for p in api.networkPolicy.allowFrom] == [("web", [9000])]


# --- the chart ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def native_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    plan = plan_chart(ChartRequirements.model_validate(NATIVE))
    return generate_chart(plan, tmp_path_factory.mktemp("refs")).chart_dir


def test_hosts_render_from_the_release_and_secrets_through_env(native_chart: Path) -> None:
    values = yaml.safe_load((native_chart / "values.yaml").read_text())
    assert "shop-api" not in (native_chart / "values.yaml").read_text()
    assert values["web"]["refEnv"]["API_URL"] == "http://{host:api}:9000/v1"
    objs = render(native_chart)
    env = env_of(objs, "Deployment", "prod-shop-web")
    assert env["API_URL"] == "http://prod-shop-api:9000/v1"
    assert (
        env["DATABASE_URL"]
        == "postgres://app:$(AUTOPILOT_SECRET_DB_PASSWORD)@prod-shop-db:5432/app"
    )
    assert env["AUTOPILOT_SECRET_DB_PASSWORD"]["secretKeyRef"]["key"] == "db-password"
    names = list(env)
    assert names.index("AUTOPILOT_SECRET_DB_PASSWORD") < names.index("DATABASE_URL")
    api_env = env_of(objs, "Deployment", "prod-shop-api")
    assert api_env["DB_HOST"] == "prod-shop-db"
    services = {o["metadata"]["name"] for o in objs if o["kind"] == "Service"}
    assert {"prod-shop-api", "prod-shop-db"} <= services


def test_full_name_override_moves_every_link(native_chart: Path) -> None:
    objs = render(native_chart, {"fullnameOverride": "store"})
    assert env_of(objs, "Deployment", "store-web")["API_URL"] == "http://store-api:9000/v1"


def test_literal_dollar_in_text_stays_literal(tmp_path: Path) -> None:
    spec = {
        "name": "shop",
        "components": [
            {
                "name": "web",
                "image": "ghcr.io/acme/web:1.0.0",
                "env": {"X": {"serviceRef": "api", "format": "http://{host}/$(NOT_A_VAR)/$HOME"}},
            },
            {"name": "api", "image": "ghcr.io/acme/api:1.0.0", "ports": [{"port": 80}]},
        ],
    }
    chart = generate_chart(plan_chart(ChartRequirements.model_validate(spec)), tmp_path).chart_dir
    env = env_of(render(chart), "Deployment", "prod-shop-web")
    assert (
        env["X"] == "http://prod-shop-api/$$(NOT_A_VAR)/$$HOME"
    )  # kubelet prints `$(NOT_A_VAR)`, `$HOME`


def test_network_policies_admit_callers_on_their_ports_and_only_the_ingress_controller(
    native_chart: Path,
) -> None:
    objs = render(native_chart)
    db = next(
        o for o in objs if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "prod-shop-db"
    )
    rules = db["spec"]["ingress"]
    web_rule = next(
        r
        for r in rules
        if r["from"][0]
        .get("podSelector", {})
        .get("matchLabels", {})
        .get("app.kubernetes.io/component")
        == "web"
    )
    assert web_rule["ports"] == [{"port": 5432, "protocol": "TCP"}]
    for rule in rules:
        for peer in rule["from"]:
            assert peer.get("namespaceSelector") != {} and peer.get("podSelector") != {}
    objs = render(
        native_chart, {"web": {"ingress": {"enabled": True, "hostname": "shop.example.com"}}}
    )
    web = next(
        o for o in objs if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "prod-shop-web"
    )
    controller = [p for r in web["spec"]["ingress"] for p in r["from"] if "namespaceSelector" in p]
    assert controller == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
        }
    ]


# --- the validator's runs check -------------------------------------------------------------


def _runs(report: Any) -> list[Any]:
    return [f for r in report.results for f in r.findings if f.check == "runs"]


def test_validator_passes_wired_chart_under_a_foreign_release(native_chart: Path) -> None:
    report = validate_chart(native_chart)
    assert _runs(report) == [], _runs(report)


def test_validator_fails_a_literal_host_written_for_one_release(
    native_chart: Path, tmp_path: Path
) -> None:
    chart = tmp_path / "shop"
    shutil.copytree(native_chart, chart)
    values = chart / "values.yaml"
    data = yaml.safe_load(values.read_text())
    data["api"]["env"]["CACHE_URL"] = "http://shop-web:8080"
    values.write_text(yaml.safe_dump(data))
    findings = _runs(validate_chart(chart))
    assert any("shop-web:8080" in f.message and "no Service" in f.message for f in findings), (
        findings
    )


def test_validator_fails_a_call_the_network_policy_blocks(
    native_chart: Path, tmp_path: Path
) -> None:
    chart = tmp_path / "shop"
    shutil.copytree(native_chart, chart)
    data = yaml.safe_load((chart / "values.yaml").read_text())
    data["db"]["networkPolicy"]["allowFrom"] = [{"component": "api"}]
    (chart / "values.yaml").write_text(yaml.safe_dump(data))
    findings = _runs(validate_chart(chart))
    assert any("does not admit" in f.message and "web" in f.object for f in findings), findings


def test_validator_fails_a_call_on_a_port_the_service_lacks(
    native_chart: Path, tmp_path: Path
) -> None:
    chart = tmp_path / "shop"
    shutil.copytree(native_chart, chart)
    data = yaml.safe_load((chart / "values.yaml").read_text())
    data["web"]["refEnv"]["API_URL"] = "http://{host:api}:9999/v1"
    (chart / "values.yaml").write_text(yaml.safe_dump(data))
    findings = _runs(validate_chart(chart))
    assert any("does not expose port 9999" in f.message for f in findings), findings


def test_a_call_to_a_component_that_is_off_is_a_warning_at_planning() -> None:
    spec = {
        "name": "shop",
        "components": [
            {"name": "api", "image": "ghcr.io/acme/api:1.0.0", "env": {"DB_HOST": "db"}},
            {"name": "db", "image": "postgres:16.4", "enabled": False},
        ],
    }
    plan = plan_chart(ChartRequirements.model_validate(spec))
    [note] = [n for n in plan.notes if n.source == "components.api.env"]
    assert note.severity == "warning" and "calls db (DB_HOST), which is off" in note.message


def test_config_file_calls_are_references_with_a_service_and_a_policy_rule(tmp_path: Path) -> None:
    spec = {
        "name": "elk",
        "components": [
            {
                "name": "kibana",
                "image": "docker.elastic.co/kibana/kibana:8.15.0",
                "configFiles": [
                    {
                        "path": "/usr/share/kibana/config/kibana.yml",
                        "content": "elasticsearch.hosts: [ http://{host:elasticsearch}:9200 ]\n",
                        "serviceRefs": True,
                    }
                ],
            },
            {
                "name": "elasticsearch",
                "image": "docker.elastic.co/elasticsearch/elasticsearch:8.15.0",
            },
        ],
    }
    plan = plan_chart(ChartRequirements.model_validate(spec))
    assert [(r.caller, r.variable, r.callee, r.port) for r in plan.references] == [
        ("kibana", "file /usr/share/kibana/config/kibana.yml", "elasticsearch", 9200)
    ]
    peers = plan.component("elasticsearch").networkPolicy.allowFrom
    assert [(p.component, p.ports) for p in peers] == [("kibana", [9200])]
    chart = generate_chart(plan, tmp_path).chart_dir
    cm = next(
        o
        for o in render(chart)
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("kibana-files")
    )
    assert "http://prod-elk-elasticsearch:9200" in next(iter(cm["data"].values()))


def test_a_dependency_named_nowhere_keeps_its_compose_name_as_a_service(tmp_path: Path) -> None:
    """example-voting-app: vote depends on redis and has `redis` built into its image."""
    req = compose(
        """
        services:
          vote:
            image: dockersamples/examplevotingapp_vote:latest
            ports: ["8080:80"]
            depends_on: [redis, api]
            environment:
              API_URL: http://api:9000
          redis: {image: redis:7.4.2}
          api: {image: ghcr.io/acme/api:1.0.0, ports: ["9000:9000"]}
        """,
        name="voting",
    )
    by_name = {c.name: c for c in req.components}
    assert by_name["redis"].serviceAliases == ["redis"]
    assert by_name["api"].serviceAliases == []  # vote names api in API_URL
    plan = plan_chart(req)
    assert plan.component("redis").service is not None
    assert plan.component("redis").service.aliases == ["redis"]
    chart = generate_chart(plan, tmp_path).chart_dir
    objs = render(chart)
    alias = next(o for o in objs if o["kind"] == "Service" and o["metadata"]["name"] == "redis")
    main = next(
        o for o in objs if o["kind"] == "Service" and o["metadata"]["name"] == "prod-voting-redis"
    )
    assert alias["spec"]["selector"] == main["spec"]["selector"]
    assert alias["spec"]["ports"] == main["spec"]["ports"]
    off = render(chart, {"redis": {"service": {"aliases": []}}})
    assert not any(o["kind"] == "Service" and o["metadata"]["name"] == "redis" for o in off)


def test_a_reviewers_new_service_ref_gets_its_port_service_and_policy(tmp_path: Path) -> None:
    from services.planner.engine.calls import rewire
    from shared.plan_edit import edit_plan

    spec = {
        "name": "shop",
        "components": [
            {
                "name": "web",
                "image": "ghcr.io/acme/web:1.0.0",
                "ports": [{"name": "http", "port": 8080}],
            },
            {"name": "cache", "image": "ghcr.io/acme/cache:1.0.0"},
        ],
    }
    plan = plan_chart(ChartRequirements.model_validate(spec))
    assert plan.component("cache").service is None and plan.references == []
    change = {
        "components": {
            "web": {"spec": {"env": {"CACHE_URL": {"serviceRef": "cache", "port": 6380}}}}
        }
    }
    edited = rewire(edit_plan(plan, change))
    assert [(r.caller, r.callee, r.port) for r in edited.references] == [("web", "cache", 6380)]
    cache = edited.component("cache")
    assert cache.service is not None and [p.port for p in cache.spec.ports] == [6380]
    assert [(p.component, p.ports) for p in cache.networkPolicy.allowFrom] == [("web", [6380])]
    assert plan.component("cache").networkPolicy.allowFrom == []  # the reviewed plan is untouched
    chart = generate_chart(edited, tmp_path).chart_dir
    runs = [f for r in validate_chart(chart).results for f in r.findings if f.check == "runs"]
    assert runs == []
