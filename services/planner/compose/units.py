"""Compose value formats -> Kubernetes ones: durations, byte sizes, CPUs and ports."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from services.planner.compose.common import Notes, expect_mapping, scalar_text, wrong_type
from shared.errors import InputError
from shared.models.requirements import Port, Protocol

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(value: object, path: str) -> float:
    """A Compose duration (`1m30s`, `500ms`, or a number of seconds) in seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = scalar_text(value, path, "30s").strip()
    if text in ("0", ""):
        return 0.0
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise InputError(
            f"{text!r} is not a duration; write it like `10s`, `1m30s` or `500ms`", field=path
        )
    return total


def whole_seconds(value: object, path: str) -> int:
    """A Compose duration rounded up to whole seconds, at least 1 (probe fields need >= 1)."""
    return max(1, math.ceil(duration_seconds(value, path) - 1e-9))


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(b|ib)?\s*$", re.IGNORECASE)
_BINARY = [("Pi", 1024**5), ("Ti", 1024**4), ("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024)]


def memory_quantity(value: object, path: str) -> str:
    """A Compose byte size (`1.5G`, `512M`, `100k`, `1gb`, bytes) as a Kubernetes quantity."""
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    else:
        text = scalar_text(value, path, "512M")
        match = _SIZE.match(text)
        if not match:
            raise InputError(
                f"{text!r} is not a byte size; write it like `512M`, `1.5G` or `100k`", field=path
            )
        unit = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}
        size = math.ceil(Decimal(match.group(1)) * unit[match.group(2).lower()])
    if size <= 0:
        raise InputError("a memory size must be positive, like `512M`", field=path)
    for suffix, factor in _BINARY:
        if size % factor == 0:
            return f"{size // factor}{suffix}"
    return str(size)


def cpu_quantity(value: object, path: str) -> str:
    """Compose CPUs (`0.5`, `2`) as a Kubernetes quantity (`500m`, `2`)."""
    text = scalar_text(value, path, "0.5")
    try:
        cpus = Decimal(text.strip())
    except InvalidOperation as exc:
        raise InputError(
            f"{text!r} is not a number of CPUs; write it like `0.5`", field=path
        ) from exc
    if not cpus.is_finite() or cpus <= 0:
        raise InputError(
            f"{text!r} is not a positive number of CPUs; write it like `0.5`", field=path
        )
    millis = math.ceil(cpus * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


# --- ports ---------------------------------------------------------------------------------

WELL_KNOWN_TCP = {
    80: "http",
    8080: "http",
    8000: "http",
    3000: "http",
    5000: "http",
    8081: "http",
    8888: "http",
    9090: "http",
    5601: "http",
    9200: "http",
    15672: "http",
    5050: "http",
    443: "https",
    8443: "https",
    5432: "postgresql",
    3306: "mysql",
    33060: "mysqlx",
    6379: "redis",
    27017: "mongodb",
    5672: "amqp",
    11211: "memcached",
    9092: "kafka",
    2181: "zookeeper",
    4222: "nats",
    1883: "mqtt",
    22: "ssh",
    25: "smtp",
    53: "dns",
    9300: "transport",
    25565: "minecraft",
}
WELL_KNOWN_UDP = {53: "dns", 123: "ntp", 514: "syslog", 161: "snmp"}
MAX_RANGE = 50


@dataclass
class RawPort:
    """A container port as Compose declared it, before naming."""

    port: int
    protocol: Protocol
    name: str | None = None


_SHORT_PORT = re.compile(
    r"^(?:(?:\[[0-9a-fA-F:.]*\]|\d{1,3}(?:\.\d{1,3}){3})?:)?"  # host ip (may be empty: ":80:80")
    r"(?:(?P<host>\d*(?:-\d+)?):)?"  # host port or range (may be empty: "127.0.0.1::80")
    r"(?P<container>\d+(?:-\d+)?)"
    r"(?:/(?P<proto>[a-zA-Z]+))?$"
)


def _protocol(text: str | None, path: str) -> Protocol:
    """A Compose protocol name as a Protocol."""
    name = (text or "tcp").upper()
    try:
        return Protocol(name)
    except ValueError as exc:
        raise InputError(f"unknown protocol {text!r}; use tcp, udp or sctp", field=path) from exc


def _port_number(text: str, path: str) -> int:
    """A port number 1-65535."""
    number = int(text)
    if not 1 <= number <= 65535:
        raise InputError(f"port {number} is out of range; use 1-65535", field=path)
    return number


def _expand(spec: str, proto: Protocol, path: str, notes: Notes) -> list[RawPort]:
    """A container port or `start-end` range as RawPorts (ranges are noted and capped)."""
    if "-" not in spec:
        return [RawPort(_port_number(spec, path), proto)]
    low, high = (_port_number(p, path) for p in spec.split("-", 1))
    if high < low:
        raise InputError(f"port range {spec} runs backwards; write it low-high", field=path)
    count = high - low + 1
    if count > MAX_RANGE:
        notes.warning(
            path,
            f"port range {spec} has {count} ports; only the first {MAX_RANGE} were kept "
            "(a Service with hundreds of ports is rarely what you want)",
        )
        high = low + MAX_RANGE - 1
    else:
        notes.info(path, f"port range {spec} became {count} separate container ports")
    return [RawPort(p, proto) for p in range(low, high + 1)]


def parse_port(item: object, path: str, notes: Notes) -> list[RawPort]:
    """One entry of `ports:` (short or long syntax) as container ports."""
    if isinstance(item, int) and not isinstance(item, bool):
        return [RawPort(_port_number(str(item), path), Protocol.TCP)]
    if isinstance(item, str):
        match = _SHORT_PORT.match(item.strip())
        if not match:
            raise InputError(
                f"{item!r} is not a port mapping; write it like `8080:80`, `80` or "
                "`127.0.0.1:53:53/udp`",
                field=path,
            )
        host, container = match.group("host"), match.group("container")
        for number in filter(None, (host or "").split("-")):
            _port_number(number, path)
        if host and "-" in host and "-" not in container:
            notes.info(path, f"host port range {host} maps to one container port {container}")
        return _expand(container, _protocol(match.group("proto"), path), path, notes)
    if isinstance(item, Mapping):
        spec = expect_mapping(item, path, "{target: 80, published: 8080}")
        if "target" not in spec:
            raise InputError("a long-syntax port needs `target:` (the container port)", field=path)
        target = scalar_text(spec["target"], f"{path}.target", "80")
        if not re.fullmatch(r"\d+(-\d+)?", target):
            raise InputError(f"target {target!r} is not a port number", field=f"{path}.target")
        ports = _expand(target, _protocol(spec.get("protocol"), f"{path}.protocol"), path, notes)
        if isinstance(spec.get("name"), str) and len(ports) == 1:
            ports[0].name = spec["name"]
        for key in ("app_protocol", "mode"):
            if key in spec and spec[key] != "ingress":
                notes.info(
                    f"{path}.{key}", f"`{key}: {spec[key]}` has no Kubernetes equivalent here"
                )
        return ports
    raise wrong_type(path, item, "a port mapping", "8080:80")


def parse_expose(item: object, path: str, notes: Notes) -> list[RawPort]:
    """One entry of `expose:` (`"80"`, `80`, `"5000/udp"`, `"8000-8010"`) as container ports."""
    text = scalar_text(item, path, "5432").strip()
    match = re.fullmatch(r"(\d+(?:-\d+)?)(?:/([a-zA-Z]+))?", text)
    if not match:
        raise InputError(f"{text!r} is not a port; write it like `5432`", field=path)
    return _expand(match.group(1), _protocol(match.group(2), path), path, notes)


_IANA = re.compile(r"^(?=.*[a-z])[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def is_port_name(name: str) -> bool:
    """Whether `name` is a valid IANA_SVC_NAME (<= 15 chars, `[a-z0-9-]`, has a letter)."""
    return len(name) <= 15 and "--" not in name and bool(_IANA.match(name))


def name_ports(raw: list[RawPort]) -> list[Port]:
    """Unique, valid port names; a port number used with two protocols gets `<proto>-<port>`."""
    seen: set[tuple[int, Protocol]] = set()
    unique: list[RawPort] = []
    for item in raw:
        if (item.port, item.protocol) not in seen:
            seen.add((item.port, item.protocol))
            unique.append(item)
    multi_proto = {p.port for p in unique if sum(1 for q in unique if q.port == p.port) > 1}
    taken: set[str] = set()
    ports: list[Port] = []
    for item in unique:
        fallback = f"{item.protocol.value.lower()}-{item.port}"
        table = WELL_KNOWN_TCP if item.protocol is Protocol.TCP else WELL_KNOWN_UDP
        known = table.get(item.port, "") if item.port not in multi_proto else ""
        candidates = [item.name or "", known, f"{known}-{item.port}" if known else ""]
        name = next((c for c in candidates if c and is_port_name(c) and c not in taken), fallback)
        if name in taken:
            name = next(
                f"p{n}-{item.port}"[:15]
                for n in range(2, 1000)
                if f"p{n}-{item.port}"[:15] not in taken
            )
        taken.add(name)
        ports.append(Port(name=name, port=item.port, protocol=item.protocol))
    return ports
