"""Multi-file Compose: `extends` from another file and override files merged by Compose's rules."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from services.cli.common import read_override
from services.planner.compose.importer import ImportResult, compose_model, import_compose
from services.planner.compose.load import parse_yaml
from services.planner.compose.merge import (
    merge_documents,
    merge_service,
    override_file,
    strip_tags,
)
from shared.errors import InputError
from shared.models.requirements import Component


def write(folder: Path, name: str, text: str) -> Path:
    """A dedented file under `folder`, its parents created."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def imp(text: str, **kwargs: Any) -> ImportResult:
    """Import a dedented Compose text (and override texts) with an empty environment."""
    kwargs.setdefault("environ", {})
    kwargs["overrides"] = [textwrap.dedent(o) for o in kwargs.get("overrides", ())]
    return import_compose(textwrap.dedent(text), **kwargs)


def comp(result: ImportResult, name: str) -> Component:
    """The component called `name`."""
    return next(c for c in result.requirements.components if c.name == name)


def error_for(text: str, **kwargs: Any) -> InputError:
    """The InputError importing `text` raises."""
    with pytest.raises(InputError) as info:
        imp(text, **kwargs)
    return info.value


def merged(base: str, over: str) -> dict[str, Any]:
    """Two YAML service definitions merged, tags resolved."""
    return dict(strip_tags(merge_service(parse_yaml(base), parse_yaml(over))))


# --- extends: {file: ...} ------------------------------------------------------------------


def test_extends_a_service_of_another_file_with_its_paths(tmp_path: Path) -> None:
    write(tmp_path, "common/app.env", "LEVEL=info\n")
    write(tmp_path, "common/conf/app.conf", "listen 80;\n")
    write(
        tmp_path,
        "common/services.yaml",
        """
        services:
          base:
            image: app:1
            build: ./src
            env_file: ./app.env
            environment: {MODE: base, KEEP: yes}
            volumes:
              - ./conf/app.conf:/etc/app.conf:ro
              - data:/data
        """,
    )
    result = imp(
        """
        services:
          web:
            extends: {file: common/services.yaml, service: base}
            environment: {MODE: web}
        volumes:
          data: {}
        """,
        base_dir=tmp_path,
    )
    web = comp(result, "web")
    assert web.image == "app:1"
    assert web.envFiles == {"LEVEL": "info"}
    assert web.env["MODE"] == "web" and web.env["KEEP"] == "yes"
    assert [(f.path, f.content) for f in web.configFiles] == [("/etc/app.conf", "listen 80;\n")]
    assert [v.mountPath for v in web.volumes] == ["/data"]
    model = compose_model(
        "services:\n  web:\n    extends: {file: common/services.yaml, service: base}\n",
        base_dir=tmp_path,
    )
    assert model["services"]["web"]["build"] == "./common/src"
    assert "extends" not in model["services"]["web"]
    messages = [n.message for n in result.notes if n.source == "services.web.extends"]
    assert any("common/services.yaml" in m for m in messages)


def test_extends_chains_across_files_relative_to_each_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        "base.yaml",
        """
        services:
          root:
            image: app:1
            environment: [A=root, B=root]
            volumes: [./root-data:/srv/root]
        """,
    )
    write(
        tmp_path,
        "sub/middle.yaml",
        """
        services:
          middle:
            extends: {file: ../base.yaml, service: root}
            environment: [B=middle]
            volumes: [./middle-data:/srv/middle]
          plain:
            extends: middle
            environment: [C=plain]
        """,
    )
    model = compose_model(
        "services:\n  app:\n    extends: {file: sub/middle.yaml, service: plain}\n",
        base_dir=tmp_path,
    )
    app = model["services"]["app"]
    assert app["image"] == "app:1"
    assert app["environment"] == {"A": "root", "B": "middle", "C": "plain"}
    assert app["volumes"] == ["./root-data:/srv/root", "./sub/middle-data:/srv/middle"]


def test_extends_cycle_across_files_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "services:\n  x:\n    extends: {file: b.yaml, service: y}\n")
    write(tmp_path, "b.yaml", "services:\n  y:\n    extends: {file: a.yaml, service: x}\n")
    err = error_for(
        "services:\n  web:\n    extends: {file: a.yaml, service: x}\n", base_dir=tmp_path
    )
    assert "loops back" in err.message
    assert err.field is not None and err.field.endswith("services.y.extends")


def test_extends_missing_file_or_service_names_the_field(tmp_path: Path) -> None:
    write(tmp_path, "common.yaml", "services:\n  base:\n    image: x\n")
    err = error_for(
        "services:\n  web:\n    extends: {file: nope.yaml, service: base}\n", base_dir=tmp_path
    )
    assert err.field == "services.web.extends.file" and "nope.yaml" in err.message
    err = error_for(
        "services:\n  web:\n    extends: {file: common.yaml, service: other}\n",
        base_dir=tmp_path,
    )
    assert err.field == "services.web.extends.service" and "'other'" in err.message
    err = error_for("services:\n  web:\n    extends: {file: common.yaml, service: base}\n")
    assert err.field == "services.web.extends.file" and "folder" in err.message


