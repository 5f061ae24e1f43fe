"""The Docker Compose importer: every mapping, the real samples, interpolation and errors."""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest

from services.planner.compose.importer import ImportResult, import_compose, looks_like_compose
from services.planner.compose.secrets import is_secret_name
from services.planner.compose.service import HANDLERS, INFO_KEYS, WARNING_KEYS
from services.planner.compose.units import cpu_quantity, duration_seconds, memory_quantity
from shared.errors import InputError
from shared.models.requirements import Component, Protocol, SecretRef, ServiceRef, WorkloadKind

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "compose"
SPEC = ROOT / "tests" / "fixtures" / "compose-spec.json"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "compose"
IANA = re.compile(r"^(?=.*[a-z])[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def imp(text: str, **kwargs: Any) -> ImportResult:
    """Import a dedented inline Compose file with an empty environment unless given."""
    kwargs.setdefault("environ", {})
    return import_compose(textwrap.dedent(text), **kwargs)


def comp(result: ImportResult, name: str) -> Component:
    """The component called `name`."""
    found = [c for c in result.requirements.components if c.name == name]
    assert found, f"no component {name!r} in {[c.name for c in result.requirements.components]}"
    return found[0]


def notes(result: ImportResult, source: str, severity: str | None = None) -> list[str]:
    """Messages of notes whose source starts with `source` (and has `severity`)."""
    return [
        n.message
        for n in result.notes
        if n.source.startswith(source) and (severity is None or n.severity == severity)
    ]


def error_for(text: str, **kwargs: Any) -> InputError:
    """The InputError importing `text` raises."""
    with pytest.raises(InputError) as info:
        imp(text, **kwargs)
    return info.value


def example(stem: str, **kwargs: Any) -> ImportResult:
    """Import one of the real sample files, the chart named after the file."""
    kwargs.setdefault("name", stem)
    kwargs.setdefault("environ", {})
    return import_compose((EXAMPLES / f"{stem}.yaml").read_text(), **kwargs)


# --- the real samples ----------------------------------------------------------------------


def test_all_eleven_examples_are_there() -> None:
    assert len(sorted(EXAMPLES.glob("*.yaml"))) == 11


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_imports(path: Path) -> None:
    import yaml

    services = yaml.safe_load(path.read_text())["services"]
    result = import_compose(path.read_text(), name=path.stem, environ={})
    reqs = result.requirements
    assert len(reqs.components) == len(services)
    for component in reqs.components:
        for port in component.ports:
            assert port.name and len(port.name) <= 15 and IANA.match(port.name)
        if not component.image:
            assert any("pushed" in m for m in notes(result, "services.", "warning"))
    # Round-trips through the contract's own validation.
    type(reqs).model_validate(json.loads(reqs.model_dump_json(by_alias=True)))


def test_wordpress_shares_the_db_password_and_rewrites_the_host() -> None:
    result = example("wordpress-mysql")
    db, wp, pma = comp(result, "db"), comp(result, "wordpress"), comp(result, "phpmyadmin")
    assert isinstance(db.env["MYSQL_PASSWORD"], SecretRef)
    assert wp.env["WORDPRESS_DB_PASSWORD"] == db.env["MYSQL_PASSWORD"]
    assert pma.env["PMA_PASSWORD"] == db.env["MYSQL_PASSWORD"]
    assert db.env["MYSQL_ROOT_PASSWORD"] != db.env["MYSQL_PASSWORD"]
    assert wp.env["WORDPRESS_DB_HOST"] == ServiceRef(serviceRef="db")
    assert pma.env["PMA_HOST"] == ServiceRef(serviceRef="db")
    assert wp.env["WORDPRESS_DB_USER"] == "wordpress"
    assert "somewordpress" not in result.model_dump_json()
    assert {s.name: s.generate for s in result.requirements.secrets} == {
        "mysql-root-password": True,
        "mysql-password": True,
    }
    [note] = notes(result, "services.wordpress.environment.WORDPRESS_DB_HOST")
    assert "WORDPRESS_DB_HOST calls db" in note and "any release name" in note
    assert db.args == ["--default-authentication-plugin=mysql_native_password"]
    assert [(p.name, p.port) for p in db.ports] == [("mysql", 3306), ("mysqlx", 33060)]
    assert db.volumes[0].name == "db-data" and db.volumes[0].mountPath == "/var/lib/mysql"
    assert pma.dependsOn == ["db"]
    assert any("wp_data" in n.source for n in result.notes)


def test_nextcloud_secret_shared_across_services() -> None:
    result = example("nextcloud-redis-mariadb", name="nextcloud")
    nc, db = comp(result, "nc"), comp(result, "db")
    assert nc.env["MYSQL_PASSWORD"] == db.env["MYSQL_PASSWORD"]
    assert isinstance(nc.env["MYSQL_PASSWORD"], SecretRef)
    assert nc.env["REDIS_HOST"] == ServiceRef(serviceRef="redis")
    assert nc.env["MYSQL_HOST"] == ServiceRef(serviceRef="db")
    assert nc.env["MYSQL_DATABASE"] == "nextcloud"
    assert notes(result, "services.nc.environment.MYSQL_HOST")
    assert db.args == ["--transaction-isolation=READ-COMMITTED", "--binlog-format=ROW"]
    assert notes(result, "networks", "info")


def test_elk_ports_healthcheck_and_command() -> None:
    result = example("elasticsearch-logstash-kibana")
    es, ls = comp(result, "elasticsearch"), comp(result, "logstash")
    assert {(p.name, p.port, p.protocol) for p in ls.ports} >= {
        ("tcp-5000", 5000, Protocol.TCP),
        ("udp-5000", 5000, Protocol.UDP),
    }
    assert ls.args == ["logstash", "-f", "/usr/share/logstash/pipeline/logstash-nginx.config"]
    assert ls.command is None
    live = es.probes.liveness
    assert live is not None and live.exec is not None
    assert live.exec[:2] == ["sh", "-c"] and "curl" in live.exec[2]
    assert (live.periodSeconds, live.timeoutSeconds, live.failureThreshold) == (10, 10, 3)
    assert es.probes.readiness == live
    assert es.env["discovery.type"] == "single-node"
    assert ls.dependsOn == ["elasticsearch"]
    # Without base_dir the bind-mounted config files become empty files to paste in.
    assert [f.path for f in ls.configFiles] == [
        "/usr/share/logstash/pipeline/logstash-nginx.config",
        "/home/nginx.log",
    ]
    assert any("paste" in m for m in notes(result, "services.logstash.volumes[0]"))


def test_react_upper_case_service_and_build_only() -> None:
    result = example("react-express-mongodb")
    names = [c.name for c in result.requirements.components]
    assert names == ["frontend", "backend", "db"]
    assert comp(result, "frontend").dependsOn == ["backend"]
    assert comp(result, "frontend").image == ""
    build_notes = notes(result, "services.frontend.build", "warning")
    assert build_notes and "built and pushed" in build_notes[0] and "image" in build_notes[0]
    assert notes(result, "services.Backend", "info")
    db = comp(result, "db")
    assert [(v.name, v.mountPath) for v in db.volumes] == [("data", "/data/db")]


def test_minecraft_memory_and_home_dir_volume() -> None:
    result = example("minecraft")
    mc = comp(result, "minecraft")
    assert mc.resources is not None and mc.resources.limits.memory == "1536Mi"
    assert [(v.name, v.mountPath) for v in mc.volumes] == [("minecraft-data", "/data")]
    assert mc.env["EULA"] == "TRUE"
    assert [(p.name, p.port) for p in mc.ports] == [("minecraft", 25565)]


def test_nginx_golang_postgres_secret_files_and_healthcheck() -> None:
    result = example("nginx-golang-postgres")
    backend, db = comp(result, "backend"), comp(result, "db")
    assert [(f.secret, f.path) for f in backend.secretFiles] == [
        ("db-password", "/run/secrets/db-password")
    ]
    assert db.secretFiles == backend.secretFiles
    assert db.env["POSTGRES_PASSWORD_FILE"] == "/run/secrets/db-password"
    assert [(s.name, s.generate) for s in result.requirements.secrets] == [("db-password", True)]
    assert db.security.runAsUser is None
    assert any("postgres" in m for m in notes(result, "services.db.user", "warning"))
    live = db.probes.liveness
    assert live is not None and live.exec == ["pg_isready"]
    assert (live.periodSeconds, live.timeoutSeconds, live.failureThreshold) == (10, 5, 5)
    assert backend.dependsOn == ["db"]
    assert [(p.name, p.port) for p in db.ports] == [("postgresql", 5432)]


def test_rabbitmq_sample_volume_mounted_twice_and_shared() -> None:
    result = example("nginx-golang-postgres-rabbitmq")
    mq = comp(result, "mq")
    assert [(v.name, v.mountPath) for v in mq.volumes] == [
        ("db-data", "/var/log/rabbitmq"),
        ("db-data-2", "/var/lib/rabbitmq"),
    ]
    assert notes(result, "services.mq.volumes[1]", "warning")
    shared = notes(result, "volumes.db-data", "warning")
    assert shared and "one ReadWriteMany claim" in shared[0]
    assert isinstance(mq.env["RABBITMQ_DEFAULT_PASS"], SecretRef)
    assert mq.env["RABBITMQ_DEFAULT_USER"] == "root"
    assert "123456" not in result.model_dump_json()


def test_gitea_host_port_rewrite_and_shared_password() -> None:
    result = example("gitea-postgres", name="gitea")
    gitea, db = comp(result, "gitea"), comp(result, "db")
    assert gitea.env["DB_HOST"] == ServiceRef(serviceRef="db", port=5432)
    assert gitea.env["DB_TYPE"] == "postgres"
    assert gitea.env["DB_PASSWD"] == db.env["POSTGRES_PASSWORD"]
    assert isinstance(gitea.env["DB_PASSWD"], SecretRef)
    assert [(p.name, p.port) for p in db.ports] == [("postgresql", 5432)]


def test_postgresql_pgadmin_interpolation_from_environ() -> None:
    env = {
        "POSTGRES_USER": "admin",
        "POSTGRES_PW": "s3cr3t-pw",
        "POSTGRES_DB": "app",
        "PGADMIN_MAIL": "a@example.com",
        "PGADMIN_PW": "other-pw",
    }
    result = example("postgresql-pgadmin", environ=env)
    pg, admin = comp(result, "postgres"), comp(result, "pgadmin")
    assert pg.env["POSTGRES_USER"] == "admin" and pg.env["POSTGRES_DB"] == "app"
    assert isinstance(pg.env["POSTGRES_PASSWORD"], SecretRef)
    assert admin.env["PGADMIN_DEFAULT_EMAIL"] == "a@example.com"
    dumped = result.model_dump_json()
    assert "s3cr3t-pw" not in dumped and "other-pw" not in dumped
    assert not notes(result, "services.postgres.environment", "warning")


def test_postgresql_pgadmin_unset_variables_are_noted() -> None:
    result = example("postgresql-pgadmin")
    pg, admin = comp(result, "postgres"), comp(result, "pgadmin")
    assert pg.env["POSTGRES_USER"] == ""
    # Two unset passwords are not "equal values": each keeps its own secret.
    assert pg.env["POSTGRES_PASSWORD"] != admin.env["PGADMIN_DEFAULT_PASSWORD"]
    messages = " ".join(notes(result, "services.", "warning"))
    for var in ("POSTGRES_USER", "POSTGRES_PW", "POSTGRES_DB", "PGADMIN_MAIL", "PGADMIN_PW"):
        assert f"variable {var} is not set" in messages


def test_prometheus_grafana_same_path_twice() -> None:
    result = example("prometheus-grafana")
    prom = comp(result, "prometheus")
    assert [(v.name, v.mountPath) for v in prom.volumes] == [("prom-data", "/prometheus")]
    assert notes(result, "services.prometheus.volumes[1]", "warning")
    assert prom.args == ["--config.file=/etc/prometheus/prometheus.yml"]
    assert isinstance(comp(result, "grafana").env["GF_SECURITY_ADMIN_PASSWORD"], SecretRef)


def test_django_build_only() -> None:
    result = example("django")
    web = comp(result, "web")
    assert web.image == ""
    [message] = notes(result, "services.web.build", "warning")
    assert "built and pushed" in message and "values" in message
    assert [(p.name, p.port) for p in web.ports] == [("http", 8000)]


def test_sample_with_its_files_reads_config_and_secret(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "nginx-golang-postgres.yaml", tmp_path / "compose.yaml")
    (tmp_path / "proxy").mkdir()
    (tmp_path / "proxy" / "nginx.conf").write_text("server { listen 80; }\n")
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "password.txt").write_text("file-secret-value\n")
    text = (tmp_path / "compose.yaml").read_text()
    result = import_compose(text, base_dir=tmp_path, environ={})
    assert result.requirements.name == dns(tmp_path.name)
    proxy = comp(result, "proxy")
    assert [(f.path, f.content) for f in proxy.configFiles] == [
        ("/etc/nginx/conf.d/default.conf", "server { listen 80; }\n")
    ]
    assert "file-secret-value" not in result.model_dump_json()


