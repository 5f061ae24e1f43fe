"""The image knowledge base: the data file loads, broken entries are named, images match."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from services.planner import knowledge
from services.planner.engine import plan_chart
from services.planner.knowledge import KnowledgeError, profile_for, quantity
from shared.models import ChartRequirements, WorkloadKind

GI = 2**30


def plan(component: dict[str, Any], **standards: Any) -> Any:
    req = ChartRequirements.model_validate(
        {"name": "app", "components": [component], "standards": standards}
    )
    return plan_chart(req)


def decisions(result: Any, component: str) -> dict[str, Any]:
    return {d.topic: d for d in result.decisions if d.component == component}


def ports(image: str) -> set[int]:
    profile = profile_for(image)
    assert profile is not None, image
    return {p.port for p in profile.ports}


def memory(image: str, side: str = "limits") -> float:
    profile = profile_for(image)
    assert profile is not None and profile.resources is not None, image
    value = getattr(profile.resources, side).memory
    assert value, image
    return quantity(value)


def test_the_shipped_data_loads_and_covers_at_least_fifty_families() -> None:
    kb = knowledge.load()
    families = {e.family for e in kb.entries}
    assert len(families) == len(kb.entries) >= 50
    categories = {e.category for e in kb.entries}
    assert {
        "database",
        "cache",
        "queue",
        "search",
        "object-store",
        "proxy",
        "identity",
    } <= categories
    assert {"monitoring", "ci", "analytics", "ml"} <= categories
    for entry in kb.entries:
        if entry.resources:
            assert entry.resources.requests.memory and entry.resources.limits.memory, entry.family


def test_the_data_file_is_package_data() -> None:
    assert knowledge.DATA_FILE.name == "images.yaml" and knowledge.DATA_FILE.is_file()


def _catalogue(**fields: Any) -> str:
    entry = {"family": "thing", "category": "app", "image": "acme/thing", **fields}
    ok = {"family": "fine", "category": "app", "image": "acme/fine"}
    return yaml.safe_dump({"images": [ok, entry]})


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"portz": []}, "portz"),
        ({"ports": [{"name": "http", "port": 99999}]}, "ports.0.port"),
        ({"ports": [{"name": "http", "port": 80, "protocol": "tcp"}]}, "protocol"),
        ({"probes": {"readiness": {"httpGet": {"path": "/", "port": "web"}}}}, "'web'"),
        ({"probes": {"readiness": {"exec": ["true"], "tcpSocket": 80}}}, "exactly one"),
        ({"writable": ["relative/path"]}, "writable.0"),
        ({"resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}}, "above"),
        ({"resources": {"limits": {"cpu": 1}}}, "limits.cpu"),
        ({"category": "toys"}, "category"),
        ({"variants": [{"name": "b", "match": ["b/thing"], "dataDir": "/x"}]}, "dataDir"),
    ],
)
def test_a_broken_entry_is_refused_naming_entry_and_field(
    fields: dict[str, Any], expected: str
) -> None:
    with pytest.raises(KnowledgeError) as err:
        knowledge.parse(_catalogue(**fields), source="test.yaml")
    message = str(err.value)
    assert "test.yaml" in message and "images[1] (thing)" in message and expected in message


def test_a_pattern_claimed_by_two_families_is_refused() -> None:
    text = yaml.safe_dump(
        {
            "images": [
                {"family": "a", "category": "app", "image": "acme/a", "match": ["shared"]},
                {"family": "b", "category": "app", "image": "acme/b", "match": ["shared"]},
            ]
        }
    )
    with pytest.raises(KnowledgeError, match="'shared' is claimed by 'a'"):
        knowledge.parse(text)


@pytest.mark.parametrize(
    "image",
    [
        "postgres",
        "postgres:16-alpine",
        "library/postgres",
        "docker.io/library/postgres:17.2@sha256:" + "a" * 64,
        "ghcr.io/acme/platform/postgres:15",
        "postgis/postgis:16-3.4",
        "timescale/timescaledb:latest-pg16",
        "supabase/postgres:15.1.0.147",
        "pgvector/pgvector:pg16",
        "docker.io/bitnami/postgresql:16",
    ],
)
def test_postgres_builds_match_the_postgres_family(image: str) -> None:
    profile = profile_for(image)
    assert profile is not None and profile.family == "postgres"
    assert ports(image) == {5432}


def test_only_the_canonical_image_is_pinned_and_variants_keep_their_own_layout() -> None:
    official, vendor, bitnami = (
        profile_for("postgres"),
        profile_for("postgis/postgis"),
        profile_for("bitnami/postgresql"),
    )
    assert official and vendor and bitnami
    assert official.pinned_tag == "17.2" and vendor.pinned_tag == "" and bitnami.pinned_tag == ""
    assert vendor.data_path == official.data_path == "/var/lib/postgresql/data"
    assert bitnami.data_path == "/bitnami/postgresql" and bitnami.uid == 1001
    assert bitnami.data_env == {} and "/var/run/postgresql" not in bitnami.writable
    assert bitnami.resources == official.resources and bitnami.label == "postgres (bitnami build)"


def test_unknown_and_generic_names_do_not_match() -> None:
    assert profile_for("ghcr.io/acme/storefront:2.3.1") is None
    assert profile_for("") is None
    assert profile_for("ghcr.io/acme/registry:1") is None  # 'registry' is exactOnly
    assert profile_for("registry:2") is not None


# --- one or more facts per family group ------------------------------------------------


def test_databases() -> None:
    assert ports("mysql:8") >= {3306} and ports("mariadb:11") == {3306}
    assert ports("mongo:7") == {27017}
    assert ports("clickhouse/clickhouse-server:24") == {8123, 9000, 9009}
    assert ports("clickhouse:24") == {8123, 9000, 9009}
    assert memory("clickhouse/clickhouse-server") >= 2 * GI
    assert ports("cassandra:5") >= {9042} and memory("cassandra") >= 2 * GI
    assert ports("mcr.microsoft.com/mssql/server:2022-latest") == {1433}
    assert ports("neo4j:5") == {7474, 7687}
    assert ports("cockroachdb/cockroach:v24.1.0") == {26257, 8080}
    for image in ("postgres", "mysql", "mariadb", "mongo", "cassandra", "clickhouse"):
        profile = profile_for(image)
        assert profile is not None and profile.stateful and profile.data_path, image


def test_caches() -> None:
    for image in ("redis:7", "valkey/valkey:8", "bitnami/redis:7.2", "dragonflydb/dragonfly"):
        assert ports(image) == {6379}, image
    assert ports("memcached:1.6") == {11211}
    memcached = profile_for("memcached")
    assert memcached is not None and not memcached.stateful and memcached.uid == 11211


def test_queues() -> None:
    assert 9092 in ports("apache/kafka:3.8.0") and memory("apache/kafka", "requests") >= GI
    assert 9092 in ports("confluentinc/cp-kafka:7.6.0") and memory("confluentinc/cp-kafka") >= GI
    assert 9092 in ports("bitnami/kafka:3.7")
    assert ports("zookeeper:3.9") >= {2181, 2888, 3888}
    assert ports("rabbitmq:3-management") >= {5672}
    assert ports("nats:2.10") >= {4222} and ports("eclipse-mosquitto:2") == {1883}
    assert 9092 in ports("docker.redpanda.com/redpandadata/redpanda:v24.1.1")


def test_search() -> None:
    for image in (
        "elasticsearch:8.15.0",
        "docker.elastic.co/elasticsearch/elasticsearch:8.15.0",
        "opensearchproject/opensearch:2",
    ):
        assert {9200, 9300} <= ports(image)
        assert memory(image, "requests") >= 2 * GI and memory(image) >= 2 * GI
    assert ports("kibana:8.15.0") == {5601} and ports("solr:9") == {8983}
    assert memory("logstash:8.15.0") > GI


def test_object_stores_proxies_and_identity() -> None:
    assert ports("minio/minio") == {9000, 9001} and ports("quay.io/minio/minio") == {9000, 9001}
    assert memory("minio/minio", "requests") >= 512 * 2**20
    assert ports("nginx:1.27") == {80} and ports("nginxinc/nginx-unprivileged:1.27") == {8080}
    assert ports("traefik:v3.1") >= {80} and ports("envoyproxy/envoy:v1.31") >= {10000}
    assert 8080 in ports("quay.io/keycloak/keycloak:26.0")
    assert memory("quay.io/keycloak/keycloak", "requests") >= GI
    assert ports("hashicorp/vault:1.17") >= {8200}


def test_monitoring_ci_analytics_and_ml() -> None:
    assert ports("prom/prometheus") == {9090} and ports("grafana/grafana") == {3000}
    assert ports("grafana/loki:3") >= {3100}
    assert ports("jenkins/jenkins:lts") == {8080, 50000} and memory("jenkins/jenkins") >= GI
    assert ports("sonatype/nexus3") == {8081} and memory("sonatype/nexus3") >= 4 * GI
    assert ports("apache/superset") == {8088} and ports("metabase/metabase") == {3000}
    assert ports("quay.io/jupyter/scipy-notebook:latest") == {8888}
    assert ports("ollama/ollama") == {11434} and memory("ollama/ollama") >= 4 * GI
    vllm = profile_for("vllm/vllm-openai:v0.6.0")
    assert vllm is not None and vllm.resources is not None and vllm.resources.limits.gpu == 1
    assert ports("nvcr.io/nvidia/tritonserver:24.08-py3") == {8000, 8001, 8002}


# --- the engine sizes, exposes and probes from the knowledge ------------------------------


def test_engine_fills_ports_probes_and_sizing_from_the_knowledge_naming_the_family() -> None:
    result = plan({"name": "search", "image": "elasticsearch:8.15.0"})
    es = result.component("search")
    assert es.kind == WorkloadKind.STATEFULSET
    assert {p.port for p in es.spec.ports} == {9200, 9300}
    assert es.spec.resources is not None
    assert quantity(es.spec.resources.requests.memory or "0") >= 2 * GI
    found = decisions(result, "search")
    for topic in ("ports", "resources", "writable paths"):
        assert "elasticsearch" in found[topic].reason, topic
    assert "elasticsearch image gets 180s" in found["probes"].reason


def test_an_explicit_value_wins_and_only_the_gaps_are_filled() -> None:
    result = plan(
        {
            "name": "kafka",
            "image": "apache/kafka:3.8.0",
            "ports": [{"name": "broker", "port": 9094}],
            "resources": {"limits": {"memory": "3Gi"}},
        }
    )
    kafka = result.component("kafka")
    assert [p.port for p in kafka.spec.ports] == [9094]
    resources = kafka.spec.resources
    assert resources is not None and resources.limits.memory == "3Gi"
    assert resources.requests.memory == "1536Mi" and resources.limits.cpu == "2"
    reason = decisions(result, "kafka")["resources"].reason
    assert "kafka image knowledge" in reason and "limits.memory" not in reason


def test_a_filled_value_never_contradicts_an_explicit_one() -> None:
    result = plan(
        {
            "name": "es",
            "image": "elasticsearch:8.15.0",
            "resources": {"limits": {"memory": "1Gi"}},
        }
    )
    resources = result.component("es").spec.resources
    assert resources is not None and resources.requests.memory == "1Gi"
    assert "requests.memory lowered" in decisions(result, "es")["resources"].reason


def test_knowledge_outranks_the_organisation_default_but_unknown_images_get_it() -> None:
    org = {
        "defaultResources": {
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"cpu": "100m", "memory": "128Mi"},
        }
    }
    known = plan({"name": "ch", "image": "clickhouse/clickhouse-server:24"}, **org)
    resources = known.component("ch").spec.resources
    assert resources is not None and resources.limits.memory == "4Gi"
    unknown = plan({"name": "x", "image": "acme/x:1", "ports": [{"port": 8080}]}, **org)
    resources = unknown.component("x").spec.resources
    assert resources is not None and resources.limits.memory == "128Mi"
    assert "organisation default" in decisions(unknown, "x")["resources"].reason


def test_data_env_is_set_only_with_a_volume_at_the_data_directory() -> None:
    with_volume = plan(
        {
            "name": "vectors",
            "image": "semitechnologies/weaviate:1.26.1",
            "volumes": [{"name": "data", "mountPath": "/var/lib/weaviate"}],
        }
    )
    spec = with_volume.component("vectors").spec
    assert spec.env["PERSISTENCE_DATA_PATH"] == "/var/lib/weaviate"
    assert "weaviate" in decisions(with_volume, "vectors")["PERSISTENCE_DATA_PATH"].reason
    without = plan({"name": "vectors", "image": "semitechnologies/weaviate:1.26.1"})
    assert "PERSISTENCE_DATA_PATH" not in without.component("vectors").spec.env


def test_bitnami_postgres_gets_no_pgdata_and_its_own_writable_paths() -> None:
    result = plan(
        {
            "name": "db",
            "image": "bitnami/postgresql:16",
            "volumes": [{"name": "data", "mountPath": "/bitnami/postgresql"}],
        }
    )
    db = result.component("db")
    assert "PGDATA" not in db.spec.env
    assert "/opt/bitnami/postgresql/conf" in db.spec.security.writablePaths
    assert db.spec.image == "bitnami/postgresql:16"


def test_an_image_that_needs_root_is_reported_not_run_as_root() -> None:
    result = plan({"name": "git", "image": "gitlab/gitlab-ce:17.3.0-ce.0"})
    git = result.component("git")
    assert git.spec.security.runAsUser == 10001
    assert any(
        n.severity == "warning" and "needs root" in n.message and "runAsRoot" in n.message
        for n in result.notes
    )


def test_the_images_own_user_is_reported_in_the_security_decision() -> None:
    result = plan({"name": "ch", "image": "clickhouse/clickhouse-server:24"})
    assert "uid 101" in decisions(result, "ch")["securityContext"].reason


def test_a_named_tcp_probe_binds_to_the_components_port_number() -> None:
    result = plan(
        {
            "name": "mq",
            "image": "redpandadata/redpanda:v24.1.1",
            "ports": [{"name": "kafka", "port": 9092}, {"name": "tcp-9644", "port": 9644}],
        }
    )
    ready = result.component("mq").spec.probes.readiness
    assert ready is not None and ready.httpGet is not None and ready.httpGet.port == "tcp-9644"


def test_lookup_tool_describes_known_images() -> None:
    profile = profile_for("bitnami/kafka:3.7")
    assert profile is not None
    facts = knowledge.describe(profile)
    assert facts["family"] == "kafka (bitnami build)" and facts["dataDir"] == "/bitnami/kafka"
    assert "pinnedTag" not in facts