@pytest.mark.parametrize("ref", ["../outside.yaml", "~/outside.yaml", "ABSOLUTE"])
def test_extends_file_outside_base_dir_is_refused(tmp_path: Path, ref: str) -> None:
    project = tmp_path / "project"
    outside = write(tmp_path, "outside.yaml", "services:\n  base:\n    image: secret:1\n")
    project.mkdir()
    ref = str(outside) if ref == "ABSOLUTE" else ref
    err = error_for(
        f"services:\n  web:\n    extends: {{file: '{ref}', service: base}}\n", base_dir=project
    )
    assert err.field == "services.web.extends.file"
    assert "outside the Compose file's folder" in err.message


def test_extends_file_by_absolute_path_inside_base_dir_is_read(tmp_path: Path) -> None:
    common = write(tmp_path, "common.yaml", "services:\n  base:\n    image: app:2\n")
    result = imp(
        f"services:\n  web:\n    extends: {{file: '{common}', service: base}}\n",
        base_dir=tmp_path,
    )
    assert comp(result, "web").image == "app:2"


def test_extended_file_variables_are_interpolated_and_errors_name_that_file(
    tmp_path: Path,
) -> None:
    write(tmp_path, "common.yaml", "services:\n  base:\n    image: ${IMAGE:?set IMAGE}\n")
    text = "services:\n  web:\n    extends: {file: common.yaml, service: base}\n"
    assert comp(imp(text, base_dir=tmp_path, environ={"IMAGE": "app:3"}), "web").image == "app:3"
    err = error_for(text, base_dir=tmp_path)
    assert err.field == "common.yaml:services.base.image" and "set IMAGE" in err.message


# --- override files ------------------------------------------------------------------------


def test_override_file_is_merged_and_noted() -> None:
    result = imp(
        """
        services:
          db:
            image: postgres:16
            secrets: [db_password]
            environment:
              POSTGRES_PASSWORD_FILE: /run/secrets/db_password
        """,
        overrides=[
            """
            secrets:
              db_password:
                environment: DB_PASSWORD
            services:
              db:
                image: postgres:17
                environment: {POSTGRES_DB: app}
            """
        ],
        override_names=["docker-compose.override.yml"],
        environ={"DB_PASSWORD": "s3cret-value"},
    )
    db = comp(result, "db")
    assert db.image == "postgres:17"
    assert db.env["POSTGRES_DB"] == "app"
    assert [f.path for f in db.secretFiles] == ["/run/secrets/db_password"]
    assert any(
        n.source == "docker-compose.override.yml" and n.severity == "info" for n in result.notes
    )


def test_override_errors_name_the_override_file() -> None:
    err = error_for(
        "services:\n  web: {image: x}\n",
        overrides=["services: [oops\n"],
        override_names=["compose.override.yaml"],
    )
    assert err.message.startswith("compose.override.yaml:")
    err = error_for("services:\n  web: {image: x}\n", overrides=["bogus: 1\n"])
    assert err.field == "bogus"


def test_mappings_merge_recursively() -> None:
    assert merged(
        "{image: a, deploy: {resources: {limits: {cpus: '1'}}, replicas: 2}}",
        "{deploy: {resources: {limits: {memory: 1G}}}, user: '1000'}",
    ) == {
        "image": "a",
        "deploy": {"resources": {"limits": {"cpus": "1", "memory": "1G"}}, "replicas": 2},
        "user": "1000",
    }


@pytest.mark.parametrize(
    ("key", "base", "over", "expected"),
    [
        (
            "ports",
            '["80:80", "443:443"]',
            '["443:443", "8080:80"]',
            ["80:80", "443:443", "8080:80"],
        ),
        ("expose", "[80]", "[80, 81]", [80, 81]),
        ("external_links", "[a]", "[a, b]", ["a", "b"]),
        ("dns", "1.1.1.1", "[1.1.1.1, 8.8.8.8]", ["1.1.1.1", "8.8.8.8"]),
        ("dns_search", "[a.example]", "[b.example]", ["a.example", "b.example"]),
        ("tmpfs", "/tmp", "[/tmp, /run]", ["/tmp", "/run"]),
    ],
)
def test_sequences_append_what_is_new(key: str, base: str, over: str, expected: Any) -> None:
    assert merged(f"{{{key}: {base}}}", f"{{{key}: {over}}}")[key] == expected


def test_environment_and_labels_merge_by_key() -> None:
    result = merged(
        "{environment: [A=1, B=2, C], labels: {team: web, tier: front}}",
        "{environment: {B: 3, D: 4}, labels: [tier=back]}",
    )
    assert result["environment"] == {"A": "1", "B": 3, "C": None, "D": 4}
    assert result["labels"] == {"team": "web", "tier": "back"}