def dns(text: str) -> str:
    """The DNS-1123 form the importer gives a folder name."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]+", "-", text.lower())).strip("-")[:40].strip("-")


# --- image, command ------------------------------------------------------------------------


def test_image_and_build_together_is_info() -> None:
    result = imp("""
        services:
          api:
            image: ghcr.io/acme/api:1.2
            build: .
    """)
    assert comp(result, "api").image == "ghcr.io/acme/api:1.2"
    assert notes(result, "services.api.build", "info")


def test_neither_image_nor_build_is_an_error() -> None:
    err = error_for("services:\n  api:\n    ports: ['80']\n")
    assert err.field == "services.api.image"


def test_command_and_entrypoint_strings_are_split_like_a_shell() -> None:
    result = imp("""
        services:
          job:
            image: busybox:1.36
            entrypoint: /bin/sh -c
            command: 'echo "hello world" && sleep 1'
    """)
    job = comp(result, "job")
    assert job.command == ["/bin/sh", "-c"]
    assert job.args == ["echo", "hello world", "&&", "sleep", "1"]


def test_command_list_form_is_kept() -> None:
    result = imp("""
        services:
          web:
            image: nginx:1.27
            command: ["nginx", "-g", "daemon off;"]
    """)
    assert comp(result, "web").args == ["nginx", "-g", "daemon off;"]


def test_unbalanced_quotes_in_command() -> None:
    err = error_for("services:\n  web:\n    image: x\n    command: echo 'oops\n")
    assert err.field == "services.web.command"


def test_overlong_image_becomes_input_error_naming_the_field() -> None:
    err = error_for(f"services:\n  web:\n    image: {'a' * 600}\n")
    assert err.field == "services.web.image"
    assert "a" * 600 not in err.message


# --- ports ---------------------------------------------------------------------------------


def test_port_short_forms() -> None:
    result = imp("""
        services:
          web:
            image: x
            ports:
              - "8080:80"
              - "443"
              - "127.0.0.1:5432:5432"
              - "127.0.0.1:53:53/udp"
              - 22:22
              - "9000"
              - "[::1]:6379:6379"
    """)
    ports = {(p.port, p.protocol): p.name for p in comp(result, "web").ports}
    assert ports == {
        (80, Protocol.TCP): "http",
        (443, Protocol.TCP): "https",
        (5432, Protocol.TCP): "postgresql",
        (53, Protocol.UDP): "dns",
        (22, Protocol.TCP): "ssh",
        (9000, Protocol.TCP): "tcp-9000",
        (6379, Protocol.TCP): "redis",
    }
    assert notes(result, "services.web.ports", "info")


def test_port_long_syntax_and_expose() -> None:
    result = imp("""
        services:
          web:
            image: x
            ports:
              - target: 8080
                published: "80"
                protocol: tcp
                name: web
              - target: 8125
                protocol: udp
            expose: ["9102", 9103, "8126/udp"]
    """)
    web = comp(result, "web")
    assert [(p.name, p.port, p.protocol.value) for p in web.ports] == [
        ("web", 8080, "TCP"),
        ("udp-8125", 8125, "UDP"),
        ("tcp-9102", 9102, "TCP"),
        ("tcp-9103", 9103, "TCP"),
        ("udp-8126", 8126, "UDP"),
    ]
    assert all(p.servicePort is None for p in web.ports)


def test_port_ranges_are_expanded_and_noted() -> None:
    result = imp("services:\n  web:\n    image: x\n    ports: ['8000-8002:8000-8002']\n")
    assert [p.port for p in comp(result, "web").ports] == [8000, 8001, 8002]
    assert any("range" in m for m in notes(result, "services.web.ports[0]"))


def test_duplicate_ports_and_second_http_port_get_unique_names() -> None:
    result = imp("""
        services:
          web:
            image: x
            ports: ["80:80", "8081:80", "8080:8080", "3000:3000"]
    """)
    names = [(p.name, p.port) for p in comp(result, "web").ports]
    assert names == [("http", 80), ("http-8080", 8080), ("http-3000", 3000)]


@pytest.mark.parametrize(
    ("ports", "field"),
    [
        ("5", "services.web.ports"),
        ("['80:80:80:80']", "services.web.ports[0]"),
        ("['0']", "services.web.ports[0]"),
        ("['99999:80']", "services.web.ports[0]"),
        ("['80/icmp']", "services.web.ports[0]"),
        ("[{published: 80}]", "services.web.ports[0]"),
    ],
)
def test_bad_ports(ports: str, field: str) -> None:
    err = error_for(f"services:\n  web:\n    image: x\n    ports: {ports}\n")
    assert err.field == field


# --- environment ---------------------------------------------------------------------------


def test_environment_list_and_map_forms() -> None:
    result = imp(
        """
        services:
          a:
            image: x
            environment: [PLAIN=1, FROM_ENV, MISSING, "EMPTY="]
          b:
            image: x
            environment:
              DEBUG: true
              WORKERS: 4
              FROM_ENV:
              RATIO: 0.5
        """,
        environ={"FROM_ENV": "outside"},
    )
    assert comp(result, "a").env == {"PLAIN": "1", "FROM_ENV": "outside", "EMPTY": ""}
    assert notes(result, "services.a.environment.MISSING", "info")
    assert comp(result, "b").env == {
        "DEBUG": "true",
        "WORKERS": "4",
        "FROM_ENV": "outside",
        "RATIO": "0.5",
    }


def test_invalid_env_name_names_the_field() -> None:
    err = error_for("services:\n  a:\n    image: x\n    environment: ['1BAD=x']\n")
    assert err.field == "services.a.environment.1BAD"


def test_env_files_forms_and_precedence(tmp_path: Path) -> None:
    (tmp_path / "common.env").write_text(
        "# comment\nexport LEVEL=info\nHOST_URL=http://api:8080/v1\nOVERRIDE=file\n"
        'QUOTED="a b # not a comment"\nINLINE=value # comment\nAPI_TOKEN=tok-123\n'
    )
    (tmp_path / "extra.env").write_text("LEVEL=debug\n")
    result = imp(
        """
        services:
          web:
            image: x
            env_file:
              - common.env
              - path: extra.env
              - path: missing-optional.env
                required: false
            environment:
              OVERRIDE: compose
          api:
            image: y
        """,
        base_dir=tmp_path,
        name="shop",
    )
    web = comp(result, "web")
    assert web.env["HOST_URL"] == ServiceRef(
        serviceRef="api", port=8080, format="http://{host:api}:8080/v1"
    )
    assert web.envFiles == {
        "LEVEL": "debug",
        "QUOTED": "a b # not a comment",
        "INLINE": "value",
    }
    assert web.env["OVERRIDE"] == "compose"
    assert isinstance(web.env["API_TOKEN"], SecretRef)
    assert "tok-123" not in result.model_dump_json()
    assert notes(result, "services.web.env_file[2]", "info")
    assert not notes(result, "services.web.env_file", "warning")


def test_missing_required_env_file_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    result = imp("services:\n  web:\n    image: x\n    env_file: nope.env\n", base_dir=tmp_path)
    assert any("nope.env" in m for m in notes(result, "services.web.env_file", "warning"))
    assert comp(result, "web").envFiles == {}


def test_env_file_outside_the_project_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "outside.env").write_text("LEAK=yes\n")
    project = tmp_path / "project"
    project.mkdir()
    result = imp(
        "services:\n  web:\n    image: x\n    env_file: ../outside.env\n", base_dir=project
    )
    assert comp(result, "web").envFiles == {}
    assert notes(result, "services.web.env_file", "warning")


# --- interpolation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "environ", "expected"),
    [
        ("${A}", {"A": "x"}, "x"),
        ("$A-suffix", {"A": "x"}, "x-suffix"),
        ("${A:-dflt}", {}, "dflt"),
        ("${A:-dflt}", {"A": ""}, "dflt"),
        ("${A-dflt}", {"A": ""}, ""),
        ("${A-dflt}", {}, "dflt"),
        ("${A:+alt}", {"A": "x"}, "alt"),
        ("${A:+alt}", {"A": ""}, ""),
        ("${A+alt}", {"A": ""}, "alt"),
        ("${A:?must be set}", {"A": "ok"}, "ok"),
        ("$$HOME and $${B}", {"HOME": "nope"}, "$HOME and ${B}"),
        ("${A:-${B:-deep}}", {}, "deep"),
        ("${A:-${B}}", {"B": "b"}, "b"),
        ("cost: 5$", {}, "cost: 5$"),
    ],
)
def test_interpolation(template: str, environ: dict[str, str], expected: str) -> None:
    result = imp(
        f"services:\n  a:\n    image: x\n    environment:\n      V: '{template}'\n",
        environ=environ,
    )
    assert comp(result, "a").env["V"] == expected


def test_unset_variable_is_empty_with_a_note() -> None:
    result = imp("services:\n  a:\n    image: x\n    environment:\n      V: 'pre-${NOPE}'\n")
    assert comp(result, "a").env["V"] == "pre-"
    [message] = notes(result, "services.a.environment.V", "warning")
    assert "NOPE" in message


def test_required_variable_error_names_the_field() -> None:
    err = error_for("services:\n  a:\n    image: ${IMG:?set IMG}\n")
    assert err.field == "services.a.image" and "set IMG" in err.message


def test_unterminated_interpolation() -> None:
    err = error_for("services:\n  a:\n    image: '${IMG'\n")
    assert err.field == "services.a.image"


def test_dotenv_is_read_and_process_env_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TAG=1.0\nPORT=8080\nIMAGE=app:${TAG}\n")
    result = imp(
        """
        services:
          a:
            image: ${IMAGE}
            ports: ["${PORT}:80"]
            environment:
              TAG: ${TAG}
        """,
        base_dir=tmp_path,
        environ={"TAG": "2.0"},
    )
    a = comp(result, "a")
    assert a.env["TAG"] == "2.0"
    assert a.image == "app:2.0"
    assert [p.port for p in a.ports] == [80]


def test_the_process_environment_is_never_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the environment passed in is interpolated (a service's own variables never leak)."""
    monkeypatch.setenv("COMPOSE_TEST_IMAGE", "redis:7")
    text = "services:\n  a:\n    image: ${COMPOSE_TEST_IMAGE:-redis:6}\n"
    assert comp(import_compose(text), "a").image == "redis:6"
    given = import_compose(text, environ={"COMPOSE_TEST_IMAGE": "redis:7"})
    assert comp(given, "a").image == "redis:7"


