"""Sealing personal data with a key per employee (AES-GCM), so that forgetting is deleting a key.

A sealed event's data carries `_sealed = {"subject", "paths", "blob"}`: whose key sealed it,
which fields were taken out (not secret: only their names), and the encrypted values. The hash
chain covers the sealed form, so destroying a key changes no hash and the log still verifies.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from typing import Any, Protocol

import orjson
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


def unseal(
    type_name: str, data: dict[str, Any], key: bytes | None, *, owned: bool = False
) -> dict[str, Any]:
    """The event's data with personal fields restored, or marked erased if the key is gone.

    `owned`: `data` is the caller's to give away (freshly parsed from the log), so it is opened
    in place rather than copied; it is left as it was if the blob fails to authenticate.
    """
    sealed = data.get(SEALED)
    if not isinstance(sealed, dict):
        return data
    personal: dict[str, Any] | None = None
    if key is not None:
        raw = binascii.a2b_base64(sealed["blob"])
        try:
            plain = AESGCM(key).decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], _associated(type_name, sealed["subject"])
            )
        except InvalidTag as error:
            raise ValueError(
                f"sealed data of a {type_name} event failed to authenticate"
            ) from error
        personal = _parse(plain)
    paths = set(sealed["paths"])
    if owned:
        del data[SEALED]
        return merge(type_name, data, personal, paths, owned=True)
    public = {name: value for name, value in data.items() if name != SEALED}
    return merge(type_name, public, personal, paths)


#: Every ASCII digit as "0", every other byte as a space: integers of 19 digits or more, which
#: orjson reads as floats beyond 64 bits (json as ints), show as a run of 19 zeros. A table
#: lookup per byte: a regular expression for the same run costs more than json.loads itself.
_DIGITS = bytes(ord("0") if ord("0") <= byte <= ord("9") else ord(" ") for byte in range(256))
_LONG_NUMBER = b"0" * 19


def _parse(plain: bytes) -> Any:
    """The sealed values, as `json.loads` reads what `seal` wrote, at orjson's speed.

    orjson gives the same values for JSON text except what it refuses (NaN, Infinity, lone
    surrogates: it raises) and integers beyond 64 bits (it returns floats): both are left to
    `json.loads`.
    """
    if _LONG_NUMBER not in plain.translate(_DIGITS):
        try:
            return orjson.loads(plain)
        except orjson.JSONDecodeError:
            pass
    return json.loads(plain)


def _associated(type_name: str, subject_id: str) -> bytes:
    """Bind the ciphertext to its event type and subject: a blob moved elsewhere will not open."""
    return f"{type_name}|{subject_id}".encode()
