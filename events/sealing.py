"""Sealing personal data with a key per employee (AES-GCM), so that forgetting is deleting a key.

A sealed event's data carries `_sealed = {"subject", "paths", "blob"}`: whose key sealed it,
which fields were taken out (not secret: only their names), and the encrypted values. The hash
chain covers the sealed form, so destroying a key changes no hash and the log still verifies.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from events.personal import merge, split

SEALED = "_sealed"
NONCE_BYTES = 12


class KeyRing(Protocol):
    """Where the per-employee keys live (their own table; never in the log)."""

    def key_for(self, subject_id: str, *, create: bool) -> bytes | None:
        """The subject's key; created when asked to; None once it was destroyed."""
        ...

    def keys_for(self, subject_ids: set[str]) -> dict[str, bytes]:
        """The keys that still exist among `subject_ids` (one round trip for a batch)."""
        ...

    def destroy(self, subject_id: str) -> bool:
        """Forget the subject for ever; True if there was a key."""
        ...


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal(type_name: str, data: dict[str, Any], subject_id: str, key: bytes) -> dict[str, Any]:
    """`data` with its personal fields encrypted under the subject's key."""
    public, personal = split(type_name, data)
    if not personal:
        return data
    nonce = os.urandom(NONCE_BYTES)
    plain = json.dumps(personal, sort_keys=True, ensure_ascii=False).encode("utf-8")
    cipher = AESGCM(key).encrypt(nonce, plain, _associated(type_name, subject_id))
    public[SEALED] = {
        "subject": subject_id,
        "paths": sorted(personal),
        "blob": base64.b64encode(nonce + cipher).decode("ascii"),
    }
    return public


def sealed_subject(data: dict[str, Any]) -> str | None:
    """Whose key an event's personal data is sealed with (None: nothing sealed)."""
    sealed = data.get(SEALED)
    return sealed["subject"] if isinstance(sealed, dict) else None


def unseal(type_name: str, data: dict[str, Any], key: bytes | None) -> dict[str, Any]:
    """The event's data with personal fields restored, or marked erased if the key is gone."""
    sealed = data.get(SEALED)
    if not isinstance(sealed, dict):
        return data
    public = {name: value for name, value in data.items() if name != SEALED}
    personal: dict[str, Any] | None = None
    if key is not None:
        raw = base64.b64decode(sealed["blob"])
        try:
            plain = AESGCM(key).decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], _associated(type_name, sealed["subject"])
            )
        except InvalidTag as error:
            raise ValueError(
                f"sealed data of a {type_name} event failed to authenticate"
            ) from error
        personal = json.loads(plain)
    return merge(type_name, public, personal, list(sealed["paths"]))


def _associated(type_name: str, subject_id: str) -> bytes:
    """Bind the ciphertext to its event type and subject: a blob moved elsewhere will not open."""
    return f"{type_name}|{subject_id}".encode()
