"""Reverse-proxy labels (Traefik's Docker provider) become the component's port and Ingress.

Many stacks publish no `ports:` for their web front and let Traefik find it through labels:
`traefik.http.services.<s>.loadbalancer.server.port=80` names the port it listens on, and
`traefik.http.routers.<r>.rule=Host(`example.com`)` the host it serves. In Kubernetes an
ingress controller does Traefik's job, so the port becomes a Service port and a plain host
rule an Ingress; a rule an Ingress cannot express is reported, never guessed. A Traefik
container that discovers services through the Docker socket cannot see pods: it is imported
switched off, with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from services.planner.compose.common import Draft, ImportContext, key_values
from shared.models.requirements import Port

_SERVICE_PORT = re.compile(r"^traefik\.http\.services\.[^.]+\.loadbalancer\.server\.port$")
_ROUTER_RULE = re.compile(r"^traefik\.http\.routers\.([^.]+)\.rule$")
_HOST = re.compile(r"^Host\(`([a-z0-9]([-a-z0-9.]*[a-z0-9])?)`\)$")
_HOST_PATH = re.compile(
    r"^Host\(`([a-z0-9]([-a-z0-9.]*[a-z0-9])?)`\)\s*&&\s*PathPrefix\(`(/[^`]*)`\)$"
)


def map_traefik_labels(value: object, where: str, draft: Draft, ctx: ImportContext) -> None:
    """Port and Ingress from `traefik.*` labels (the labels stay annotations as well)."""
    labels = {k: v or "" for k, v in key_values(value, where, "[traefik.enable=true]").items()}
    if labels.get("traefik.enable", "true").lower() == "false":
        return
    for key, text in labels.items():
        if _SERVICE_PORT.match(key) and text.isdigit() and 0 < int(text) < 65536:
            _expose(int(text), f"{where}.{key}", draft, ctx)
    for key, rule in labels.items():
        match = _ROUTER_RULE.match(key)
        if match:
            tls = labels.get(f"traefik.http.routers.{match.group(1)}.tls", "").lower() == "true"
            _ingress(rule.strip(), tls, f"{where}.{key}", draft, ctx)


def _expose(port: int, where: str, draft: Draft, ctx: ImportContext) -> None:
    """The port Traefik sends traffic to is a Service port."""
    ports: list[Port] = draft.fields.setdefault("ports", [])
    if any(p.port == port for p in ports):
        return
    taken = {p.name for p in ports}
    name = "http" if "http" not in taken else f"http-{port}"[:15]
    ports.append(Port(name=name, port=port))
    ctx.notes.info(
        where,
        f"Traefik sends traffic to port {port}, so the component's Service exposes it",
    )


def _ingress(rule: str, tls: bool, where: str, draft: Draft, ctx: ImportContext) -> None:
    """A `Host()` (optionally `&& PathPrefix()`) rule becomes the component's Ingress."""
    if "ingress" in draft.fields:
        return
    if not draft.fields.get("ports"):
        ctx.notes.info(
            where,
            f"the Traefik rule {rule!r} routes to a port the file does not name; add the port "
            f"and set {draft.name}.ingress in the chart values",
        )
        return
    host_only, host_path = _HOST.match(rule), _HOST_PATH.match(rule)
    found = host_only or host_path
    if found is None or "." not in found.group(1):
        ctx.notes.info(
            where,
            f"the Traefik rule {rule!r} is not a single host name an Ingress can route; set "
            f"{draft.name}.ingress in the chart values",
        )
        return
    draft.fields["ingress"] = {
        "host": found.group(1),
        "path": host_path.group(3) if host_path else "/",
        "tls": True,
    }
    ctx.notes.info(
        where,
        f"the Traefik rule became an Ingress for {found.group(1)}"
        + ("" if tls else " (with TLS, as the chart's Ingresses are)"),
    )


def is_docker_provider_proxy(spec: Mapping[str, Any]) -> bool:
    """Whether the service is Traefik finding its routes through the Docker provider."""
    image = str(spec.get("image") or "")
    if "traefik" not in image.rsplit("/", 1)[-1]:
        return False
    argv = spec.get("command") or []
    text = " ".join(argv) if isinstance(argv, list) else str(argv)
    return "providers.docker" in text