def test_yaml_12_scalars() -> None:
    result = imp("services:\n  a:\n    image: x\n    environment:\n      FLAG: on\n      N: 010\n")
    assert comp(result, "a").env == {"FLAG": "on", "N": "8"}


# --- secrets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "secret"),
    [
        ("MYSQL_ROOT_PASSWORD", "x1", True),
        ("DB_PASSWD", "x1", True),
        ("RABBITMQ_DEFAULT_PASS", "x1", True),
        ("API_KEY", "x1", True),
        ("GITHUB_TOKEN", "x1", True),
        ("AWS_SECRET_ACCESS_KEY", "x1", True),
        ("OAUTH_CLIENT_CREDENTIALS", "x1", True),
        ("SSH_PRIVATE_KEY", "x1", True),
        ("dbPassword", "x1", True),
        ("POSTGRES_PASSWORD_FILE", "/run/secrets/db", False),
        ("MYSQL_ALLOW_EMPTY_PASSWORD", "yes", False),
        ("MYSQL_RANDOM_ROOT_PASSWORD", "1", False),
        ("KEYBOARD_LAYOUT", "us", False),
        ("BYPASS_CACHE", "x1", False),
        ("PWD", "/app", False),
        ("MONKEY", "x1", False),
        ("PASSWORD_MIN_LENGTH", "8", False),
    ],
)
def test_secret_names(name: str, value: str, secret: bool) -> None:
    assert is_secret_name(name, value) is secret


