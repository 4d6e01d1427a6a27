"""The CLI's credential file, in Docker's ``config.json`` format.

``{"auths": {"127.0.0.1:5000": {"auth": base64("user:password")}}}``; Docker Hub's
key is ``https://index.docker.io/v1/``. The file lives in ``$BERTH_CONFIG``, else
``$DOCKER_CONFIG``, else ``~/.docker`` (so ``docker login`` and ``berth login``
share credentials, as podman does), is written atomically with mode 0600, and
other keys in it (``credsStore``, ``psFormat``...) are kept untouched.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from berth.registry.auth import Credentials, decode_basic, encode_basic
from berth.images.reference import DEFAULT_DOMAIN, LEGACY_DOMAIN
from berth.registry.reference import DOCKER_HUB_API_HOST

DOCKER_HUB_KEY = "https://index.docker.io/v1/"


def config_dir() -> str:
    return os.environ.get("BERTH_CONFIG") or os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker")


def config_path() -> str:
    return os.path.join(config_dir(), "config.json")


def server_key(server: str | None) -> str:
    """The ``auths`` key for a server address: a bare host[:port], or Docker Hub's historical URL."""
    if not server:
        return DOCKER_HUB_KEY
    host = server
    for prefix in ("https://", "http://"):
        if host.startswith(prefix):
            host = host[len(prefix):]
    host = host.split("/", 1)[0]
    if host in (DEFAULT_DOMAIN, LEGACY_DOMAIN, DOCKER_HUB_API_HOST):
        return DOCKER_HUB_KEY
    return host


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
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".config.json.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)  # before any secret is written
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent="\t")
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


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
