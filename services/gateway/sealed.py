"""What reviewers see at a gate, encrypted in the gateway's workflow row.

While a workflow waits, its row holds the gate payload (the plan, findings, the rendered diff
with ConfigMap contents and env values). With LANGGRAPH_AES_KEY set the row keeps only the gate's
name and when it opened in clear; the payload is AES-256-GCM under a subkey of that key (HKDF,
its own label), like checkpoints and artifacts are encrypted under the same key.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF
from Crypto.Random import get_random_bytes


def derive(secret: bytes, label: bytes) -> bytes:
    """A 32-byte subkey of a server secret for one purpose (HKDF-SHA256)."""
    return bytes(HKDF(secret, 32, label, SHA256))


class Sealer:
    """AES-256-GCM for what reviewers see at a gate, under a subkey of LANGGRAPH_AES_KEY.

    The workflow id and the gate are bound in as associated data, so a payload copied to another
    workflow's row does not open. Without a key, payloads pass through in plaintext (local mode
    without encryption, as for checkpoints and artifacts).
    """

    CIPHER = "aes-256-gcm"

    def __init__(self, key: bytes | None) -> None:
        self._key = derive(key, b"autopilot-gate-payloads") if key else None

    @property
    def enabled(self) -> bool:
        """Whether payloads are encrypted."""
        return self._key is not None

    def seal(self, workflow_id: str, gate: str, payload: dict[str, Any]) -> str:
        """base64(nonce + tag + ciphertext) of the payload's JSON."""
        assert self._key is not None
        nonce = get_random_bytes(12)
        aes = AES.new(self._key, AES.MODE_GCM, nonce=nonce, mac_len=16)
        aes.update(f"{workflow_id}\0{gate}".encode())
        ciphertext, tag = aes.encrypt_and_digest(json.dumps(payload, default=str).encode())
        return base64.b64encode(nonce + tag + ciphertext).decode()

    def open(self, workflow_id: str, gate: str, sealed: str) -> dict[str, Any]:
        """The payload `seal` made; ValueError when the key or the address is wrong."""
        if self._key is None:
            raise ValueError(f"the gate payload of {workflow_id} is encrypted and no key is set")
        raw = base64.b64decode(sealed)
        aes = AES.new(self._key, AES.MODE_GCM, nonce=raw[:12], mac_len=16)
        aes.update(f"{workflow_id}\0{gate}".encode())
        data: dict[str, Any] = json.loads(aes.decrypt_and_verify(raw[28:], raw[12:28]))
        return data
