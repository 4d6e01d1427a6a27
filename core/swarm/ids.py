"""Identifiers and secrets in swarmkit's formats: object IDs, join tokens, unlock keys.

Clients parse some of these (the CLI shows tokens and keys, scripts cut IDs), so they
have swarmkit's shapes: an object ID is 128 random bits in base 36, 25 characters
(the high bit set so none is shorter); a join token is ``SWMTKN-1-`` + the root CA's
digest in base 36 (50 characters) + ``-`` + 128 random bits in base 36 (25); an
unlock key is ``SWMKEY-1-`` + 32 random bytes in unpadded base64.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def base36(number: int, width: int) -> str:
    """``number`` in base 36, zero-padded to ``width`` characters."""
    out = ""
    while number:
        number, digit = divmod(number, 36)
        out = DIGITS[digit] + out
    return out.rjust(width, "0")


def new_id() -> str:
    """A new object ID (nodes, services, tasks, secrets, configs, swarm networks, the cluster)."""
    raw = bytearray(secrets.token_bytes(16))
    raw[0] |= 0x80
    return base36(int.from_bytes(raw, "big"), 25)


def join_token(root_ca_pem: bytes) -> str:
    """A join token bound to the cluster's root CA (its digest is in the token, as swarmkit's)."""
    digest = int(hashlib.sha256(root_ca_pem).hexdigest(), 16)
    return f"SWMTKN-1-{base36(digest, 50)}-{base36(int.from_bytes(secrets.token_bytes(16), 'big'), 25)}"


def unlock_key() -> str:
    return "SWMKEY-1-" + base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
