"""Compose input that Compose itself accepts: interpolated numbers, empty host IPs, and errors
that name the unset variable behind an empty field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import helm_python
import pytest
import yaml

from services.generator.engine import generate_chart
from services.planner.compose.importer import import_compose
from services.planner.engine import plan_chart
from shared.errors import InputError
from shared.models.requirements import Component


def _import(text: str, **environ: str) -> dict[str, Component]:
    result = import_compose(textwrap.dedent(text), name="app", environ=environ)
    return {c.name: c for c in result.requirements.components}


def test_interpolated_numbers_are_read_as_numbers() -> None:
    comps = _import(
        """
        services:
          web:
            image: nginx:1.27
            ports: ["${WEB_PORT}:${TARGET}"]
            cpus: ${CPUS}
            mem_limit: ${MEM}
            scale: $REPLICAS
            read_only: ${READ_ONLY}
            healthcheck:
              test: ["CMD", "true"]
              interval: ${INTERVAL}
              retries: $HEALTHCHECK_RETRIES
            deploy:
              resources:
                limits: {cpus: "${LIMIT_CPUS}", memory: "${LIMIT_MEM}"}
        """,
        WEB_PORT="8080",
        TARGET="80",
        CPUS="0.5",
        MEM="512m",
        REPLICAS="2",
        READ_ONLY="true",
        INTERVAL="15s",
        HEALTHCHECK_RETRIES="5",
        LIMIT_CPUS="1.5",
        LIMIT_MEM="1g",
    )
    web = comps["web"]
    assert [p.port for p in web.ports] == [80]
    assert web.replicas == 2
    assert web.probes.liveness is not None and web.probes.liveness.failureThreshold == 5
    assert web.probes.liveness.periodSeconds == 15
    assert web.resources is not None
    assert web.resources.limits.cpu == "1500m" and web.resources.limits.memory == "1Gi"


@pytest.mark.parametrize(
    ("mapping", "port"),
    [(":2283:2283", 2283), ("127.0.0.1::80", 80), ("[::1]::53/udp", 53), (":9000", 9000)],
)
def test_an_empty_host_ip_or_host_port_is_accepted(mapping: str, port: int) -> None:
    comps = _import(f'services: {{web: {{image: "nginx:1.27", ports: ["{mapping}"]}}}}')
    assert [p.port for p in comps["web"].ports] == [port]


def test_unset_variable_that_empties_a_port_is_named() -> None:
    with pytest.raises(InputError) as err:
        _import('services: {web: {image: "nginx:1.27", ports: ["${IMMICH_PORT}"]}}')
    assert err.value.field == "services.web.ports[0]"
    text = str(err.value)
    assert "IMMICH_PORT" in text and "not set" in text and "services.web.ports[0]" in text


def test_unset_variable_that_empties_a_number_is_named() -> None:
    compose = """
        services:
          db:
            image: postgres:16
            healthcheck: {test: ["CMD", "pg_isready"], retries: $HEALTHCHECK_RETRIES}
    """
    with pytest.raises(InputError) as err:
        _import(compose)
    assert err.value.field == "services.db.healthcheck.retries"
    assert "HEALTHCHECK_RETRIES is not set" in str(err.value)
    with pytest.raises(InputError, match="'many' is not a whole number"):
        _import(compose, HEALTHCHECK_RETRIES="many")


def test_unset_variable_that_empties_cpus_is_named() -> None:
    with pytest.raises(InputError) as err:
        _import('services: {web: {image: "nginx:1.27", cpus: "${WEB_CPUS}"}}')
    assert err.value.field == "services.web.cpus" and "WEB_CPUS is not set" in str(err.value)


def test_an_error_unrelated_to_an_unset_variable_is_left_alone() -> None:
    with pytest.raises(InputError) as err:
        _import('services: {web: {image: "nginx:1.27", ports: ["${P}:80", "abc"]}}')
    assert err.value.field == "services.web.ports[1]" and "not set" not in str(err.value)


def test_interpolated_numbers_reach_the_rendered_chart(tmp_path: Path) -> None:
    result = import_compose(
        textwrap.dedent(
            """
            services:
              web:
                image: nginx:1.27
                ports: [":8080:80"]
                healthcheck: {test: ["CMD", "true"], retries: $RETRIES}
                deploy: {resources: {limits: {cpus: "${CPUS}", memory: "${MEM}"}}}
            """
        ),
        name="app",
        environ={"RETRIES": "7", "CPUS": "0.25", "MEM": "256m"},
    )
    chart = generate_chart(plan_chart(result.requirements), tmp_path).chart_dir
    with helm_python.Chart.load(str(chart)) as loaded:
        rendered = loaded.render(None, name="rel", namespace="apps")
    docs = [
        d
        for path, text in rendered.items()
        if not path.endswith("NOTES.txt")
        for d in yaml.safe_load_all(text)
        if d
    ]
    web = next(d for d in docs if d.get("kind") == "Deployment")
    container = web["spec"]["template"]["spec"]["containers"][0]
    assert web["metadata"]["name"] == "rel-app-web"
    assert container["livenessProbe"]["failureThreshold"] == 7
    assert container["resources"]["limits"] == {"cpu": "250m", "memory": "256Mi"}
    assert [p["containerPort"] for p in container["ports"]] == [80]