def test_secret_values_never_appear_anywhere() -> None:
    result = imp(
        """
        services:
          api:
            image: x
            environment:
              DATABASE_URL: postgres://app:url-pass-1@db:5432/shop?sslmode=disable
              STRIPE_API_KEY: sk_live_abc
              DB_PASSWORD: pw-shared
          db:
            image: postgres:16
            environment:
              POSTGRES_PASSWORD: pw-shared
        """,
        name="shop",
    )
    dumped = result.model_dump_json()
    for value in ("url-pass-1", "sk_live_abc", "pw-shared"):
        assert value not in dumped
    api, db = comp(result, "api"), comp(result, "db")
    assert api.env["DB_PASSWORD"] == db.env["POSTGRES_PASSWORD"]
    secrets = {s.name: s for s in result.requirements.secrets}
    url = api.env["DATABASE_URL"]
    assert isinstance(url, ServiceRef) and url.serviceRef == "db" and url.port == 5432
    [url_secret_name] = url.secrets()
    assert (
        url.format
        == "postgres://app:{secret:" + url_secret_name + "}@{host:db}:5432/shop?sslmode=disable"
    )
    url_secret = secrets[url_secret_name]
    assert url_secret.generate is True  # a password, rendered into the URL at run time
    assert secrets["stripe-api-key"].generate is False
    assert secrets[api.env["DB_PASSWORD"].secret].generate is True  # type: ignore[union-attr]
    [url_note] = notes(result, "services.api.environment.DATABASE_URL", "info")
    assert "calls db:5432" in url_note and url_secret_name in url_note


