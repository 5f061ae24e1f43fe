"""Webhook contract: subscription formats, event patterns, the signature, the request bodies.

The gateway validates subscriptions with these rules and the notifier renders and signs with
them, so both sides agree by construction. A notification's short type is the part of its
subject after the prefix (`gate.planning_review.pending`, `workflow.completed`); a pattern is
dot-separated like a subject, `*` stands for one segment, and a trailing `*` for the rest
(`gate.*` covers every gate event, `gate.*.pending` every gate that opens).

Every request carries `X-Autopilot-Signature: sha256=<hex HMAC-SHA256 of the body under the
subscription's secret>`; receivers recompute it over the raw body and compare in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from shared.errors import InputError
from shared.events import SPEC_VERSION, SUBJECT_PREFIX
from shared.gates import Gate

SIGNATURE_HEADER = "X-Autopilot-Signature"
EVENT_HEADER = "X-Autopilot-Event"
DELIVERY_HEADER = "X-Autopilot-Delivery"
CLOUDEVENTS_JSON = "application/cloudevents+json"
MAX_PATTERNS = 20
MAX_URL_LENGTH = 2000
MIN_SECRET_LENGTH = 16
MAX_SECRET_LENGTH = 256
ROOTS = ("workflow", "gate")
GATES = frozenset(Gate)
WORKFLOW_EVENTS = frozenset({"started", "step", "completed", "failed", "rejected", "cancelled"})
_SEGMENT = re.compile(r"^(\*|[a-z][a-z0-9_]{0,63})$")


class WebhookFormat(StrEnum):
    """How a subscription's requests look."""

    CLOUDEVENTS = "cloudevents"
    SLACK = "slack"


class Notification(BaseModel):
    """The payload of a `workflow.*` / `gate.*` event (the gateway's `Notice`, as read here)."""

    workflow_id: str
    event_id: int = 0
    type: str = Field(description="Short type: gate.planning_review.pending, workflow.completed.")
    data: dict[str, Any] = Field(default_factory=dict)


class WebhookDelivery(BaseModel):
    """One notification for one subscription (`webhook.delivery`), retried until delivered."""

    webhook_id: str
    format: WebhookFormat = WebhookFormat.CLOUDEVENTS
    notification_id: str = Field(description="The notification event's id (CloudEvents id).")
    source: str
    time: datetime
    notice: Notification
    name: str | None = Field(default=None, description="The workflow's name, when it has one.")


class WebhookError(InputError, ValueError):
    """A subscription field is not acceptable; `field` names it for a 422 (its text is the
    message alone: the field travels in the 422's `loc`)."""

    field: str

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message, field=field)

    def __str__(self) -> str:
        """The message without the field prefix InputError would add."""
        return self.message


# --------------------------------------------------------------------------- validation


