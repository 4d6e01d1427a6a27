"""Errors of the registry client, mapped to the HTTP statuses Docker's API uses for them."""

from __future__ import annotations

import json

from berth.errors import BerthError, NotFound


class RegistryError(BerthError):
    """The registry refused or failed a request (BerthError's 500, as Docker reports registry failures)."""


class Unauthorized(RegistryError):
    """Credentials missing or refused (401 on ``/auth``; pulls report it as access denied)."""

    status = 401


class Transient(RegistryError):
    """A failure worth retrying: connection reset, timeout, 5xx, 429.

    Once the retries are spent the API answers 500, as dockerd does for an unreachable registry
    (its pull, push, search and login report the dial error as an untyped failure).
    """


class DigestMismatch(RegistryError):
    """A blob or manifest whose content does not hash to the digest it was asked for (500)."""


class RegistryNotFound(NotFound):
    """The registry answered 404 (unknown repository, manifest, tag or blob)."""


def describe(status: int, body: bytes) -> str:
    """``manifest unknown: manifest unknown`` from the distribution error body, or the status line."""
    try:
        data = json.loads(body)
        errors = data.get("errors") or []
        parts = []
        for err in errors:
            code = str(err.get("code", "")).lower().replace("_", " ")
            message = err.get("message", "")
            parts.append(f"{code}: {message}" if code and message and code != message else (message or code))
        if parts:
            return "; ".join(parts)
        if isinstance(data.get("details"), str):
            return data["details"]
    except (ValueError, AttributeError):
        pass
    text = body.decode(errors="replace").strip()
    return text[:200] if text else f"HTTP {status}"