def test_same_name_different_values_get_two_secrets() -> None:
    result = imp("""
        services:
          a:
            image: x
            environment: [DB_PASSWORD=one]
          b:
            image: x
            environment: [DB_PASSWORD=two]
    """)
    a, b = comp(result, "a").env["DB_PASSWORD"], comp(result, "b").env["DB_PASSWORD"]
    assert isinstance(a, SecretRef) and isinstance(b, SecretRef) and a != b
    assert [s.name for s in result.requirements.secrets] == ["db-password", "b-db-password"]


def test_compose_secrets_short_and_long_form(tmp_path: Path) -> None:
    (tmp_path / "tls.crt").write_text("CERT")
    result = imp(
        """
        services:
          web:
            image: x
            secrets:
              - db_password
              - source: tls_cert
                target: /etc/tls/tls.crt
              - source: api_token
                target: token
                mode: 0400
        secrets:
          db_password:
            environment: DB_PW
          tls_cert:
            file: ./tls.crt
          api_token:
            external: true
          unused_secret:
            file: ./nothing
        """,
        base_dir=tmp_path,
    )
    web = comp(result, "web")
    assert [(f.secret, f.path) for f in web.secretFiles] == [
        ("db-password", "/run/secrets/db_password"),
        ("tls-cert", "/etc/tls/tls.crt"),
        ("api-token", "/run/secrets/token"),
    ]
    generated = {s.name: s.generate for s in result.requirements.secrets}
    assert generated == {"db-password": True, "tls-cert": False, "api-token": False}
    assert notes(result, "secrets.api_token", "warning")
    assert "CERT" not in result.model_dump_json()


def test_secret_file_value_shared_with_env_value(tmp_path: Path) -> None:
    (tmp_path / "pw.txt").write_text("same-value\n")
    result = imp(
        """
        services:
          db:
            image: postgres:16
            secrets: [db_pw]
          app:
            image: x
            environment: [DB_PASSWORD=same-value]
        secrets:
          db_pw:
            file: pw.txt
        """,
        base_dir=tmp_path,
    )
    assert comp(result, "app").env["DB_PASSWORD"] == SecretRef(secret="db-pw")
    assert len(result.requirements.secrets) == 1


def test_undefined_secret_is_an_error() -> None:
    err = error_for("services:\n  web:\n    image: x\n    secrets: [nope]\n")
    assert err.field == "services.web.secrets[0]" and "top-level" in err.message


# --- host rewriting ------------------------------------------------------------------------


def test_host_rewrites_and_non_rewrites() -> None:
    result = imp(
        """
        services:
          web:
            image: x
            environment:
              API: http://Backend:8080/api
              CACHE: redis://cache:6379/0
              REDIS_HOST: cache
              DB_ADDR: db:5432
              OTHER_DB: mydb:5432
              EXTERNAL: db.example.com:5432
              DB_TYPE: db
              GREETING: hello db
              BROKERS: kafka:9092,cache:6379
          Backend:
            image: x
          cache:
            image: redis:7
          db:
            image: postgres:16
          kafka:
            image: kafka:3
        """,
        name="shop",
    )
    env = comp(result, "web").env
    assert env["API"] == ServiceRef(
        serviceRef="backend", port=8080, format="http://{host:backend}:8080/api"
    )
    assert env["CACHE"] == ServiceRef(
        serviceRef="cache", port=6379, format="redis://{host:cache}:6379/0"
    )
    assert env["REDIS_HOST"] == ServiceRef(serviceRef="cache")
    assert env["DB_ADDR"] == ServiceRef(serviceRef="db", port=5432)
    assert env["OTHER_DB"] == "mydb:5432"
    assert env["EXTERNAL"] == "db.example.com:5432"
    assert env["DB_TYPE"] == "db"
    assert env["GREETING"] == "hello db"
    brokers = env["BROKERS"]
    assert isinstance(brokers, ServiceRef)
    assert brokers.template() == "{host:kafka}:9092,{host:cache}:6379"
    assert brokers.links() == [("kafka", 9092), ("cache", 6379)]
    assert "REDIS_HOST calls cache" in notes(result, "services.web.environment.REDIS_HOST")[0]


def test_container_name_alias_is_rewritten() -> None:
    result = imp(
        """
        services:
          elasticsearch:
            image: es:8
            container_name: es
          kibana:
            image: kibana:8
            environment:
              ELASTICSEARCH_HOSTS: http://es:9200
        """,
        name="elk",
    )
    assert comp(result, "kibana").env["ELASTICSEARCH_HOSTS"] == ServiceRef(
        serviceRef="elasticsearch", port=9200, format="http://{host:elasticsearch}:9200"
    )


# --- healthcheck ---------------------------------------------------------------------------


def _probe_of(healthcheck: str) -> ImportResult:
    return imp(f"services:\n  a:\n    image: x\n    healthcheck: {healthcheck}\n")


def test_healthcheck_cmd_and_timings() -> None:
    result = _probe_of(
        '{test: ["CMD", "curl", "-f", "http://localhost"], interval: 1m30s, timeout: 500ms, '
        "retries: 4, start_period: 60s}"
    )
    probes = comp(result, "a").probes
    assert probes.liveness is not None and probes.startup is not None
    assert probes.liveness.exec == ["curl", "-f", "http://localhost"]
    assert (probes.liveness.periodSeconds, probes.liveness.timeoutSeconds) == (90, 1)
    assert probes.liveness.failureThreshold == 4
    assert probes.readiness == probes.liveness
    assert probes.startup.exec == probes.liveness.exec
    assert probes.startup.failureThreshold == 1 + 4  # ceil(60/90) + retries


def test_healthcheck_start_period_and_start_interval() -> None:
    result = _probe_of(
        '{test: ["CMD", "true"], interval: 10s, start_period: 60s, start_interval: 5s}'
    )
    startup = comp(result, "a").probes.startup
    assert startup is not None and startup.periodSeconds == 5
    assert startup.failureThreshold == 12 + 3


@pytest.mark.parametrize(
    ("test", "exec_"),
    [
        ('["CMD-SHELL", "pg_isready -U app"]', ["sh", "-c", "pg_isready -U app"]),
        ("curl -f localhost || exit 1", ["sh", "-c", "curl -f localhost || exit 1"]),
    ],
)
def test_healthcheck_shell_forms(test: str, exec_: list[str]) -> None:
    live = comp(_probe_of(f"{{test: {test}}}"), "a").probes.liveness
    assert live is not None and live.exec == exec_
    assert (live.periodSeconds, live.timeoutSeconds, live.failureThreshold) == (30, 30, 3)


@pytest.mark.parametrize("check", ['{test: ["NONE"]}', "{disable: true}"])
def test_healthcheck_disabled_leaves_probes_to_the_planner(check: str) -> None:
    result = _probe_of(check)
    probes = comp(result, "a").probes
    assert probes.liveness is None and probes.readiness is None and not probes.disabled
    assert notes(result, "services.a.healthcheck", "info")


