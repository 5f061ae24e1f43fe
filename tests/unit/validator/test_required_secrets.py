"""Secrets the chart cannot generate: an install without them fails at once, naming them."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from services.generator.docs import CI_SECRET_PLACEHOLDER
from services.generator.engine import generate_chart
from services.planner.engine import plan_chart
from services.validator.engine import render_objects, validate_chart
from services.validator.helm import PLACEHOLDER, load_values_sets
from shared.models.requirements import ChartRequirements

RELEASE = "rel"
NAMESPACE = "apps"


def _requirements() -> ChartRequirements:
    return ChartRequirements.model_validate(
        {
            "name": "pay",
            "components": [
                {
                    "name": "api",
                    "image": "ghcr.io/acme/pay:1.2.0",
                    "ports": [{"port": 8080}],
                    "env": {
                        "STRIPE_API_KEY": {"secret": "stripe-api-key"},
                        "WEBHOOK_TOKEN": {"secret": "webhook-token"},
                        "DB_PASSWORD": {"secret": "db-password"},
                    },
                }
            ],
            "secrets": [
                {"name": "stripe-api-key"},
                {"name": "webhook-token"},
                {"name": "db-password", "generate": True},
            ],
        }
    )


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_chart(plan_chart(_requirements()), tmp_path_factory.mktemp("pay")).chart_dir


def _render(chart: Path, values: dict[str, Any] | None) -> dict[str, str]:
    with helm_python.Chart.load(str(chart)) as loaded:
        return loaded.render(values, name=RELEASE, namespace=NAMESPACE)


def _secret(objs: list[dict[str, Any]]) -> dict[str, str]:
    secret = next(o for o in objs if o["kind"] == "Secret")
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def test_install_without_required_secrets_fails_naming_every_one(chart: Path) -> None:
    with pytest.raises(helm_python.HelmError) as err:
        _render(chart, None)
    message = str(err.value)
    assert "secrets.values.stripe-api-key, secrets.values.webhook-token are required" in message
    assert "secrets.existingSecret" in message
    assert "db-password" not in message  # generated, so never required
    with pytest.raises(helm_python.HelmError, match=r"secrets\.values\.webhook-token is required"):
        _render(chart, {"secrets": {"values": {"stripe-api-key": "sk_live"}}})


def test_given_secrets_or_an_existing_secret_install(chart: Path) -> None:
    given = {"secrets": {"values": {"stripe-api-key": "sk_live", "webhook-token": "wh"}}}
    rendered = _render(chart, given)
    objs = [
        d
        for k, t in rendered.items()
        if not k.endswith("NOTES.txt")
        for d in yaml.safe_load_all(t)
        if d
    ]
    data = _secret(objs)
    assert data["stripe-api-key"] == "sk_live" and data["webhook-token"] == "wh"
    assert len(data["db-password"]) == 32
    external = _render(chart, {"secrets": {"existingSecret": "pay-credentials"}})
    assert "kind: Secret" not in "".join(external.values())


def test_ci_files_carry_labelled_placeholders_except_existing_secret(chart: Path) -> None:
    files = {p.name: yaml.safe_load(p.read_text()) for p in (chart / "ci").glob("*-values.yaml")}
    assert "existing-secret-values.yaml" in files and len(files) > 1
    for name, values in files.items():
        if name == "existing-secret-values.yaml":
            assert "values" not in values["secrets"]
            continue
        assert values["secrets"]["values"] == {
            "stripe-api-key": CI_SECRET_PLACEHOLDER,
            "webhook-token": CI_SECRET_PLACEHOLDER,
        }
        assert "placeholder" in (chart / "ci" / name).read_text().splitlines()[0]
        _render(chart, values)  # installs


def test_validator_renders_defaults_with_placeholders_and_proves_the_gate(chart: Path) -> None:
    sets, _ = load_values_sets(chart)
    assert sets[0].values == {
        "secrets": {"values": {"stripe-api-key": PLACEHOLDER, "webhook-token": PLACEHOLDER}}
    }
    report = validate_chart(chart, release=RELEASE)
    assert report.passed, [f for f in report.findings if f.severity != "info"]
    gate = [f for f in report.findings if f.check == "required-secrets"]
    assert len(gate) == 1 and gate[0].severity == "info"
    assert "secrets.values.stripe-api-key" in gate[0].message and PLACEHOLDER in gate[0].message
    assert _secret(render_objects(chart, release=RELEASE))["stripe-api-key"] == PLACEHOLDER


def test_validator_flags_a_chart_that_installs_with_empty_required_secrets(
    chart: Path, tmp_path: Path
) -> None:
    import shutil

    broken = tmp_path / "pay"
    shutil.copytree(chart, broken)
    template = broken / "templates" / "_chart.tpl"  # the Secret's named template
    template.write_text(template.read_text().replace("{{- if $missing }}", "{{- if false }}"))
    report = validate_chart(broken, release=RELEASE)
    gate = [f for f in report.findings if f.check == "required-secrets"]
    assert gate and gate[0].severity == "error" and "succeeds" in gate[0].message


def test_readme_documents_the_choice(chart: Path) -> None:
    readme = (chart / "README.md").read_text()
    assert "`secrets.values.stripe-api-key`" in readme and "fails at once" in readme
    assert PLACEHOLDER not in (chart / "values.yaml").read_text()
    assert "placeholder" in readme
