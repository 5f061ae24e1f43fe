"""Every service's /metrics before and after one real workflow through `autopilot up`.

The numbers must move by exactly what one workflow does, every name in deploy/metrics.yaml
must be served by the services it lists (and nothing unlisted), and no label carries an id.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from services.cli.commands.submit import submit
from services.cli.demo import System, scratch_dir, start_system, stop_system
from tests.support.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "examples" / "shop.yaml"
SERVICES = ("gateway", "planner", "generator", "validator")
SWARM_OF = {"planner": "planning", "generator": "generation", "validator": "validation"}
GATES = ("planning_review", "security_review", "deployment_approval")
# A workflow id (uuid4 hex) or any uuid / long hex string in a label value.
ID_LIKE = re.compile(r"[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-|[0-9a-f]{16,}", re.I)

Families = dict[str, Any]
Samples = list[tuple[str, dict[str, str], float]]


@pytest.fixture
def system() -> Iterator[System]:
    with scratch_dir("autopilot-metrics-") as path:
        running = start_system(path)
        try:
            yield running
        finally:
            stop_system(running)


def metrics_urls(system: System, seconds: float = 60) -> dict[str, str]:
    """Each service's /metrics URL, as `autopilot up` printed them, once all of them answer."""

    def printed() -> dict[str, str]:
        """The /metrics URLs of our services `up` has printed so far."""
        log = (system.data_dir / "up.log").read_text(errors="replace")
        urls = dict(re.findall(r"^\s+(\w+)\s+(http://127\.0\.0\.1:\d+/metrics)\s*$", log, re.M))
        return {s: urls[s] for s in SERVICES if s in urls}

    return eventually(
        printed,
        until=lambda urls: set(urls) == set(SERVICES) and all(map(_answers, urls.values())),
        timeout=seconds,
        interval=0.3,
        message="not every service printed and served its /metrics",
    )


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def scrape(url: str) -> Families:
    """The families one /metrics serves, by family name (counters without `_total`)."""
    text = httpx.get(url, timeout=10).text
    return {f.name: f for f in text_string_to_metric_families(text)}


def samples(families: Families) -> Samples:
    """Every sample of our families."""
    return [
        (s.name, dict(s.labels), s.value)
        for f in families.values()
        if f.name.startswith("autopilot_")
        for s in f.samples
    ]


def value(families: Families, name: str, **labels: str) -> float:
    """Sum of the samples called `name` whose labels include `labels`."""
    return sum(v for n, ls, v in samples(families) if n == name and labels.items() <= ls.items())


def catalogue() -> list[dict[str, Any]]:
    return yaml.safe_load((ROOT / "deploy" / "metrics.yaml").read_text())["metrics"]


def family_name(metric: dict[str, Any]) -> str:
    """How the parser names a catalogue entry's family."""
    return metric["name"].removesuffix("_total") if metric["type"] == "counter" else metric["name"]


def scrape_all(urls: dict[str, str]) -> dict[str, Families]:
    return {service: scrape(url) for service, url in urls.items()}


