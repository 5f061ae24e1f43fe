"""What a platform engineer knows about well-known images.

Each profile says how the image behaves under the hardened defaults: which ports it
listens on, where it must write, how to probe it, whether it keeps state, and what it
needs to run as an arbitrary non-root UID. The planner consults it only for facts the
requirements left open; anything the user wrote wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.models.requirements import ProbeSpec, Resources, split_image


@dataclass(frozen=True)
class ImageProfile:
    """Facts about one image family."""

    ports: tuple[tuple[str, int], ...] = ()
    stateful: bool = False
    writable: tuple[str, ...] = ()
    readiness: dict[str, object] | None = None
    liveness: dict[str, object] | None = None
    startup_seconds: int = 60
    size: str = "small"
    pinned_tag: str = ""
    env: dict[str, str] = field(default_factory=dict)
    data_path: str = ""
    note: str = ""


def _exec(*cmd: str) -> dict[str, object]:
    return {"exec": list(cmd)}


def _http(path: str, port: str) -> dict[str, object]:
    return {"httpGet": {"path": path, "port": port}}


PROFILES: dict[str, ImageProfile] = {
    "postgres": ImageProfile(
        ports=(("postgresql", 5432),),
        stateful=True,
        writable=("/var/run/postgresql",),
        readiness=_exec("sh", "-c", 'pg_isready -U "${POSTGRES_USER:-postgres}" -h 127.0.0.1'),
        size="medium",
        pinned_tag="17.2",
        data_path="/var/lib/postgresql/data",
        note="PGDATA points to a subdirectory so initdb can own it as a non-root UID.",
    ),
    "mysql": ImageProfile(
        ports=(("mysql", 3306),),
        stateful=True,
        writable=("/var/run/mysqld",),
        readiness=_exec("sh", "-c", "mysqladmin ping -h 127.0.0.1 --silent"),
        size="medium",
        pinned_tag="8.4.3",
        data_path="/var/lib/mysql",
    ),
    "mariadb": ImageProfile(
        ports=(("mysql", 3306),),
        stateful=True,
        writable=("/var/run/mysqld",),
        readiness=_exec("sh", "-c", "healthcheck.sh --connect --innodb_initialized"),
        size="medium",
        pinned_tag="11.4.4",
        data_path="/var/lib/mysql",
    ),
    "mongo": ImageProfile(
        ports=(("mongodb", 27017),),
        stateful=True,
        writable=("/data/configdb",),
        readiness=_exec("mongosh", "--quiet", "--eval", "db.adminCommand('ping')"),
        size="medium",
        pinned_tag="8.0.4",
        data_path="/data/db",
    ),
    "redis": ImageProfile(
        ports=(("redis", 6379),),
        stateful=True,
        writable=("/data",),
        readiness=_exec("redis-cli", "ping"),
        pinned_tag="7.4.2",
        data_path="/data",
    ),
    "rabbitmq": ImageProfile(
        ports=(("amqp", 5672),),
        stateful=True,
        writable=("/var/lib/rabbitmq", "/var/log/rabbitmq", "/etc/rabbitmq"),
        readiness=_exec("rabbitmq-diagnostics", "-q", "check_port_connectivity"),
        liveness=_exec("rabbitmq-diagnostics", "-q", "status"),
        startup_seconds=120,
        size="medium",
        data_path="/var/lib/rabbitmq",
    ),
    "memcached": ImageProfile(ports=(("memcache", 11211),), pinned_tag="1.6.34"),
    "nginx": ImageProfile(
        ports=(("http", 80),),
        writable=("/var/cache/nginx", "/var/run"),
        pinned_tag="1.27.3",
    ),
    "httpd": ImageProfile(
        ports=(("http", 80),), writable=("/usr/local/apache2/logs",), pinned_tag="2.4.62"
    ),
    "wordpress": ImageProfile(
        ports=(("http", 80),),
        writable=("/var/www/html", "/var/run/apache2", "/var/lock/apache2"),
        startup_seconds=120,
        pinned_tag="6.7.1-apache",
        data_path="/var/www/html",
    ),
    "nextcloud": ImageProfile(
        ports=(("http", 80),),
        writable=("/var/www/html", "/var/run/apache2", "/var/lock/apache2"),
        readiness=_http("/status.php", "http"),
        startup_seconds=300,
        size="medium",
        data_path="/var/www/html",
    ),
    "gitea/gitea": ImageProfile(
        ports=(("http", 3000), ("ssh", 22)),
        writable=("/data", "/etc/gitea", "/var/lib/gitea"),
        readiness=_http("/api/healthz", "http"),
        pinned_tag="1.22.6",
        data_path="/data",
        note="the root image starts s6 as root; gitea/gitea:<version>-rootless avoids that.",
    ),
    "elasticsearch": ImageProfile(
        ports=(("http", 9200), ("transport", 9300)),
        stateful=True,
        writable=("/usr/share/elasticsearch/data", "/usr/share/elasticsearch/logs"),
        readiness=_http("/_cluster/health?local=true", "http"),
        startup_seconds=180,
        size="large",
        data_path="/usr/share/elasticsearch/data",
    ),
    "logstash": ImageProfile(
        ports=(("http", 9600),),
        writable=("/usr/share/logstash/data",),
        readiness=_http("/", "http"),
        startup_seconds=180,
        size="large",
    ),
    "kibana": ImageProfile(
        ports=(("http", 5601),),
        writable=("/usr/share/kibana/data",),
        readiness=_http("/api/status", "http"),
        startup_seconds=180,
        size="medium",
    ),
    "prom/prometheus": ImageProfile(
        ports=(("http", 9090),),
        stateful=True,
        readiness=_http("/-/ready", "http"),
        liveness=_http("/-/healthy", "http"),
        size="medium",
        pinned_tag="v3.1.0",
        data_path="/prometheus",
    ),
    "grafana/grafana": ImageProfile(
        ports=(("http", 3000),),
        writable=("/var/lib/grafana",),
        readiness=_http("/api/health", "http"),
        pinned_tag="11.4.0",
    ),
    "dpage/pgadmin4": ImageProfile(
        ports=(("http", 80),),
        writable=("/var/lib/pgadmin",),
        readiness=_http("/misc/ping", "http"),
        startup_seconds=120,
        pinned_tag="8.14",
    ),
    "itzg/minecraft-server": ImageProfile(
        ports=(("minecraft", 25565),),
        stateful=True,
        startup_seconds=300,
        size="large",
        data_path="/data",
    ),
}

# Requests and limits per size class: requests sized for a quiet workload, limits leave
# room for a burst without letting one pod starve a node.
SIZES: dict[str, dict[str, dict[str, str]]] = {
    "small": {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "256Mi"},
    },
    "medium": {
        "requests": {"cpu": "250m", "memory": "512Mi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    },
    "large": {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    },
}


def image_family(image: str) -> str:
    """The profile key of an image: its repository without registry and `library/`."""
    repo, _, _ = split_image(image)
    parts = repo.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    if parts and parts[0] == "library":
        parts = parts[1:]
    return "/".join(parts)


def profile_for(image: str) -> ImageProfile | None:
    """The profile of a well-known image, or None."""
    return PROFILES.get(image_family(image)) if image else None


def sized_resources(size: str) -> Resources:
    """Resources for a size class."""
    return Resources.model_validate(SIZES[size])


def probe(data: dict[str, object], **timing: int) -> ProbeSpec:
    """A ProbeSpec from a handler dict plus timing fields."""
    return ProbeSpec.model_validate({**data, **timing})
