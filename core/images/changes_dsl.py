"""Dockerfile instructions applied to an image config: ``import -c`` / ``commit -c`` (``changes=``).

Docker accepts CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME,
WORKDIR and STOPSIGNAL here; berth takes all but ONBUILD (which only matters to a
builder). Each change is one instruction line; JSON-array and shell forms work
as in a Dockerfile (the shell form of CMD/ENTRYPOINT runs under ``/bin/sh -c``).
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from berth.errors import InvalidArgument

ALLOWED = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "USER", "VOLUME", "WORKDIR", "STOPSIGNAL")


def _json_or_none(text: str) -> list[str] | None:
    text = text.strip()
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None  # Docker falls back to the shell form for malformed JSON
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"{text!r}: a JSON-form instruction must be an array of strings")
    return value


def _command(text: str) -> list[str]:
    as_json = _json_or_none(text)
    return as_json if as_json is not None else ["/bin/sh", "-c", text.strip()]


def _pairs(keyword: str, text: str) -> list[tuple[str, str]]:
    """``k=v k2="v 2"`` (or the legacy ``KEY value with spaces`` for ENV/LABEL)."""
    words = shlex.split(text, posix=True)
    if not words:
        raise InvalidArgument(f"{keyword} requires at least one argument")
    if "=" not in words[0]:
        key, _, value = text.strip().partition(" ")
        if not value.strip():
            raise InvalidArgument(f"{keyword} {text.strip()!r}: expected KEY=VALUE (or KEY VALUE)")
        return [(key, value.strip())]
    out = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"{keyword}: {word!r} is not KEY=VALUE")
        out.append((key, value))
    return out


def apply_change(config: dict[str, Any], line: str) -> None:
    """Apply one instruction ``line`` to the container-config dict ``config`` (Docker's ``Config``)."""
    keyword, _, rest = line.strip().partition(" ")
    keyword = keyword.upper()
    if keyword not in ALLOWED:
        raise InvalidArgument(f"{keyword or line!r} is not a valid change command; use one of {', '.join(ALLOWED)}")
    rest = rest.strip()
    if keyword == "CMD":
        config["Cmd"] = _command(rest)
    elif keyword == "ENTRYPOINT":
        config["Entrypoint"] = _command(rest)
    elif keyword == "ENV":
        env = list(config.get("Env") or [])
        for key, value in _pairs(keyword, rest):
            env = [e for e in env if e.partition("=")[0] != key] + [f"{key}={value}"]
        config["Env"] = env
    elif keyword == "LABEL":
        labels = dict(config.get("Labels") or {})
        labels.update(_pairs(keyword, rest))
        config["Labels"] = labels
    elif keyword == "EXPOSE":
        ports = dict(config.get("ExposedPorts") or {})
        for spec in rest.split():
            port, _, proto = spec.partition("/")
            if not port.isdigit() or proto not in ("", "tcp", "udp", "sctp"):
                raise InvalidArgument(f"EXPOSE {spec!r}: expected PORT[/tcp|udp|sctp]")
            ports[f"{port}/{proto or 'tcp'}"] = {}
        config["ExposedPorts"] = ports
    elif keyword == "VOLUME":
        paths = _json_or_none(rest) or rest.split()
        if not paths:
            raise InvalidArgument("VOLUME requires at least one path")
        volumes = dict(config.get("Volumes") or {})
        volumes.update({p: {} for p in paths})
        config["Volumes"] = volumes
    elif not rest:
        raise InvalidArgument(f"{keyword} requires an argument")
    elif keyword == "USER":
        config["User"] = rest
    elif keyword == "WORKDIR":
        # relative to the current one, as in a Dockerfile
        base = config.get("WorkingDir") or "/"
        config["WorkingDir"] = rest if rest.startswith("/") else base.rstrip("/") + "/" + rest
    elif keyword == "STOPSIGNAL":
        config["StopSignal"] = rest


def apply_changes(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """A copy of ``config`` with every instruction of ``changes`` applied in order."""
    out = json.loads(json.dumps(config or {}))
    for line in changes:
        if line.strip():
            apply_change(out, line)
    return out
