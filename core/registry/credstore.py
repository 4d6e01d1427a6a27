"""The CLI's credential file, in Docker's ``config.json`` format.

``{"auths": {"127.0.0.1:5000": {"auth": base64("user:password")}}}``; Docker Hub's
key is ``https://index.docker.io/v1/``. The file is the one :mod:`berth.cli.clientconfig`
finds (shared with ``docker login``), is written atomically with mode 0600, and
other keys in it (``credsStore``, ``psFormat``...) are kept untouched.
"""

from __future__ import annotations

import json
import os
from typing import Any

from berth.cli.clientconfig import config_path
from berth.fsutil import atomic_write
from berth.registry.auth import Credentials, decode_basic, encode_basic
from berth.registry.reference import server_host

DOCKER_HUB_KEY = "https://index.docker.io/v1/"


def server_key(server: str | None) -> str:
    """The ``auths`` key for a server address: a bare host[:port], or Docker Hub's historical URL."""
    return server_host(server) or DOCKER_HUB_KEY


def _read(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise OSError(f"cannot read credentials file {path}: {exc}; fix or remove it") from None
    return data if isinstance(data, dict) else {}


def _write(path: str, data: dict[str, Any]) -> None:
    # Docker's own layout (tab-indented, trailing newline), mode 0600 from the start:
    # atomic_write's temp file is created 0600 by mkstemp, so no secret is ever readable.
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    atomic_write(path, (json.dumps(data, indent="\t") + "\n").encode(), mode=0o600)


def load(server: str | None, path: str | None = None) -> Credentials | None:
    """Stored credentials for ``server`` (host[:port] or None for Docker Hub), or None."""
    entry = (_read(path or config_path()).get("auths") or {}).get(server_key(server))
    if not entry:
        return None
    username, password = entry.get("username", ""), entry.get("password", "")
    if entry.get("auth"):
        username, password = decode_basic(entry["auth"])
    return Credentials(username=username, password=password, identity_token=entry.get("identitytoken", ""))


def store(server: str | None, creds: Credentials, path: str | None = None) -> str:
    """Save ``creds`` for ``server``; returns the file written."""
    path = path or config_path()
    data = _read(path)
    entry: dict[str, str] = {"auth": encode_basic(creds.username, creds.password)}
    if creds.identity_token:
        entry = {"auth": encode_basic(creds.username, ""), "identitytoken": creds.identity_token}
    data.setdefault("auths", {})[server_key(server)] = entry
    _write(path, data)
    return path


def erase(server: str | None, path: str | None = None) -> bool:
    """Forget ``server``'s credentials; False when there were none."""
    path = path or config_path()
    data = _read(path)
    auths = data.get("auths") or {}
    if server_key(server) not in auths:
        return False
    del auths[server_key(server)]
    _write(path, data)
    return True
