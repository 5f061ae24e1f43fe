"""What the runtime reads from a failed or unparseable message.

Which errors are retried and how they are reported is `shared.errors.classify` / `is_transient`.
"""

from __future__ import annotations

import json
import re

import nats.errors
import nats.js.errors
from faststream.nats import NatsMessage

_HEADER_MAX = 1000


def header_value(value: object) -> str:
    """A value safe for a NATS header: one line, bounded."""
    return re.sub(r"[\r\n]+", " ", str(value))[:_HEADER_MAX]


def delivery_count(message: NatsMessage) -> int:
    """How many times JetStream has delivered this message (1 outside JetStream)."""
    try:
        return int(message.raw_message.metadata.num_delivered)
    except (nats.errors.Error, AttributeError, TypeError, ValueError):
        return 1


def stream_seq(message: NatsMessage) -> str | None:
    """The message's stream sequence, when it came from JetStream."""
    try:
        return str(message.raw_message.metadata.sequence.stream)
    except (nats.errors.Error, AttributeError, TypeError, ValueError):
        return None


def peek_ids(body: bytes) -> tuple[str | None, int]:
    """Workflow id and attempt of a payload that is not a valid request, if they can be read."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, 1
    if not isinstance(doc, dict):
        return None, 1
    data = doc.get("data")
    data = data if isinstance(data, dict) else {}
    workflow_id = data.get("workflow_id", doc.get("subject"))
    attempt = data.get("attempt")
    attempt = attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else 1
    if not isinstance(workflow_id, str) or not workflow_id.strip() or len(workflow_id) > 256:
        return None, max(attempt, 1)
    return workflow_id, max(attempt, 1)