@pytest.mark.parametrize(
    ("check", "field"),
    [
        ('{test: ["WHAT", "x"]}', "services.a.healthcheck.test"),
        ('{test: ["CMD", "x"], interval: soon}', "services.a.healthcheck.interval"),
        ('{test: ["CMD", "x"], retries: many}', "services.a.healthcheck.retries"),
    ],
)
def test_bad_healthchecks(check: str, field: str) -> None:
    err = error_for(f"services:\n  a:\n    image: x\n    healthcheck: {check}\n")
    assert err.field == field


# --- deploy --------------------------------------------------------------------------------


def test_deploy_replicas_resources_and_placement() -> None:
    result = imp("""
        services:
          a:
            image: x
            ports: ["80"]
            deploy:
              replicas: 3
              resources:
                limits: {cpus: "0.5", memory: 512M}
                reservations:
                  cpus: 0.25
                  memory: 100k
                  devices:
                    - capabilities: [gpu]
                      count: 2
              placement:
                constraints:
                  - node.labels.disk == ssd
                  - node.platform.arch==x86_64
                  - node.hostname != old-box
                  - node.role==manager
              update_config: {parallelism: 2, order: start-first, delay: 10s}
              labels: {team: web}
    """)
    a = comp(result, "a")
    assert a.replicas == 3
    assert a.resources is not None
    assert (a.resources.limits.cpu, a.resources.limits.memory) == ("500m", "512Mi")
    assert (a.resources.requests.cpu, a.resources.requests.memory) == ("250m", "100Ki")
    assert a.resources.limits.gpu == 2
    assert a.scheduling.nodeSelector == {"disk": "ssd", "kubernetes.io/arch": "amd64"}
    terms = a.scheduling.affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"][0]["matchExpressions"] == [
        {"key": "kubernetes.io/hostname", "operator": "NotIn", "values": ["old-box"]}
    ]
    assert notes(result, "services.a.deploy.placement.constraints[3]", "warning")
    assert a.strategy is not None and (a.strategy.maxSurge, a.strategy.maxUnavailable) == (2, 0)
    assert a.annotations == {"team": "web"}


def test_deploy_global_is_daemonset_and_gpu_all() -> None:
    result = imp("""
        services:
          agent:
            image: x
            deploy:
              mode: global
              resources:
                reservations:
                  devices: [{driver: nvidia, capabilities: [gpu], count: all}]
    """)
    agent = comp(result, "agent")
    assert agent.kind is WorkloadKind.DAEMONSET
    assert agent.resources is not None and agent.resources.limits.gpu == 1
    assert any("all" in m for m in notes(result, "services.agent.deploy.resources", "warning"))


@pytest.mark.parametrize(("ports", "kind"), [("", WorkloadKind.JOB), ("ports: ['80']", None)])
def test_restart_policy_none_is_a_job_only_without_ports(
    ports: str, kind: WorkloadKind | None
) -> None:
    result = imp(f"""
        services:
          migrate:
            image: x
            {ports}
            deploy:
              restart_policy: {{condition: on-failure, max_attempts: 4}}
    """)
    migrate = comp(result, "migrate")
    assert migrate.kind is kind
    assert notes(result, "services.migrate.deploy.restart_policy")
    if kind is WorkloadKind.JOB:
        assert migrate.job is not None and migrate.job.backoffLimit == 4


def test_legacy_resource_keys_and_gpus() -> None:
    result = imp(
        "services:\n  a:\n    image: x\n    cpus: 1.5\n    mem_limit: 1g\n"
        "    mem_reservation: 268435456\n    gpus: all\n"
    )
    resources = comp(result, "a").resources
    assert resources is not None
    assert (resources.limits.cpu, resources.limits.memory, resources.limits.gpu) == (
        "1500m",
        "1Gi",
        1,
    )
    assert resources.requests.memory == "256Mi"


@pytest.mark.parametrize(
    ("value", "quantity"),
    [
        ("1.5G", "1536Mi"),
        ("512M", "512Mi"),
        ("1g", "1Gi"),
        ("100k", "100Ki"),
        ("2gb", "2Gi"),
        (1073741824, "1Gi"),
        (1000, "1000"),
        ("1.5k", "1536"),
    ],
)
def test_memory_quantities(value: object, quantity: str) -> None:
    assert memory_quantity(value, "x") == quantity


@pytest.mark.parametrize(
    ("value", "quantity"), [("0.5", "500m"), (2, "2"), ("1.25", "1250m"), (0.0001, "1m")]
)
def test_cpu_quantities(value: object, quantity: str) -> None:
    assert cpu_quantity(value, "x") == quantity


@pytest.mark.parametrize(
    ("value", "seconds"), [("1m30s", 90.0), ("10s", 10.0), ("500ms", 0.5), ("1h", 3600.0), (5, 5.0)]
)
def test_durations(value: object, seconds: float) -> None:
    assert duration_seconds(value, "x") == seconds


@pytest.mark.parametrize(
    ("deploy", "field"),
    [
        ("{resources: {limits: {memory: lots}}}", "services.a.deploy.resources.limits.memory"),
        ("{resources: {limits: {cpus: half}}}", "services.a.deploy.resources.limits.cpus"),
        ("{replicas: two}", "services.a.deploy.replicas"),
    ],
)
def test_bad_deploy_values(deploy: str, field: str) -> None:
    assert error_for(f"services:\n  a:\n    image: x\n    deploy: {deploy}\n").field == field


# --- volumes, binds, tmpfs, configs --------------------------------------------------------


def test_named_volumes_short_and_long() -> None:
    result = imp("""
        services:
          db:
            image: postgres:16
            volumes:
              - pg_data:/var/lib/postgresql/data
              - type: volume
                source: pg_conf
                target: /etc/postgresql
                read_only: true
                volume: {subpath: conf}
              - /var/cache/anon
        volumes:
          pg_data:
          pg_conf:
    """)
    volumes = [(v.name, v.mountPath, v.readOnly, v.subPath) for v in comp(result, "db").volumes]
    assert volumes == [
        ("pg-data", "/var/lib/postgresql/data", False, None),
        ("pg-conf", "/etc/postgresql", True, "conf"),
        ("anon", "/var/cache/anon", False, None),
    ]
    assert notes(result, "services.db.volumes[2]", "info")


