"""Finding the names of sibling components inside text: URLs, `host:port`, host lists.

One finder serves the Compose importer (which turns what it finds into service references),
the planner (literal hosts in a native spec) and the validator's "runs" check (which reads
rendered env, Secrets and ConfigMaps). A value that merely equals a component name is a
host only when its variable says it holds hosts (`REDIS_HOST`, `POSTGRES_SEEDS`), so
`MYSQL_USER=wordpress` never links to a `wordpress` service.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

HOSTISH_WORDS = frozenset(
    {
        "HOST",
        "HOSTS",
        "HOSTNAME",
        "SERVER",
        "SERVERS",
        "ADDR",
        "ADDRS",
        "ADDRESS",
        "ADDRESSES",
        "URL",
        "URLS",
        "URI",
        "URIS",
        "ENDPOINT",
        "ENDPOINTS",
        "DSN",
        "BROKER",
        "BROKERS",
        "SEED",
        "SEEDS",
        "NODES",
        "PEERS",
        "UPSTREAM",
        "UPSTREAMS",
        "SENTINEL",
        "SENTINELS",
        "ZOOKEEPER",
    }
)
"""Words of a variable name that say its value names hosts."""


def name_words(name: str) -> list[str]:
    """Upper-case words of a variable name (`dbHost` and `DB_HOST` -> DB, HOST)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [t for t in re.split(r"[^A-Za-z0-9]+", spaced.upper()) if t]


def is_hostish_name(name: str) -> bool:
    """Whether a variable's name says its value is a host or a list of hosts."""
    return any(t in HOSTISH_WORDS or t.endswith(("HOST", "HOSTS")) for t in name_words(name))


@dataclass(frozen=True)
class HostMatch:
    """One host found in a text: where it is, which component it names, and the port after it."""

    start: int
    end: int
    host: str
    component: str
    port: int | None


class HostFinder:
    """Finds the hosts of a fixed set of names (alias -> component) in any text."""

    def __init__(self, aliases: Mapping[str, str]) -> None:
        self.aliases = {k.lower(): v for k, v in aliases.items() if k}
        names = "|".join(re.escape(h) for h in sorted(self.aliases, key=len, reverse=True))
        self._pattern: re.Pattern[str] | None = None
        if names:
            # Three shapes in one pass: a URL's host (after `scheme://` and optional
            # userinfo), `host:port` anywhere (lists too), and a bare token. The look-arounds
            # keep `mydb`, `db.example.com`, `db_name` and paths like `/db/` untouched, and a
            # URL's user name (`mysql://ghost:pw@tcp(db:3306)`) is no host.
            self._pattern = re.compile(
                rf"(?:[A-Za-z][A-Za-z0-9+.-]*://(?:[^/@\s]*@)?)(?P<url>{names})(?=[:/?#,;\s]|$)(?![^/\s]*@)"
                rf"|(?<![\w.@/:$%-])(?P<hostport>{names})(?=:\d)"
                rf"|(?<![\w.@/:$%-])(?P<bare>{names})(?=[\s,;]|$)",
                re.IGNORECASE,
            )

    def find(self, text: str, var: str = "") -> list[HostMatch]:
        """Every sibling host in `text`; bare tokens count only when `var` is host-ish."""
        if self._pattern is None or not text:
            return []
        hostish = is_hostish_name(var)
        found = []
        for match in self._pattern.finditer(text):
            group = (
                "url" if match.group("url") else "hostport" if match.group("hostport") else "bare"
            )
            if group == "bare" and not hostish:
                continue
            start, end = match.span(group)
            port = _port_after(text, end)
            host = text[start:end]
            found.append(HostMatch(start, end, host, self.aliases[host.lower()], port))
        return found


_PORT = re.compile(r":(\d{1,5})(?![\d.])")


def _port_after(text: str, end: int) -> int | None:
    """The port written right after a host (`db:5432`), if any and valid."""
    match = _PORT.match(text, end)
    if match is None:
        return None
    port = int(match.group(1))
    return port if 1 <= port <= 65535 else None


def component_aliases(components: Iterable[str], chart: str) -> dict[str, str]:
    """Names a native spec may use for its components: `db` and `<chart>-db`."""
    aliases: dict[str, str] = {}
    for name in components:
        aliases[f"{chart}-{name}"] = name
    for name in components:
        aliases[name] = name
    return aliases
