"""API keys (admin): create, list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import (
    APIRouter,
    HTTPException,
    Path,
    Request,
)

from services.gateway.auth import Principal, Role
from services.gateway.keys import KeyStore
from services.gateway.models import (
    KeyCreated,
    KeyList,
    KeyRequest,
    KeyView,
    Problem,
)
from services.gateway.routes.common import Admin, get_settings, is_global_admin

router = APIRouter()


def key_scope(principal: Principal) -> tuple[str | None, bool]:
    """(tenant, every): a global admin manages every key, a tenant's admin its tenant's."""
    return principal.tenant, is_global_admin(principal)


def stored_keys(request: Request) -> KeyStore:
    """The key store, or 409 when keys cannot be stored here (no pepper)."""
    keys: KeyStore | None = getattr(request.app.state, "keys", None)
    if keys is None or not keys.hasher.enabled:
        raise HTTPException(
            409,
            "stored API keys need LANGGRAPH_AES_KEY or AUTOPILOT_API_KEY_PEPPER on the gateway",
        )
    return keys


@router.post(
    "/v1/keys",
    status_code=201,
    response_model=KeyCreated,
    responses={
        403: {"model": Problem, "description": "Not an admin, or another tenant's key."},
        409: {"model": Problem, "description": "The name is another principal's."},
    },
    summary="Create an API key (admin)",
)
async def create_key(body: KeyRequest, principal: Admin, request: Request) -> KeyCreated:
    """Store a new key's hash; the key itself is in this answer only."""
    tenant, every = key_scope(principal)
    if not every and body.tenant != tenant:
        raise HTTPException(403, f"an admin of tenant {tenant} creates keys of that tenant only")
    settings = get_settings(request)
    if any(p.get("id") == body.name for p in settings.api_keys.values()):
        raise HTTPException(409, f"{body.name} is a principal of AUTOPILOT_API_KEYS")
    keys = stored_keys(request)
    row, key = await keys.create(body.name, Role(body.role), body.tenant, principal.id)
    return KeyCreated(**row.model_dump(), key=key)


@router.get("/v1/keys", response_model=KeyList, summary="List API keys (admin)")
async def list_keys(principal: Admin, request: Request) -> KeyList:
    """Every stored key the admin manages, revoked ones too; never a key or its hash."""
    tenant, every = key_scope(principal)
    keys: KeyStore | None = getattr(request.app.state, "keys", None)
    rows = await keys.search(tenant, every=every) if keys is not None else []
    return KeyList(items=[KeyView.model_validate(r.model_dump()) for r in rows])


@router.delete(
    "/v1/keys/{name_or_id}",
    response_model=KeyList,
    responses={404: {"model": Problem, "description": "No active key of that name or id."}},
    summary="Revoke API keys by name or id (admin)",
)
async def revoke_key(
    name_or_id: Annotated[str, Path(max_length=64)], principal: Admin, request: Request
) -> KeyList:
    """Revoke at once: the next request with the key gets 401."""
    tenant, every = key_scope(principal)
    keys: KeyStore | None = getattr(request.app.state, "keys", None)
    rows = await keys.revoke(name_or_id, principal.id, tenant, every=every) if keys else []
    if not rows:
        raise HTTPException(404, f"no active key named or with id {name_or_id}")
    return KeyList(items=[KeyView.model_validate(r.model_dump()) for r in rows])
