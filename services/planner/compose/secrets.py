"""Secrets and sibling host names in Compose environments.

Secret values are compared by a keyed hash and then forgotten: nothing here keeps a plain
value, so nothing downstream can leak one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets as _random
from dataclasses import dataclass, field

from services.planner.compose.common import dns_label, unique_label
from shared.models.requirements import ChartSecret

_SECRET_WORDS = {"PASSWORD", "PASSWD", "SECRET", "TOKEN", "CREDENTIAL", "CREDENTIALS", "PRIVATE"}
_EXACT_WORDS = {"PASS", "PWD", "APIKEY", "SECRETS", "TOKENS"}
_PASSWORD_WORDS = {"PASSWORD", "PASSWD", "PASS", "PWD"}
# Secret only as the last word: `REDIS_AUTH`, `PASSWORD_SALT`, `API_KEY` (not `AUTH_METHOD`,
# `SALT_ROUNDS`, `CACHE_KEY_PREFIX`).
_LAST_WORDS = {"AUTH", "SALT", "KEY"}
# Keys that name a field or a lookup, not a credential (`SORT_KEY`, `PUBLIC_KEY` is covered by
# _NOT_SECRET_WORDS).
_NOT_SECRET_KEYS = {
    "SORT",
    "PARTITION",
    "PRIMARY",
    "FOREIGN",
    "ROUTING",
    "CACHE",
    "HASH",
    "SHARD",
    "INDEX",
    "LOOKUP",
    "GROUP",
    "SITE",
    "IDEMPOTENCY",
    "DEDUP",
    "OBJECT",
    "MAP",
}
# `SMTP_AUTH=login` picks a mechanism, it is not a password.
_AUTH_MODES = {
    "none",
    "basic",
    "plain",
    "login",
    "md5",
    "trust",
    "scram-sha-256",
    "bearer",
    "oauth",
    "oauth2",
    "ldap",
    "password",
    "token",
    "jwt",
    "cram-md5",
    "digest",
}
# Tokens that make the variable a setting *about* a secret (or a pointer to one), not one.
_NOT_SECRET_WORDS = {
    "FILE",
    "PATH",
    "DIR",
    "PUBLIC",
    "ALLOW",
    "EMPTY",
    "RANDOM",
    "ENABLE",
    "ENABLED",
    "DISABLE",
    "DISABLED",
    "REQUIRE",
    "REQUIRED",
    "LENGTH",
    "MIN",
    "MAX",
    "POLICY",
    "EXPIRY",
    "TTL",
    "TIMEOUT",
    "ALGORITHM",
    "TYPE",
    "ID",
    "NAME",
}
_FLAG_VALUES = {"yes", "no", "true", "false", "on", "off", "0", "1", ""}
_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<user>[^:/@\s]*):(?P<password>[^@/\s]+)@"
)


def name_tokens(name: str) -> list[str]:
    """Upper-case words of a variable name (`dbPassword` and `DB_PASSWORD` -> DB, PASSWORD)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [t for t in re.split(r"[^A-Za-z0-9]+", spaced.upper()) if t]


def _has_secret_word(tokens: list[str]) -> bool:
    """Whether one token is, or ends with, a secret-ish word (some count only at the end)."""
    for i, token in enumerate(tokens):
        last = i == len(tokens) - 1 or tokens[i + 1 :] == ["BASE"]  # SECRET_KEY_BASE
        if token in _LAST_WORDS:
            if last and not (token == "KEY" and i and tokens[i - 1] in _NOT_SECRET_KEYS):
                return True
            continue
        if token in _EXACT_WORDS or any(token.endswith(w) for w in _SECRET_WORDS):
            return True
    return False


def is_secret_name(name: str, value: str | None = None) -> bool:
    """Whether an env variable's NAME marks its value as secret (`*_FILE` pointers are not)."""
    tokens = name_tokens(name)
    if not tokens or tokens[-1] in _NOT_SECRET_WORDS or (len(tokens) == 1 and tokens[0] == "PWD"):
        return False
    if any(t in _NOT_SECRET_WORDS and t not in ("ID", "NAME", "TYPE") for t in tokens):
        return False
    if value is not None and value.strip().lower() in _FLAG_VALUES - {""}:
        return False  # `MYSQL_RANDOM_ROOT_PASSWORD=yes` is a switch, not a password
    if tokens[-1] == "AUTH" and value is not None and value.strip().lower() in _AUTH_MODES:
        return False
    return _has_secret_word(tokens)


