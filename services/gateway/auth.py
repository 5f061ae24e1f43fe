"""Authentication and authorization: one dependency every route goes through.

Local mode is open: every caller is the principal `local` with every role. Outside local mode
a caller presents `Authorization: Bearer <key>`: a key stored in Postgres (`services.gateway.keys`,
made with `POST /v1/keys` or `autopilot keys create`), or one of `AUTOPILOT_API_KEYS`, which maps
each key to a principal (id, roles, tenant) and bootstraps the first admin. The principal's id
is what workflows record as `submitted_by`.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TYPE_CHECKING

from fastapi import HTTPException, Request, status
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from services.gateway.keys import KeyStore


class Role(StrEnum):
    """What a principal may do."""

    SUBMITTER = "submitter"
    APPROVER = "approver"
    ADMIN = "admin"


class Principal(BaseModel):
    """Who is calling."""

    id: str
    roles: frozenset[Role] = Field(default_factory=frozenset)
    tenant: str | None = None

    def has(self, role: Role | None) -> bool:
        """Whether the principal holds the role (admins hold every role)."""
        return role is None or role in self.roles or Role.ADMIN in self.roles

    @property
    def top_role(self) -> Role | None:
        """The highest role held (admin > approver > submitter), for the audit log."""
        ranked = (Role.ADMIN, Role.APPROVER, Role.SUBMITTER)
        return next((r for r in ranked if r in self.roles), None)


LOCAL = Principal(id="local", roles=frozenset(Role))


async def authenticate(request: Request) -> Principal:
    """The caller; local mode needs no credentials, other modes a stored or configured key."""
    settings = request.app.state.settings
    if settings.local_mode:
        return LOCAL
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        found: Principal | None = None
        for key, principal in settings.api_keys.items():
            # Constant-time comparison: response timing must not reveal a key's prefix.
            if hmac.compare_digest(key.encode(), token.encode()):
                found = Principal.model_validate(principal)
        if found is not None:
            return found
        keys: KeyStore | None = getattr(request.app.state, "keys", None)
        # Read on every call, never cached: a revoked key is refused by the next request.
        stored = await keys.verify(token) if keys is not None else None
        if stored is not None:
            return stored.principal()
    # Closed by default: with no keys configured, nothing outside local mode gets in.
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "authentication required: send Authorization: Bearer <key> (autopilot keys create, "
        "or AUTOPILOT_API_KEYS)",
        headers={"WWW-Authenticate": "Bearer"},
    )


def authorize(role: Role | None) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency resolving the principal and checking it holds `role` (None: any caller)."""

    async def dependency(request: Request) -> Principal:
        if role is None and request.url.path in ("/healthz", "/readyz", "/metrics"):
            # Probes and scrapes come from the orchestrator and Prometheus, which hold no
            # credentials; metrics carry no workflow data (no ids in labels).
            return Principal(id="anonymous")
        principal = await authenticate(request)
        if not principal.has(role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"requires the {role} role")
        return principal

    dependency.__name__ = f"authorize_{role.value if role else 'any'}"
    return dependency