def check_url(url: str, *, allow_private: bool) -> str:
    """An http(s) URL with a host; private and loopback addresses only when allowed."""
    if len(url) > MAX_URL_LENGTH:
        raise WebhookError(f"the URL is longer than {MAX_URL_LENGTH} characters", field="url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookError(f"not a URL: {exc}", field="url") from exc
    if parts.scheme not in ("http", "https"):
        raise WebhookError(
            f"only http and https URLs are delivered to, not {parts.scheme or 'no scheme'!r}",
            field="url",
        )
    host = parts.hostname
    if not host:
        raise WebhookError("the URL has no host", field="url")
    if parts.username or parts.password:
        raise WebhookError(
            "credentials in the URL would be stored in clear; use the secret", field="url"
        )
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise WebhookError("the URL contains whitespace or control characters", field="url")
    if port == 0:
        raise WebhookError("port 0 is not a port to deliver to", field="url")
    if not allow_private and is_private_host(host):
        raise WebhookError(
            f"{host} is a loopback, private or link-local address; this gateway delivers to "
            "public addresses only (AUTOPILOT_WEBHOOK_ALLOW_PRIVATE)",
            field="url",
        )
    return url


def is_private_host(host: str) -> bool:
    """Whether a host name or address literal points inside (loopback, private, link-local)."""
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost") or name.endswith(".internal"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return is_private_address(address)


def is_private_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """An address a tenant's webhook must not reach when private targets are refused."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def check_patterns(patterns: list[str]) -> list[str]:
    """Validated, de-duplicated event patterns (order kept)."""
    if not patterns:
        raise WebhookError(
            "name at least one event pattern, e.g. gate.* or workflow.*", field="events"
        )
    if len(patterns) > MAX_PATTERNS:
        raise WebhookError(f"at most {MAX_PATTERNS} event patterns", field="events")
    seen: list[str] = []
    for index, pattern in enumerate(patterns):
        check_pattern(pattern, field=f"events.{index}")
        if pattern not in seen:
            seen.append(pattern)
    return seen


def check_pattern(pattern: str, *, field: str = "events") -> None:
    """One pattern: `*`, or `workflow.<event>` / `gate.<gate>.<event>` with `*` segments."""
    segments = pattern.split(".")
    if not pattern or len(segments) > 3 or not all(_SEGMENT.match(s) for s in segments):
        raise WebhookError(
            f"{pattern!r} is not an event pattern: dot-separated lower-case names or *, "
            "e.g. gate.*, gate.*.pending, workflow.completed",
            field=field,
        )
    root = segments[0]
    if root != "*" and root not in ROOTS:
        raise WebhookError(
            f"{pattern!r}: events start with workflow. or gate. (or are *)", field=field
        )
    if root == "workflow":
        if len(segments) > 2:
            raise WebhookError(
                f"{pattern!r}: workflow events have one name after workflow.", field=field
            )
        if len(segments) == 2 and segments[1] != "*" and segments[1] not in WORKFLOW_EVENTS:
            raise WebhookError(
                f"{pattern!r}: no workflow event {segments[1]!r} (one of "
                f"{', '.join(sorted(WORKFLOW_EVENTS))})",
                field=field,
            )
    if root == "gate" and len(segments) > 1 and segments[1] != "*" and segments[1] not in GATES:
        raise WebhookError(
            f"{pattern!r}: no gate {segments[1]!r} (one of {', '.join(sorted(GATES))})",
            field=field,
        )


def check_secret(secret: str) -> str:
    """A signing secret long enough to resist guessing."""
    if not MIN_SECRET_LENGTH <= len(secret) <= MAX_SECRET_LENGTH:
        raise WebhookError(
            f"the secret must be {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters",
            field="secret",
        )
    return secret


# --------------------------------------------------------------------------- matching


def matches(pattern: str, event_type: str) -> bool:
    """Whether a short event type is covered by a pattern (a trailing * takes the rest)."""
    want = pattern.split(".")
    have = event_type.split(".")
    for index, segment in enumerate(want):
        if index >= len(have):
            return False
        if segment == "*" and index == len(want) - 1:
            return True
        if segment not in ("*", have[index]):
            return False
    return len(want) == len(have)


def matches_any(patterns: list[str], event_type: str) -> bool:
    """Whether any pattern covers the event type."""
    return any(matches(p, event_type) for p in patterns)


def short_type(subject: str, prefix: str) -> str:
    """The notification's type without the subject prefix (`gate.planning_review.pending`)."""
    return subject.removeprefix(prefix + ".")


# --------------------------------------------------------------------------- signing


def sign(body: bytes, secret: str) -> str:
    """The X-Autopilot-Signature value of a body: `sha256=<hex HMAC-SHA256>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, signature: str | None) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return signature is not None and hmac.compare_digest(sign(body, secret), signature)


# --------------------------------------------------------------------------- bodies


def page_url(public_url: str, workflow_id: str) -> str:
    """The workflow's page on the gateway's web UI, where its pending gate is decided."""
    return f"{public_url.rstrip('/')}/workflows/{workflow_id}"


def cloudevent(
    *,
    event_id: str,
    event_type: str,
    source: str,
    workflow_id: str,
    time: str,
    data: dict[str, Any],
    url: str,
) -> bytes:
    """A CloudEvents 1.0 structured-mode JSON body; `type` is prefix-free (`autopilot.v1.<type>`)."""
    event = {
        "specversion": SPEC_VERSION,
        "id": event_id,
        "type": f"{SUBJECT_PREFIX}.{event_type}",
        "source": source,
        "subject": workflow_id,
        "time": time,
        "datacontenttype": "application/json",
        "data": {"workflow_id": workflow_id, "type": event_type, "url": url, **data},
    }
    return json.dumps(event, separators=(",", ":"), default=str).encode()


def _slack_escape(text: str) -> str:
    """Slack's mrkdwn control characters as entities, so names cannot forge links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(event_type: str, workflow_id: str, data: dict[str, Any], url: str) -> str:
    """One line a reviewer reads in a channel, with a link to the workflow's page."""
    name = _slack_escape(str(data.get("name") or workflow_id[:12]))
    link = f"<{url}|{name}>"
    parts = event_type.split(".")
    if parts[0] == "gate" and len(parts) == 3:
        gate, action = _slack_escape(parts[1]), parts[2]
        if action == "pending":
            return f":hourglass: {link} waits at *{gate}*: review it at <{url}|{url}>"
        by = data.get("by")
        who = f" by {_slack_escape(str(by))}" if by else ""
        return f":memo: {link}: *{gate}* {_slack_escape(action)}{who}"
    status = parts[-1]
    icon = {
        "completed": ":white_check_mark:",
        "failed": ":x:",
        "rejected": ":no_entry:",
        "cancelled": ":heavy_multiplication_x:",
        "started": ":rocket:",
    }.get(status, ":bell:")
    text = f"{icon} {link} {_slack_escape(status)}"
    chart = data.get("chart")
    if status == "completed" and isinstance(chart, dict) and chart.get("name"):
        text += f": chart {_slack_escape(str(chart['name']))} {_slack_escape(str(chart.get('version') or ''))}".rstrip()
    error = data.get("error")
    if isinstance(error, dict) and error.get("message"):
        text += f": {_slack_escape(str(error['message'])[:300])}"
    comment = data.get("comment")
    if comment:
        text += f' ("{_slack_escape(str(comment)[:300])}")'
    return text


def slack_body(event_type: str, workflow_id: str, data: dict[str, Any], url: str) -> bytes:
    """The JSON a Slack incoming webhook takes: `{"text": ...}`."""
    return json.dumps({"text": slack_text(event_type, workflow_id, data, url)}).encode()
