"""Checkpoint values are encrypted with AES-GCM; values LangGraph's EAX cipher wrote still read."""

from __future__ import annotations

import pytest
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer

from shared.config import Settings
from shared.infra.checkpoint import GCM, CheckpointCipher, serializer

KEY = b"0123456789abcdef0123456789abcdef"
VALUE = {"plan": {"name": "shop", "secret": "s3cret-value"}, "attempt": 2}


def test_values_round_trip_under_gcm_and_hide_their_content() -> None:
    """A value comes back equal, is stored as `<type>+aesgcm`, and its bytes are not plain."""
    serde = EncryptedSerializer(CheckpointCipher(KEY))
    typ, data = serde.dumps_typed(VALUE)
    assert typ.endswith(f"+{GCM}")
    assert b"s3cret-value" not in data
    assert serde.loads_typed((typ, data)) == VALUE


def test_values_written_by_langgraphs_eax_cipher_still_read() -> None:
    """Checkpoints stored before the change (LangGraph's stock AES-EAX) are read back."""
    old = EncryptedSerializer.from_pycryptodome_aes(key=KEY)
    stored = old.dumps_typed(VALUE)
    assert stored[0].endswith("+aes")
    assert EncryptedSerializer(CheckpointCipher(KEY)).loads_typed(stored) == VALUE


def test_tampered_or_foreign_values_are_refused() -> None:
    """A flipped byte fails authentication, another key fails, an unknown cipher is named."""
    serde = EncryptedSerializer(CheckpointCipher(KEY))
    typ, data = serde.dumps_typed(VALUE)
    flipped = data[:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(ValueError, match="MAC check failed"):
        serde.loads_typed((typ, flipped))
    other = EncryptedSerializer(CheckpointCipher(b"f" * 32))
    with pytest.raises(ValueError, match="MAC check failed"):
        other.loads_typed((typ, data))
    with pytest.raises(ValueError, match="rot13"):
        CheckpointCipher(KEY).decrypt("rot13", data)


def test_serializer_uses_the_gcm_cipher_only_with_a_key() -> None:
    """Settings with a key give the encrypting serde; without one, LangGraph's plaintext."""
    serde = serializer(Settings(aes_key=KEY.decode()))
    assert isinstance(serde, EncryptedSerializer)
    assert isinstance(serde.cipher, CheckpointCipher)
    assert serializer(Settings(aes_key=None)) is None


def test_psycopg_runs_its_compiled_implementation() -> None:
    """Every checkpoint, workflow row and event goes through psycopg: its pure-Python libpq
    wrapper costs the gateway about a fifth more CPU per chart (bench/system.py)."""
    import psycopg

    assert psycopg.pq.__impl__ in ("binary", "c"), psycopg.pq.__impl__
