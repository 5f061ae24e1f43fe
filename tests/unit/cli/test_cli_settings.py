"""CliSettings reads exactly the variables the CLI always read, with the same meanings."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.cli.environment import child_environment, shell_environment
from services.cli.remote import client, gateway_url
from services.cli.settings import CliSettings
from services.cli.terminal import colour_enabled

VARIABLES = (
    "AUTOPILOT_GATEWAY",
    "AUTOPILOT_API_KEY",
    "AUTOPILOT_DEBUG",
    "AUTOPILOT_DATABASE_URL",
    "AUTOPILOT_WEBHOOK_SECRET",
    "NO_COLOR",
    "TERM",
    "PAGER",
    "VISUAL",
    "EDITOR",
)


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No CLI variable set."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


class _Tty:
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        """Always a terminal."""
        return True


def test_defaults_without_variables(clean: pytest.MonkeyPatch) -> None:
    settings = CliSettings()
    assert settings.gateway is None and settings.api_key is None and not settings.debug
    assert settings.colour_allowed
    assert settings.pager_command == "less -R" and settings.editor_command == "vi"
    assert gateway_url(None) == "http://127.0.0.1:8080"


def test_each_variable_by_its_exact_name(clean: pytest.MonkeyPatch) -> None:
    clean.setenv("AUTOPILOT_GATEWAY", "http://gw:9/v1/")
    clean.setenv("AUTOPILOT_API_KEY", "k-123")
    clean.setenv("EDITOR", "nano")
    clean.setenv("PAGER", "more")
    assert gateway_url(None) == "http://gw:9"
    assert gateway_url("http://other") == "http://other"
    with client(None) as http:
        assert http.headers["Authorization"] == "Bearer k-123"
    settings = CliSettings()
    assert settings.editor_command == "nano" and settings.pager_command == "more"
    clean.setenv("VISUAL", "code -w")
    assert CliSettings().editor_command == "code -w"


def test_unrelated_or_differently_cased_names_are_not_read(clean: pytest.MonkeyPatch) -> None:
    # Field names and lower case are not variables: DEBUG=1 or no_color=1 change nothing.
    for name in ("DEBUG", "GATEWAY", "API_KEY", "no_color", "autopilot_debug"):
        clean.setenv(name, "1")
    settings = CliSettings()
    assert not settings.debug and settings.gateway is None and settings.api_key is None
    assert settings.colour_allowed


def test_colour_off_with_no_color_or_a_dumb_terminal(clean: pytest.MonkeyPatch) -> None:
    assert colour_enabled(_Tty())  # type: ignore[arg-type]
    clean.setenv("NO_COLOR", "")  # empty is unset, as https://no-color.org says
    assert colour_enabled(_Tty())  # type: ignore[arg-type]
    clean.setenv("NO_COLOR", "1")
    assert not colour_enabled(_Tty())  # type: ignore[arg-type]
    clean.delenv("NO_COLOR")
    clean.setenv("TERM", "dumb")
    assert not colour_enabled(_Tty())  # type: ignore[arg-type]


def test_an_empty_webhook_secret_is_no_secret(clean: pytest.MonkeyPatch) -> None:
    from services.cli.commands.webhooks import read_secret

    clean.setenv("AUTOPILOT_WEBHOOK_SECRET", "")
    assert read_secret(None)[1] is True  # generated
    clean.setenv("AUTOPILOT_WEBHOOK_SECRET", " s3cret \n")
    assert read_secret(None) == ("s3cret", False)


def test_environments_for_compose_and_children(clean: pytest.MonkeyPatch) -> None:
    clean.setenv("AUTOPILOT_NATS_URL", "nats://x")
    clean.setenv("SHOP_TAG", "1.2")
    assert shell_environment()["SHOP_TAG"] == "1.2"
    child = child_environment({"EXTRA": "y"}, without=("AUTOPILOT_NATS_URL",))
    assert child["EXTRA"] == "y" and child["SHOP_TAG"] == "1.2"
    assert "AUTOPILOT_NATS_URL" not in child


def test_processes_that_render_get_the_helm_gogc_unless_one_is_set(
    clean: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from services.cli.environment import HELM_GOGC
    from services.cli.local import Child, service_env
    from shared.infra.embedded import Servers

    clean.delenv("GOGC", raising=False)
    assert "GOGC" not in child_environment()  # not every child renders (nats-server is Go too)
    assert child_environment(renders=True)["GOGC"] == HELM_GOGC == "200"
    servers = Servers(nats_url="nats://127.0.0.1:1", database_url="postgresql://x@127.0.0.1:1/x")
    env = service_env(servers, "k" * 32, Child("validator", 1), tmp_path)
    assert env["GOGC"] == HELM_GOGC
    clean.setenv("GOGC", "50")  # the user's own setting wins
    assert child_environment(renders=True)["GOGC"] == "50"
    assert service_env(servers, "k" * 32, Child("validator", 1), tmp_path)["GOGC"] == "50"
