"""One HTTP delivery: render the body for the subscription's format, sign it, post it, judge it.

A 2xx answer is delivered. Timeouts, connection errors, 5xx, 408 and 429 are worth another try;
any other 4xx, a redirect (never followed: a receiver must not bounce the notifier elsewhere)
and a receiver on a refused address are not, and go to the dead letter at once.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import httpx

from shared.infra.webhooks import Target
from shared.webhooks import (
    CLOUDEVENTS_JSON,
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    WebhookDelivery,
    WebhookFormat,
    cloudevent,
    is_private_address,
    is_private_host,
    page_url,
    sign,
    slack_body,
)

Reason = Literal["", "http_4xx", "http_5xx", "redirect", "timeout", "connection", "refused_address"]
USER_AGENT = "k8s-autopilot-notifier/1"


@dataclass(frozen=True)
class Attempt:
    """How one request went."""

    ok: bool
    retryable: bool = False
    reason: Reason = ""
    detail: str = ""
    status: int | None = None


def render(
    target: Target, delivery: WebhookDelivery, public_url: str
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a delivery, signed with the subscription's secret."""
    notice = delivery.notice
    url = page_url(public_url, notice.workflow_id)
    data = {**notice.data, "name": delivery.name} if delivery.name else dict(notice.data)
    if target.format is WebhookFormat.SLACK:
        body = slack_body(notice.type, notice.workflow_id, data, url)
        content_type = "application/json"
    else:
        body = cloudevent(
            event_id=delivery.notification_id,
            event_type=notice.type,
            source=delivery.source,
            workflow_id=notice.workflow_id,
            time=delivery.time.isoformat(),
            data=data,
            url=url,
        )
        content_type = CLOUDEVENTS_JSON
    headers = {
        "Content-Type": content_type,
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: sign(body, target.secret),
        EVENT_HEADER: notice.type,
        DELIVERY_HEADER: f"{delivery.notification_id}.{target.id}",
    }
    return body, headers


async def refused_address(url: str) -> str | None:
    """Why the URL's host may not be reached when private targets are refused, else None."""
    host = urlsplit(url).hostname or ""
    if is_private_host(host):
        return f"{host} is a loopback or private address"
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return None  # the request itself reports the resolution error, and is retried
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if is_private_address(address):
            return f"{host} resolves to the private address {address}"
    return None


async def post(
    client: httpx.AsyncClient,
    target: Target,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool,
) -> Attempt:
    """Send one request and judge the answer (never raises for the receiver's faults)."""
    if not allow_private and (why := await refused_address(target.url)):
        return Attempt(False, reason="refused_address", detail=why)
    try:
        resp = await client.post(target.url, content=body, headers=headers)
    except httpx.TimeoutException as exc:
        return Attempt(False, True, "timeout", f"{type(exc).__name__}: {exc}")
    except httpx.TransportError as exc:
        return Attempt(False, True, "connection", f"{type(exc).__name__}: {exc}")
    status = resp.status_code
    if 200 <= status < 300:
        return Attempt(True, status=status)
    detail = f"HTTP {status}: {resp.text[:200]}".strip()
    if 300 <= status < 400:
        return Attempt(False, False, "redirect", detail, status)
    if status >= 500 or status in (408, 429):
        return Attempt(False, True, "http_5xx" if status >= 500 else "http_4xx", detail, status)
    return Attempt(False, False, "http_4xx", detail, status)
