"""Sibling hosts in env and commands become service references, never literal names.

Compose reaches a sibling by its service name (or an alias); in the chart the Service is
named after the release, so a literal would break under any release name but one. Each
host found becomes `{host:<component>}` in a `ServiceRef`'s format, which the chart
renders from the component's full name at install.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shared.hosts import HostMatch
from shared.models.requirements import ServiceRef

_URL_PASSWORD = re.compile(r"(?P<pre>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)(?P<password>[^@/\s]+)@")


def compose_aliases(
    services: Mapping[str, Mapping[str, Any]], names: Mapping[str, str]
) -> dict[str, str]:
    """Every name a sibling is reached by in Compose -> its component name."""
    hosts: dict[str, str] = {}
    for svc, spec in services.items():
        aliases = [spec.get("container_name"), spec.get("hostname")]
        networks = spec.get("networks")
        if isinstance(networks, Mapping):
            for net in networks.values():
                if isinstance(net, Mapping) and isinstance(net.get("aliases"), list):
                    aliases.extend(net["aliases"])
        for alias in aliases:
            if isinstance(alias, str) and alias and alias.lower() not in hosts:
                hosts[alias.lower()] = names[svc]
    # Service names win over aliases that happen to collide with them.
    for svc in services:
        hosts[svc.lower()] = names[svc]
    return hosts


def to_format(text: str, matches: list[HostMatch]) -> str:
    """`text` with every matched host replaced by `{host:<component>}`."""
    parts: list[str] = []
    last = 0
    for match in matches:
        parts += [text[last : match.start], "{host:" + match.component + "}"]
        last = match.end
    parts.append(text[last:])
    return "".join(parts)


def service_ref(text: str, matches: list[HostMatch]) -> ServiceRef:
    """The reference for a value whose hosts were found: the first host is the callee."""
    first = matches[0]
    fmt = to_format(text, matches)
    plain = "{host:" + first.component + "}"
    if fmt == plain:
        return ServiceRef(serviceRef=first.component)
    if first.port is not None and fmt == f"{plain}:{first.port}":
        return ServiceRef(serviceRef=first.component, port=first.port)
    return ServiceRef(serviceRef=first.component, port=first.port, format=fmt)


def split_url_password(value: str) -> tuple[str, str] | None:
    """(value with the URL password replaced by `{password}`, the password), or None."""
    match = _URL_PASSWORD.search(value)
    if match is None:
        return None
    masked = value[: match.start("password")] + "{password}" + value[match.end("password") :]
    return masked, match.group("password")
