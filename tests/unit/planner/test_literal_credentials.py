"""Literal credentials in Compose env defaults and command arguments go to the chart Secret."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.generator.engine import generate_chart
from services.planner.compose.credentials import secret_flag
from services.planner.compose.importer import import_compose
from services.planner.compose.secrets import is_secret_name
from services.planner.engine import plan_chart
from services.validator.engine import render_objects
from shared.models.requirements import SecretRef

COMPOSE = """
services:
  cache:
    image: redis:7.4
    command: redis-server --requirepass myredissecret --appendonly yes
  app:
    image: ghcr.io/acme/app:1.0
    ports: ["8080:8080"]
    environment:
      REDIS_AUTH: myredissecret
      SALT: mysalt
      SECRET_KEY_BASE: abcdef0123456789
      CACHE_KEY_PREFIX: app
      MYSQL_USER: wordpress
    command: ["sh", "-c", "run --password=hunter2 && echo $(date)"]
  db:
    image: mongo:7.0
    command: ["mongod", "--auth", "--bind_ip_all"]
"""


@pytest.mark.parametrize(
    ("name", "value", "secret"),
    [
        ("REDIS_AUTH", "myredissecret", True),
        ("SALT", "mysalt", True),
        ("PASSWORD_SALT", "x", True),
        ("SECRET_KEY_BASE", "x", True),
        ("STRIPE_KEY", "sk_live_x", True),
        ("ENCRYPTION_KEY", "x", True),
        ("MASTER_AUTH", "x", True),
        ("MYSQL_USER", "wordpress", False),
        ("CACHE_KEY_PREFIX", "app", False),
        ("SORT_KEY", "created_at", False),
        ("PUBLIC_KEY", "ssh-ed25519 AAAA", False),
        ("JWT_PUBLIC_KEY", "x", False),
        ("API_KEY_FILE", "/run/secrets/api", False),
        ("SMTP_AUTH", "login", False),
        ("AUTH_METHOD", "ldap", False),
        ("SALT_ROUNDS", "10", False),
        ("POSTGRES_HOST_AUTH_METHOD", "trust", False),
        ("AWS_ACCESS_KEY_ID", "AKIA", False),
    ],
)
def test_secret_names(name: str, value: str, secret: bool) -> None:
    assert is_secret_name(name, value) is secret


@pytest.mark.parametrize(
    ("flag", "secret"),
    [
        ("--requirepass", True),
        ("--masterauth", True),
        ("--password", True),
        ("--db-password", True),
        ("--admin-token", True),
        ("--api-key", True),
        ("-p", False),
        ("--port", False),
        ("--password-file", False),
        ("--token-ttl", False),
        ("--appendonly", False),
    ],
)
def test_secret_flags(flag: str, secret: bool) -> None:
    assert secret_flag(flag) is secret


def _import() -> Any:
    return import_compose(textwrap.dedent(COMPOSE), name="shop", environ={})


def test_credentials_in_env_and_arguments_move_to_the_secret() -> None:
    comps = {c.name: c for c in _import().requirements.components}
    cache, app, db = comps["cache"], comps["app"], comps["db"]
    assert cache.args == [
        "redis-server",
        "--requirepass",
        "$(CACHE_PASSWORD)",
        "--appendonly",
        "yes",
    ]
    assert cache.env["CACHE_PASSWORD"] == SecretRef(secret="cache-password")
    # The app's REDIS_AUTH has the same value: one secret, so both keep agreeing.
    assert app.env["REDIS_AUTH"] == SecretRef(secret="cache-password")
    assert isinstance(app.env["SALT"], SecretRef) and isinstance(
        app.env["SECRET_KEY_BASE"], SecretRef
    )
    assert app.env["CACHE_KEY_PREFIX"] == "app" and app.env["MYSQL_USER"] == "wordpress"
    # An argument inside a shell string, and a user's own $( kept literal as $$(.
    assert app.args == ["sh", "-c", "run --password=$(APP_PASSWORD) && echo $$(date)"]
    assert db.args == ["mongod", "--auth", "--bind_ip_all"]  # a switch, no value taken


def test_no_literal_credential_reaches_values_or_plain_objects(tmp_path: Path) -> None:
    chart = generate_chart(plan_chart(_import().requirements), tmp_path).chart_dir
    values = (chart / "values.yaml").read_text()
    for literal in ("myredissecret", "mysalt", "hunter2", "abcdef0123456789"):
        assert literal not in values
    objs = render_objects(
        chart,
        namespace="apps",
        release="rel",
        values={"secrets": {"values": {"secret-key-base": "given-at-install"}}},
    )
    plain = yaml.safe_dump([o for o in objs if o["kind"] != "Secret"])
    for literal in ("myredissecret", "mysalt", "hunter2", "abcdef0123456789"):
        assert literal not in plain
    cache = next(
        o
        for o in objs
        if o["kind"] in ("Deployment", "StatefulSet") and o["metadata"]["name"] == "rel-shop-cache"
    )
    container = cache["spec"]["template"]["spec"]["containers"][0]
    assert "$(CACHE_PASSWORD)" in container["args"]
    env = {e["name"]: e for e in container["env"]}
    assert env["CACHE_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "rel-shop",
        "key": "cache-password",
    }