def test_one_workflow_moves_every_service_s_metrics_by_the_right_amounts(
    system: System, tmp_path: Path
) -> None:
    urls = metrics_urls(system)
    before = scrape_all(urls)

    lines: list[str] = []
    code = submit(SHOP.read_bytes(), system.url, tmp_path / "out", yes=True, echo=lines.append)
    assert code == 0, "\n".join(lines)
    (workflow,) = httpx.get(f"{system.url}/v1/workflows").json()["items"]
    assert workflow["status"] == "completed"

    def delta(service: str, name: str, **labels: str) -> float:
        return value(after[service], name, **labels) - value(before[service], name, **labels)

    def counted(scraped: dict[str, Families]) -> bool:
        """Every swarm has counted its request."""
        return all(
            value(scraped[s], "autopilot_swarm_requests_total", swarm=w, outcome="completed")
            - value(before[s], "autopilot_swarm_requests_total", swarm=w, outcome="completed")
            >= 1
            for s, w in SWARM_OF.items()
        )

    # A swarm counts its request after the ack, a hair after the gateway may have finished.
    after = eventually(
        lambda: scrape_all(urls),
        until=counted,
        timeout=20,
        interval=0.3,
        message="a swarm did not count its request",
    )

    gw = "gateway"
    assert delta(gw, "autopilot_workflows_started_total", input_kind="requirements") == 1
    assert delta(gw, "autopilot_workflows_started_total") == 1
    assert delta(gw, "autopilot_workflows_completed_total", input_kind="requirements") == 1
    assert delta(gw, "autopilot_workflows_failed_total") == 0
    assert delta(gw, "autopilot_workflows_rejected_total") == 0
    assert delta(gw, "autopilot_workflow_duration_seconds_count", status="completed") == 1
    for gate in GATES:
        assert delta(gw, "autopilot_gate_decisions_total", gate=gate, decision="approve") == 1, gate
    assert delta(gw, "autopilot_gate_decisions_total") == 3
    # Auto-approved: nobody waited, so the human waiting-time histogram does not move.
    assert delta(gw, "autopilot_gate_wait_seconds_count") == 0
    assert value(after[gw], "autopilot_gate_pending") == 0
    assert delta(gw, "autopilot_chart_checkov_pass_rate_count") == 1
    pass_rate = delta(gw, "autopilot_chart_checkov_pass_rate_sum")
    assert 0.95 <= pass_rate <= 1.0, pass_rate
    assert delta(gw, "autopilot_validation_fix_iterations_count") == 1
    assert delta(gw, "autopilot_checkpoint_write_seconds_count", op="checkpoint") > 0
    assert delta(gw, "autopilot_checkpoint_write_seconds_count", op="writes") > 0
    assert delta(gw, "autopilot_reconciler_redispatches_total") == 0
    for swarm in SWARM_OF.values():
        # The backlog gauges are read from each consumer: all three exist, nothing is queued.
        assert ("autopilot_jetstream_pending", {"swarm": swarm}, 0.0) in samples(after[gw])
        assert ("autopilot_jetstream_ack_pending", {"swarm": swarm}, 0.0) in samples(after[gw])

    for service, swarm in SWARM_OF.items():
        completed = delta(
            service, "autopilot_swarm_requests_total", swarm=swarm, outcome="completed"
        )
        assert completed == 1, service
        assert delta(service, "autopilot_swarm_requests_total") == 1, service
        assert delta(service, "autopilot_swarm_duration_seconds_count", swarm=swarm) == 1, service
        assert delta(service, "autopilot_swarm_failures_total") == 0, service
        assert delta(service, "autopilot_swarm_retries_total") == 0, service
        assert delta(service, "autopilot_dead_letters_total") == 0, service
        assert delta(service, "autopilot_checkpoint_write_seconds_count", op="checkpoint") > 0
        # Offline mode: no model is called.
        assert delta(service, "autopilot_model_calls_total") == 0, service

    check_catalogue(after)
    check_no_ids(after, workflow["id"])


def check_catalogue(scraped: dict[str, Families]) -> None:
    """Each service serves exactly the catalogue's names for it, with the listed labels."""
    for service, families in scraped.items():
        expected = {family_name(m): m for m in catalogue() if service in m["exposed_by"]}
        # The text format shows each counter's and histogram's creation time as `<name>_created`.
        served = {
            name
            for name in families
            if name.startswith("autopilot_")
            and not (name.endswith("_created") and name.removesuffix("_created") in expected)
        }
        assert served == set(expected), (service, served ^ set(expected))
        for name, metric in expected.items():
            for sample in (
                families[name].samples + families.get(f"{name}_created", families[name]).samples
            ):
                labels = set(sample.labels) - {"le"}
                assert labels == set(metric["labels"]), (service, sample)


def check_no_ids(scraped: dict[str, Families], workflow_id: str) -> None:
    """No label value is a workflow id or looks like one."""
    for service, families in scraped.items():
        for name, labels, _ in samples(families):
            for label, text in labels.items():
                assert workflow_id not in text, (service, name, label)
                assert not ID_LIKE.search(text), (service, name, label, text)