def test_bind_mounts(tmp_path: Path) -> None:
    (tmp_path / "nginx.conf").write_text("events {}\n")
    (tmp_path / "static").mkdir()
    (tmp_path / "logo.bin").write_bytes(b"\x00\x01\x02")
    (tmp_path / "big.txt").write_text("x" * (1024 * 1024 + 1))
    result = imp(
        """
        services:
          web:
            image: nginx:1.27
            volumes:
              - ./nginx.conf:/etc/nginx/nginx.conf:ro
              - ./static:/usr/share/nginx/html
              - ./missing.conf:/etc/app/app.conf
              - ./data:/data/db
              - ./logo.bin:/srv/logo.bin
              - ./big.txt:/srv/big.txt
              - /var/run/docker.sock:/var/run/docker.sock
              - /proc:/host/proc:ro
              - ../escape.conf:/etc/escape.conf
        """,
        base_dir=tmp_path,
    )
    web = comp(result, "web")
    assert [(f.path, f.content) for f in web.configFiles] == [
        ("/etc/nginx/nginx.conf", "events {}\n"),
        ("/etc/app/app.conf", ""),
        ("/etc/escape.conf", ""),
    ]
    assert [(v.name, v.mountPath) for v in web.volumes] == [
        ("static", "/usr/share/nginx/html"),
        ("data", "/data/db"),
    ]
    assert notes(result, "services.web.volumes[1]", "info")
    assert any("paste" in m for m in notes(result, "services.web.volumes[2]", "warning"))
    assert notes(result, "services.web.volumes[4]", "warning")
    assert notes(result, "services.web.volumes[5]", "warning")
    assert notes(result, "services.web.volumes[6]", "error")
    assert notes(result, "services.web.volumes[7]", "error")
    assert any("outside" in m for m in notes(result, "services.web.volumes[8]", "warning"))
    assert "docker.sock" not in json.dumps(web.model_dump(mode="json"))


def test_same_named_volume_in_two_services() -> None:
    result = imp("""
        services:
          a: {image: x, volumes: ["shared:/data"]}
          b: {image: x, volumes: ["shared:/srv"]}
        volumes: {shared: {}}
    """)
    assert comp(result, "a").volumes[0].name == comp(result, "b").volumes[0].name == "shared"
    [message] = notes(result, "volumes.shared", "warning")
    assert "a, b" in message


def test_tmpfs_forms() -> None:
    result = imp("""
        services:
          a: {image: x, tmpfs: /run}
          b:
            image: x
            tmpfs: ["/tmp:size=64m", /var/cache]
            volumes: [{type: tmpfs, target: /scratch}]
            shm_size: 256m
    """)
    assert comp(result, "a").tmpfs == ["/run"]
    assert comp(result, "b").tmpfs == ["/tmp", "/var/cache", "/scratch", "/dev/shm"]


def test_configs(tmp_path: Path) -> None:
    (tmp_path / "app.ini").write_text("[main]\nx=1\n")
    result = imp(
        """
        services:
          a:
            image: x
            configs:
              - app_ini
              - source: inline
                target: /etc/inline.conf
                mode: 0440
        configs:
          app_ini: {file: ./app.ini}
          inline: {content: "hello ${WHO}"}
        """,
        base_dir=tmp_path,
        environ={"WHO": "world"},
    )
    files = [(f.path, f.content, f.mode) for f in comp(result, "a").configFiles]
    assert files == [
        ("/app_ini", "[main]\nx=1\n", None),
        ("/etc/inline.conf", "hello world", 0o440),
    ]


def test_relative_container_path_is_an_error() -> None:
    err = error_for("services:\n  a:\n    image: x\n    volumes: ['data:relative']\n")
    assert err.field == "services.a.volumes[0]"


# --- security and everything else ----------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "uid", "gid", "severity"),
    [
        ('"999"', 999, None, None),
        ('"999:998"', 999, 998, None),
        ("postgres", None, None, "warning"),
        ("root", 0, None, "warning"),
    ],
)
def test_user(user: str, uid: int | None, gid: int | None, severity: str | None) -> None:
    result = imp(f"services:\n  a:\n    image: x\n    user: {user}\n")
    security = comp(result, "a").security
    assert (security.runAsUser, security.runAsGroup) == (uid, gid)
    assert bool(notes(result, "services.a.user", severity)) is (severity is not None)
    assert security.has_exception("runAsRoot") is (uid == 0)


def test_capabilities_privileged_network_mode() -> None:
    result = imp("""
        services:
          a:
            image: x
            cap_add: [NET_ADMIN, CAP_SYS_TIME]
            cap_drop: [ALL]
            privileged: true
            network_mode: host
            read_only: true
    """)
    security = comp(result, "a").security
    assert security.capabilities.add == ["NET_ADMIN", "SYS_TIME"]
    [exception] = security.exceptions
    assert exception.setting == "capabilities" and "NET_ADMIN" in exception.reason
    assert notes(result, "services.a.privileged", "error")
    assert notes(result, "services.a.network_mode", "warning")
    assert notes(result, "services.a.cap_drop", "info")
    assert not notes(result, "services.a.read_only")


def test_depends_on_labels_working_dir() -> None:
    result = imp("""
        services:
          web:
            image: x
            working_dir: /srv
            depends_on:
              db: {condition: service_healthy}
              ghost: {condition: service_started}
            labels: ["com.example.team=web", "bad key!=x"]
            annotations: {note: hi}
          db: {image: y}
          worker:
            image: z
            depends_on: [db, web]
    """)
    web = comp(result, "web")
    assert web.workingDir == "/srv"
    assert web.dependsOn == ["db"]
    assert comp(result, "worker").dependsOn == ["db", "web"]
    assert notes(result, "services.web.depends_on.ghost", "warning")
    assert notes(result, "services.web.depends_on.db", "info")
    assert web.annotations == {"com.example.team": "web", "note": "hi"}
    assert notes(result, "services.web.labels", "warning")


def test_other_keys_are_noted_never_dropped_silently() -> None:
    result = imp("""
        services:
          a:
            image: x
            restart: always
            container_name: a1
            networks: [front]
            hostname: a
            logging: {driver: json-file}
            stop_grace_period: 1m
            extra_hosts: ["host.docker.internal:host-gateway"]
            dns: 8.8.8.8
            ulimits: {nofile: 65535}
            sysctls: {net.core.somaxconn: 1024}
            init: true
            pid: host
            ipc: shareable
            profiles: [debug]
            platform: linux/arm64
            pull_policy: always
            stdin_open: true
            tty: true
            x-custom: 1
            made_up_key: 1
    """)
    severities = {n.source.removeprefix("services.a."): n.severity for n in result.notes}
    for key in (
        "restart",
        "container_name",
        "networks",
        "hostname",
        "logging",
        "profiles",
        "pull_policy",
        "stdin_open",
        "tty",
        "x-custom",
        "platform",
    ):
        assert severities[key] == "info", key
    for key in (
        "stop_grace_period",
        "extra_hosts",
        "dns",
        "ulimits",
        "sysctls",
        "init",
        "ipc",
        "made_up_key",
    ):
        assert severities[key] == "warning", key
    assert severities["pid"] == "error"
    assert "made_up_key" in notes(result, "services.a.made_up_key")[0]
    assert comp(result, "a").scheduling.nodeSelector == {
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "arm64",
    }


