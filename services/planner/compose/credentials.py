"""Literal credentials in command arguments -> chart secrets read through `$(VAR)`.

`redis-server --requirepass s3cret` would put the password in values.yaml and the pod spec.
The value moves to the chart Secret instead, an env variable of the container reads it, and
the argument becomes `--requirepass $(REDIS_PASSWORD)`: Kubernetes expands `$(VAR)` in
command and args from the container's env. Arguments reach here already escaped (a user's
`$(` is `$$(`), so the only live `$(VAR)` are ours.
"""

from __future__ import annotations

import re

from services.planner.compose.common import Draft, ImportContext
from services.planner.compose.secrets import name_tokens
from shared.models.requirements import ENV_NAME, SecretRef

# Flag names that carry a credential, by their last word (`--requirepass`, `--db-password`,
# `--admin-token`, `--api-key`); `-p` is a port as often as a password, so it is not one.
_SECRET_FLAGS = {"REQUIREPASS", "MASTERAUTH", "PASSWORD", "PASSWD", "PASS", "SECRET", "TOKEN"}
_SECRET_FLAGS |= {"AUTH", "APIKEY"}
_PASSWORD_FLAGS = {"REQUIREPASS", "MASTERAUTH", "PASSWORD", "PASSWD", "PASS", "AUTH"}
_NOT_A_VALUE = {"true", "false", "yes", "no", "on", "off", "none", ""}
# `--flag=value` or `--flag value` inside one argument (a shell string such as `sh -c "..."`).
_INLINE = re.compile(
    r"(?<![\w-])(?P<flag>--?[A-Za-z][\w.-]*)(?P<sep>=|[ \t]+)"
    r"(?P<value>\"[^\"$]*\"|'[^'$]*'|[^\s\"'$;|&]+)"
)
_FLAG = re.compile(r"^--?(?P<name>[A-Za-z][\w.-]*)$")
_ENV_NAME = re.compile(ENV_NAME)


def secret_flag(flag: str) -> bool:
    """Whether a command-line flag (`--requirepass`, `--db-password`) takes a credential."""
    match = _FLAG.match(flag)
    if not match or len(match.group("name")) < 2:
        return False
    tokens = name_tokens(match.group("name"))
    return bool(tokens) and (tokens[-1] in _SECRET_FLAGS or tokens[-2:] == ["API", "KEY"])


def _literal(value: str) -> bool:
    """Whether a flag's value is a literal credential (not a path, switch or variable)."""
    bare = value.strip("\"'")
    return (
        bare.lower() not in _NOT_A_VALUE
        and not bare.startswith(("-", "/", "$"))
        and "$(" not in bare
    )


def move_credentials(argv: list[str], where: str, draft: Draft, ctx: ImportContext) -> list[str]:
    """The arguments with literal credentials replaced by `$(VAR)` of a chart secret."""
    result = list(argv)
    for i, arg in enumerate(result):
        at = f"{where}[{i}]"
        if secret_flag(arg) and i + 1 < len(result) and _literal(result[i + 1]):
            result[i + 1] = _reference(arg, result[i + 1], f"{where}[{i + 1}]", draft, ctx)
            continue

        def replace(match: re.Match[str], at: str = at) -> str:
            flag, value = match.group("flag"), match.group("value")
            if not (secret_flag(flag) and _literal(value)):
                return match.group(0)
            return flag + match.group("sep") + _reference(flag, value, at, draft, ctx)

        result[i] = _INLINE.sub(replace, arg)
    return result


def _reference(flag: str, value: str, where: str, draft: Draft, ctx: ImportContext) -> str:
    """Move one credential to the chart Secret; `$(VAR)` of the env variable that reads it."""
    plain = value.strip("\"'").replace("$$", "$")  # undo our escaping to hash the real value
    words = name_tokens(flag)
    kind = "PASSWORD" if words[-1] in _PASSWORD_FLAGS else "_".join(words)
    base = f"{draft.name}_{kind}".upper().replace("-", "_")
    secret = ctx.registry.for_env(base, plain, draft.name, draft.path, url=False)
    var = _env_var_for(secret, draft)
    ctx.notes.info(
        where,
        f"the {flag} value is a credential: it moved to chart secret {secret!r} and the "
        f"argument reads it as $({var}) (Kubernetes expands it from the container's env)",
    )
    return f"$({var})"


def _env_var_for(secret: str, draft: Draft) -> str:
    """The container's env variable that reads `secret`, added when there is none."""
    for name, value in draft.env.items():
        if isinstance(value, SecretRef) and value.secret == secret and _ENV_NAME.match(name):
            return name
    var = secret.upper().replace("-", "_")
    while var in draft.env:
        var = f"AUTOPILOT_{var}"
    draft.env[var] = SecretRef(secret=secret)
    return var
