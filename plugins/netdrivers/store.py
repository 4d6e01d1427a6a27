"""Atomic JSON state files for the network drivers (temp file in the same dir, fsync, rename)."""

from __future__ import annotations

import json
import os

from berth.driverkit import atomic_write


def write_json(path: str, data: object) -> None:
    """Replace ``path`` with ``data`` as JSON so that a crash leaves the old or the new file, never half."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # compact: the C encoder (indent= falls back to the pure-Python one, several times slower)
    atomic_write(path, json.dumps(data, sort_keys=True, separators=(",", ":")).encode(), 0o600)


def read_json(path: str) -> object | None:
    """The JSON in ``path``, or None when the file does not exist."""
    try:
        with open(path) as fh:
            return json.load(fh)
    except FileNotFoundError:
        return None


def remove(path: str) -> None:
    """Delete ``path`` if it exists."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