def test_every_spec_service_key_is_handled() -> None:
    spec = json.loads(SPEC.read_text())
    service_keys = set(spec["definitions"]["service"]["properties"])
    from services.planner.compose.service import _EXPLICIT

    known = set(HANDLERS) | set(INFO_KEYS) | set(WARNING_KEYS) | _EXPLICIT
    assert service_keys - known == set()
    from services.planner.compose.importer import TOP_LEVEL_KEYS

    assert set(spec["properties"]) == TOP_LEVEL_KEYS


def test_extends_in_the_same_file() -> None:
    result = imp("""
        services:
          base:
            image: app:1
            environment: {LEVEL: info, MODE: base}
          worker:
            extends: base
            environment: {MODE: worker}
            command: work
    """)
    worker = comp(result, "worker")
    assert worker.image == "app:1" and worker.args == ["work"]
    assert worker.env == {"LEVEL": "info", "MODE": "worker"}


# --- names ---------------------------------------------------------------------------------


def test_service_names_become_dns_labels() -> None:
    result = imp(f"""
        services:
          My_Service.1: {{image: x}}
          web_1: {{image: x}}
          web-1: {{image: x}}
          {"x" * 60}: {{image: x}}
    """)
    names = [c.name for c in result.requirements.components]
    assert names == ["my-service-1", "web-1", "web-1-2", "x" * 40]
    assert notes(result, "services.My_Service.1", "info")


def test_chart_name_sources(tmp_path: Path) -> None:
    folder = tmp_path / "My App_v2"
    folder.mkdir()
    text = "services:\n  a: {image: x}\n"
    assert imp(text).requirements.name == "app"
    assert imp(text, base_dir=folder).requirements.name == "my-app-v2"
    assert imp("name: shop\n" + text).requirements.name == "shop"
    assert imp(text, name="Given Name").requirements.name == "given-name"


def test_looks_like_compose() -> None:
    assert looks_like_compose({"services": {"web": {"image": "x"}}})
    assert not looks_like_compose({"services": {}, "components": []})
    assert not looks_like_compose({"services": ["web"]})
    assert not looks_like_compose(["services"])
    assert not looks_like_compose(None)


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("", "<file>", "empty"),
        ("   \n# only a comment\n", "<file>", "empty"),
        ("\x00\x01\x02\x03 binary" * 50, "<file>", "binary"),
        ("- web\n- db\n", "<file>", "list"),
        ("just text", "<file>", "services"),
        ("services:\n  a: {image: x}\nfoo: 1\n", "foo", "x-"),
        ("services:\n  web:\n    image: x\n    ports: 5\n", "services.web.ports", "list"),
        ("volumes: {}\n", "services", "services"),
        ("services:\n  web: nginx\n", "services.web", "mapping"),
        ("services: {}\n", "services", "at least one"),
        ("services: [\n", "<file>", "line"),
        ("services:\n  a: {image: x}\n  a: {image: y}\n", "<file>", "twice"),
        (
            "services:\n  web:\n    image: x\n    environment: 5\n",
            "services.web.environment",
            "list",
        ),
    ],
)
def test_input_errors_name_the_field(text: str, field: str, words: str) -> None:
    err = error_for(text)
    assert err.field == field
    assert words in err.message


def test_ten_megabytes_is_refused_before_parsing() -> None:
    text = "services:\n  a: {image: x}\n" + "# " + "x" * (10 * 1024 * 1024) + "\n"
    err = error_for(text)
    assert err.field == "<file>" and "MB" in err.message


def test_yaml_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    text = "x-bomb:\n" + "\n".join("  " + line for line in lines) + "\nservices:\n  a: {image: x}\n"
    err = error_for(text)
    assert err.field == "<file>" and "alias" in err.message


def test_deep_nesting_is_refused() -> None:
    err = error_for("services: " + "[" * 3000 + "]" * 3000 + "\n")
    assert err.field == "<file>" and "nested" in err.message


def test_fixture_files_import() -> None:
    fixture = FIXTURES / "full" / "compose.yaml"
    result = import_compose(fixture.read_text(), base_dir=fixture.parent, environ={"TAG": "1.4"})
    web = comp(result, "web")
    assert web.image == "ghcr.io/acme/web:1.4"
    assert web.configFiles[0].content.startswith("server {")
    assert web.envFiles["LOG_LEVEL"] == "info"
    assert isinstance(web.env["SESSION_SECRET"], SecretRef)
    assert "fixture-session-secret" not in result.model_dump_json()


def test_config_file_calling_a_sibling_host_renders_it_from_the_service_name() -> None:
    fixture = FIXTURES / "full" / "compose.yaml"
    result = import_compose(fixture.read_text(), base_dir=fixture.parent, environ={})
    config = comp(result, "web").configFiles[0]
    assert "http://{host:api}:8000" in config.content and config.serviceRefs
    assert config.links() == [("api", 8000)]
    [message] = notes(result, "services.web.volumes[0]", "info")
    assert "'api' (component api)" in message and "any release name" in message


def test_yaml_merge_keys_may_be_overridden() -> None:
    result = imp("""
        x-base: &base
          image: app:1
          restart: always
        services:
          a:
            <<: *base
            image: app:2
    """)
    assert comp(result, "a").image == "app:2"


def test_traefik_labels_give_the_port_and_the_ingress_and_docker_provider_traefik_is_off() -> None:
    result = imp(
        """
        services:
          proxy:
            image: traefik:v3.1
            command: ["--providers.docker=true", "--entrypoints.websecure.address=:443"]
          front:
            image: ghcr.io/acme/front:1.0
            labels:
              - traefik.enable=true
              - traefik.http.routers.front.rule=Host(`shop.example.com`)
              - traefik.http.services.front.loadbalancer.server.port=80
          api:
            image: ghcr.io/acme/api:1.0
            labels:
              traefik.http.services.api.loadbalancer.server.port: "3000"
              traefik.http.routers.api.rule: (Host(`a.example.com`) || Host(`b.example.com`)) && !PathPrefix(`/v1`)
        """
    )
    front, api, proxy = comp(result, "front"), comp(result, "api"), comp(result, "proxy")
    assert [(p.name, p.port) for p in front.ports] == [("http", 80)]
    assert (
        front.ingress is not None and front.ingress.host == "shop.example.com" and front.ingress.tls
    )
    assert [p.port for p in api.ports] == [3000] and api.ingress is None
    assert (
        "not a single host name"
        in notes(result, "services.api.labels.traefik.http.routers.api.rule")[0]
    )
    assert proxy.enabled is False
    assert "Docker provider" in notes(result, "services.proxy", "warning")[0]