def is_password_name(name: str) -> bool:
    """Whether a name suggests a password, which the chart may generate at random.

    An `*_AUTH` password (`REDIS_AUTH`) and a `*_SALT` are the app's own too, so random works.
    """
    tokens = name_tokens(name)
    return bool(tokens) and (
        tokens[-1] in ("AUTH", "SALT")
        or any(t in _PASSWORD_WORDS or t.endswith(("PASSWORD", "PASSWD")) for t in tokens)
    )


def has_url_credentials(value: str) -> bool:
    """Whether the value holds a URL with a password (`scheme://user:pass@host`)."""
    return bool(_URL_CREDENTIALS.search(value))


def mask_credentials(value: str) -> str:
    """The value with URL credentials and query strings replaced by placeholders."""
    masked = _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}://<user>:<password>@", value)
    return re.sub(r"\?\S*", "?<query>", masked)


@dataclass
class _Entry:
    """What the registry remembers about one chart secret (never its value)."""

    secret: ChartSecret
    uses: list[str] = field(default_factory=list)
    password_like: bool = False
    url: bool = False
    origin: str = ""


class SecretRegistry:
    """Hands out chart secret names; equal values share one secret, compared by keyed hash."""

    def __init__(self) -> None:
        self._key = _random.token_bytes(32)
        self._by_digest: dict[bytes, str] = {}
        self._entries: dict[str, _Entry] = {}
        self._names: set[str] = set()

    def _digest(self, value: str) -> bytes:
        """A keyed hash of a value, so equal values match without keeping them."""
        return hmac.new(self._key, value.encode(), hashlib.sha256).digest()

    def _new(self, base: str, prefix: str) -> str:
        """A fresh secret name from `base`, prefixed by the component when `base` is taken."""
        name = dns_label(base, fallback="secret")
        if name in self._names:
            name = dns_label(f"{prefix}-{base}", fallback="secret")
        return unique_label(name, self._names)

    def for_env(self, var: str, value: str, component: str, source: str, *, url: bool) -> str:
        """The secret name for env variable `var`, shared with any earlier equal value."""
        digest = self._digest(value) if value else None
        name = self._by_digest.get(digest) if digest else None
        if name is None:
            name = self._new(var, component)
            self._entries[name] = _Entry(ChartSecret(name=name), origin=f"variable {var}")
            if digest:
                self._by_digest[digest] = name
        entry = self._entries[name]
        entry.uses.append(source)
        entry.password_like |= is_password_name(var) and not url
        entry.url |= url
        return name

    def for_compose_secret(self, compose_name: str, value: str | None, origin: str) -> str:
        """The secret name for a top-level Compose secret; its value (if known) is only hashed."""
        digest = self._digest(value) if value else None
        name = self._by_digest.get(digest) if digest else None
        if name is None:
            name = self._new(compose_name, "compose")
            self._entries[name] = _Entry(ChartSecret(name=name), origin=origin)
            if digest:
                self._by_digest[digest] = name
        self._entries[name].password_like |= is_password_name(compose_name)
        return name

    def use(self, name: str, source: str) -> None:
        """Record that `source` reads secret `name`."""
        self._entries[name].uses.append(source)

    def use_count(self, name: str) -> int:
        """How many times something has read secret `name` so far."""
        return len(self._entries[name].uses)

    def is_generated(self, name: str) -> bool:
        """Whether the chart generates this secret at install when left empty."""
        entry = self._entries[name]
        return entry.password_like and not entry.url

    def chart_secrets(self) -> list[ChartSecret]:
        """The ChartSecrets that something uses, with descriptions naming their users."""
        result = []
        for name, entry in self._entries.items():
            if not entry.uses:
                continue
            users = ", ".join(dict.fromkeys(entry.uses))
            how = (
                "generated at install when left empty"
                if self.is_generated(name)
                else "must be supplied at install"
            )
            result.append(
                ChartSecret(
                    name=name,
                    description=f"From Compose {entry.origin}; used by {users}; {how}.",
                    generate=self.is_generated(name),
                )
            )
        return result
