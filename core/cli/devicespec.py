"""``--device`` values -> ``HostConfig.Devices`` (and CDI names), as the docker CLI reads them for a Linux daemon.

``/dev/x``, ``/dev/x:/dev/y``, ``/dev/x:rw``, ``/dev/x:/dev/y:rwm`` become
``{"PathOnHost", "PathInContainer", "CgroupPermissions"}`` (``rwm`` unless
given); a fully qualified CDI name (``vendor.com/class=name``) is collected for
a ``DeviceRequest`` with the ``cdi`` driver instead.
"""

from __future__ import annotations

import posixpath

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing
    from typing import Any

_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


def _cdi_part(name: str, inner: str, first_letter: bool) -> bool:
    if not name or not (name[0].isascii() and (name[0].isalpha() if first_letter else name[0] in _ALNUM)):
        return False
    return all(c in _ALNUM or c in inner for c in name[1:-1]) and name[-1] in _ALNUM


def is_cdi_name(device: str) -> bool:
    """``vendor/class=name`` with CDI's character rules."""
    if not device or device[0] == "/":
        return False
    kind, eq, name = device.partition("=")
    vendor, slash, klass = kind.partition("/")
    if not (eq and name and slash and vendor and klass):
        return False
    return _cdi_part(vendor, "_-.", True) and _cdi_part(klass, "_-.", True) and _cdi_part(name, "_-.:", False)


def valid_mode(mode: str) -> bool:
    """``r``, ``w`` and ``m``, each at most once."""
    return bool(mode) and all(c in "rwm" for c in mode) and len(set(mode)) == len(mode)


def _clean(path: str) -> str:
    """Go's ``path.Clean`` (which, unlike normpath, folds a leading "//" too)."""
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def _validated(value: str) -> str:
    """The docker CLI's ``validateLinuxPath``: the value with its container path cleaned."""
    if value.count(":") > 2 or value.split(":", 1)[0] == "":
        raise ValueError(f"bad format for path: {value}")
    split = value.split(":", 2)
    if len(split) == 1:
        container, value = split[0], _clean(split[0])
    elif len(split) == 2 and valid_mode(split[1]):
        container, value = split[0], f"{_clean(split[0])}:{split[1]}"
    elif len(split) == 2:
        container, value = split[1], f"{split[0]}:{_clean(split[1])}"
    else:
        container = split[1]
        if not valid_mode(split[2]):
            raise ValueError(f"bad mode specified: {split[2]}")
    if not container.startswith("/"):
        raise ValueError(f"{container} is not an absolute path")
    return value


def mapping(value: str) -> dict[str, Any]:
    """One validated ``--device`` value -> a ``DeviceMapping``."""
    parts = _validated(value).split(":", 3)
    source, target, permissions = parts[0], "", "rwm"
    if len(parts) == 3:
        target, permissions = parts[1], parts[2]
    elif len(parts) == 2:
        if valid_mode(parts[1]):
            permissions = parts[1]
        else:
            target = parts[1]
    return {"PathOnHost": source, "PathInContainer": target or source, "CgroupPermissions": permissions}


def devices(values: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """(``Devices``, CDI device names) of every ``--device``."""
    mappings, cdi = [], []
    for value in values:
        if is_cdi_name(value):
            cdi.append(value)
        else:
            mappings.append(mapping(value))
    return mappings, cdi