def test_volumes_merge_by_target() -> None:
    result = merged(
        "{volumes: ['data:/data', './conf:/etc/app:ro', {type: volume, source: logs, target: /logs}]}",
        "{volumes: ['other:/data', {type: tmpfs, target: /logs}, 'cache:/cache']}",
    )
    assert result["volumes"] == [
        "other:/data",
        "./conf:/etc/app:ro",
        {"type": "tmpfs", "target": "/logs"},
        "cache:/cache",
    ]


def test_secrets_and_configs_merge_by_target() -> None:
    result = merged(
        "{secrets: [db, {source: api, target: api_key}], configs: [nginx]}",
        "{secrets: [{source: db, mode: 0400}, api_key, tls], configs: [{source: nginx, target: /nginx}]}",
    )
    assert result["secrets"] == [{"source": "db", "mode": 0o400}, "api_key", "tls"]
    assert result["configs"] == [{"source": "nginx", "target": "/nginx"}]


def test_commands_and_healthcheck_tests_are_replaced() -> None:
    result = merged(
        "{command: [a, b], entrypoint: [sh, -c], healthcheck: {test: [CMD, a], interval: 5s}}",
        "{command: [c], entrypoint: [bash], healthcheck: {test: [CMD, b]}}",
    )
    assert result["command"] == ["c"] and result["entrypoint"] == ["bash"]
    assert result["healthcheck"] == {"test": ["CMD", "b"], "interval": "5s"}


def test_depends_on_and_networks_merge_short_and_long_forms() -> None:
    result = merged(
        "{depends_on: [db], networks: [front]}",
        "{depends_on: {cache: {condition: service_healthy}}, networks: {back: {aliases: [x]}}}",
    )
    assert result["depends_on"] == {
        "db": {"condition": "service_started"},
        "cache": {"condition": "service_healthy"},
    }
    assert result["networks"] == {"front": None, "back": {"aliases": ["x"]}}
    assert merged("{depends_on: [db]}", "{depends_on: [db, cache]}")["depends_on"] == [
        "db",
        "cache",
    ]


def test_build_short_form_merges_with_the_long_one() -> None:
    assert merged("{build: ./app}", "{build: {dockerfile: Dockerfile.prod}}")["build"] == {
        "context": "./app",
        "dockerfile": "Dockerfile.prod",
    }
    assert merged("{build: {args: {V: 1, W: 1}}}", "{build: {args: [V=2]}}")["build"] == {
        "args": {"V": "2", "W": 1}
    }


def test_reset_and_override_tags() -> None:
    base = parse_yaml(
        "services: {app: {image: a, ports: ['80:80'], environment: {FOO: bar, X: y}}}"
    )
    over = parse_yaml(
        "services: {app: {ports: !override ['443:443'], environment: {FOO: !reset null}, "
        "healthcheck: !reset {}}}"
    )
    result = strip_tags(merge_documents(base, over))
    assert result["services"]["app"] == {
        "image": "a",
        "ports": ["443:443"],
        "environment": {"X": "y"},
    }
    cleared = strip_tags(merge_documents(base, parse_yaml("services: {app: {ports: !reset []}}")))
    assert "ports" not in cleared["services"]["app"]


def test_reset_in_an_extending_service_clears_the_base_value() -> None:
    result = imp(
        """
        services:
          base:
            image: app:1
            ports: ["8080:80"]
          worker:
            extends: base
            ports: !reset []
            command: !override [work]
        """
    )
    assert comp(result, "worker").ports == []
    assert comp(result, "worker").args == ["work"]
    assert comp(result, "base").ports


# --- finding the override file -------------------------------------------------------------


def test_override_file_follows_docker_compose_names(tmp_path: Path) -> None:
    main = write(tmp_path, "docker-compose.yml", "services: {}\n")
    assert override_file(main) is None
    write(tmp_path, "docker-compose.override.yaml", "services: {}\n")
    assert override_file(main) == tmp_path / "docker-compose.override.yaml"
    write(tmp_path, "compose.override.yml", "services: {}\n")
    assert override_file(main) == tmp_path / "compose.override.yml"  # compose-go's order
    other = write(tmp_path, "prod.yml", "services: {}\n")
    assert override_file(other) is None  # `docker compose -f prod.yml` merges none


def test_cli_reads_the_override_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main = write(tmp_path, "compose.yaml", "services:\n  web: {image: x}\n")
    write(tmp_path, "compose.override.yaml", "services:\n  web: {image: y}\n")
    texts, names = read_override(str(main))
    assert names == ["compose.override.yaml"] and "image: y" in texts[0]
    assert "compose.override.yaml" in capsys.readouterr().err
    assert read_override("-") == ([], [])
