"""Names the generator derives from plan text: values keys, ConfigMap keys, port names."""

from __future__ import annotations

import re

from shared.models.requirements import Port

_CONFIG_KEY_BAD = re.compile(r"[^-._a-zA-Z0-9]+")


def values_key(component: str) -> str:
    """The values.yaml key of a component: camelCase of its DNS-1123 name (`my-db` -> `myDb`)."""
    head, *rest = component.split("-")
    return head + "".join(part[:1].upper() + part[1:] for part in rest if part)


def config_key(path: str, taken: set[str]) -> str:
    """A ConfigMap key for a file path (`/etc/nginx/conf.d/x.conf` -> `etc-nginx-conf.d-x.conf`)."""
    base = _CONFIG_KEY_BAD.sub("-", path.strip("/").replace("/", "-")).strip("-") or "file"
    key, n = base, 2
    while key in taken:
        key, n = f"{base}-{n}", n + 1
    taken.add(key)
    return key


def port_name(port: Port) -> str:
    """The port's name, or one derived from protocol and number (an IANA_SVC_NAME)."""
    if port.name:
        return port.name
    return f"{port.protocol.value.lower()}-{port.port}"


def env_from_key_ok(key: str) -> bool:
    """Whether `key` is a valid ConfigMap key that envFrom can load."""
    return bool(re.fullmatch(r"[-._a-zA-Z0-9]+", key))
