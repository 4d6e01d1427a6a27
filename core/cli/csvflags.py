"""The flags whose value is a CSV record of ``key=value`` fields: ``--mount``, ``--network`` and ``--gpus``.

The docker CLI reads these with Go's ``encoding/csv`` (so a field holding a comma
is written in double quotes: ``--gpus '"device=0,1"'``) and builds the Engine
API object from the fields: a ``Mount``, a network attachment (turned into an
``EndpointSettings`` by :mod:`berth.cli.createbody`) or a ``DeviceRequest``.
Objects are built key by key in the order and with the omitted-when-empty
fields of the Go types the docker CLI serialises, so the request is the same.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing
    from typing import Any


def csv_fields(text: str) -> list[str]:
    """The first record of ``text`` as Go's ``csv.Reader`` reads it (quotes, "" escapes, strict quoting)."""
    if not text:
        raise ValueError("EOF")
    fields: list[str] = []
    i, n = 0, len(text)
    while True:
        if text[i:i + 1] == '"':
            value, i = _quoted(text, i + 1)
        else:
            end = i
            while end < n and text[end] not in ",\n":
                end += 1
            value = text[i:end] if text[end:end + 1] == "," else text[i:end].removesuffix("\r")
            if '"' in value:
                column = i + value.index('"') + 1
                raise ValueError(f'parse error on line 1, column {column}: bare " in non-quoted field')
            i = end
        fields.append(value)
        if i >= n or text[i] in "\r\n":
            return fields
        i += 1  # past the comma


def _quoted(text: str, i: int) -> tuple[str, int]:
    """A quoted field from just after its opening quote: (value, index after the closing quote)."""
    out = []
    while True:
        close = text.find('"', i)
        if close == -1:
            raise ValueError(f'parse error on line 1, column {len(text) + 1}: extraneous or missing " in quoted-field')
        out.append(text[i:close])
        if text[close + 1:close + 2] == '"':  # "" is one quote
            out.append('"')
            i = close + 2
            continue
        after = close + 1
        if after < len(text) and text[after] not in ",\n\r":
            raise ValueError(f'parse error on line 1, column {after + 1}: extraneous or missing " in quoted-field')
        return "".join(out), after


def _bool(key: str, value: str) -> bool:
    from berth.cli.flagvalues import parse_bool

    try:
        return parse_bool(value)
    except ValueError:
        raise ValueError(f"invalid value for {key}: {value}") from None


# -- --mount ----------------------------------------------------------------------------------

_FLAG_FIELDS = {"readonly": ("ReadOnly", None), "ro": ("ReadOnly", None),
                "volume-nocopy": ("NoCopy", "VolumeOptions"), "bind-nonrecursive": ("NonRecursive", "BindOptions")}
_RECURSIVE = {"enabled": None, "disabled": "NonRecursive", "writable": "ReadOnlyNonRecursive",
              "readonly": "ReadOnlyForceRecursive"}
#: Go field order of each options object, and of Mount itself
_ORDER = {"Mount": ("Type", "Source", "Target", "ReadOnly", "Consistency", "BindOptions", "VolumeOptions",
                    "ImageOptions", "TmpfsOptions"),
          "BindOptions": ("Propagation", "NonRecursive", "CreateMountpoint", "ReadOnlyNonRecursive",
                          "ReadOnlyForceRecursive"),
          "VolumeOptions": ("NoCopy", "Labels", "Subpath", "DriverConfig"), "DriverConfig": ("Name", "Options"),
          "ImageOptions": ("Subpath",), "TmpfsOptions": ("SizeBytes", "Mode", "Options")}


class _MountBuilder:
    """A ``Mount`` being filled field by field; options objects appear when a field of theirs is given."""

    def __init__(self):
        self.mount: dict[str, Any] = {"Type": "volume"}

    def options(self, name: str) -> dict[str, Any]:
        if name not in self.mount:
            self.mount[name] = {"Labels": {}, "DriverConfig": {}} if name == "VolumeOptions" else {}
        return self.mount[name]

    def set(self, key: str, value: str) -> None:
        from berth.cli import flagvalues

        if key == "type":
            self.mount["Type"] = value.lower()
        elif key in ("source", "src"):
            self.mount["Source"] = os.path.abspath(value) if value.startswith(".") else value
        elif key in ("target", "dst", "destination"):
            self.mount["Target"] = value
        elif key in ("readonly", "ro"):
            self.mount["ReadOnly"] = _bool(key, value)
        elif key == "consistency":
            self.mount["Consistency"] = value.lower()
        elif key == "bind-propagation":
            self.options("BindOptions")["Propagation"] = value.lower()
        elif key == "bind-nonrecursive":
            self.options("BindOptions")["NonRecursive"] = _bool(key, value)
        elif key == "bind-recursive":
            self._recursive(key, value)
        elif key == "volume-subpath":
            self.options("VolumeOptions")["Subpath"] = value
        elif key == "volume-nocopy":
            self.options("VolumeOptions")["NoCopy"] = _bool(key, value)
        elif key in ("volume-label", "volume-opt"):
            self._keyed(key, value)
        elif key == "volume-driver":
            self.options("VolumeOptions")["DriverConfig"]["Name"] = value
        elif key == "image-subpath":
            self.options("ImageOptions")["Subpath"] = value
        elif key == "tmpfs-size":
            self.options("TmpfsOptions")["SizeBytes"] = _number(key, value, flagvalues.parse_ram_bytes)
        elif key == "tmpfs-mode":
            self.options("TmpfsOptions")["Mode"] = _number(key, value, _octal_mode)
        else:
            raise KeyError(key)

    def _recursive(self, key: str, value: str) -> None:
        if value not in _RECURSIVE:
            raise ValueError(f'invalid value for {key}: {value} (must be "enabled", "disabled", "writable", '
                             'or "readonly")')
        if _RECURSIVE[value]:
            self.options("BindOptions")[_RECURSIVE[value]] = True

    def _keyed(self, key: str, value: str) -> None:
        volume = self.options("VolumeOptions")
        target = volume["Labels"] if key == "volume-label" else volume["DriverConfig"].setdefault("Options", {})
        name, _, item = value.partition("=")
        if name:
            target[name] = item


def _octal_mode(text: str) -> int:
    if not text or not all(ch in "01234567" for ch in text) or int(text, 8) >= 1 << 32:
        raise ValueError(text)
    return int(text, 8)


def _number(key: str, value: str, parse) -> int:  # noqa: ANN001 - a converter
    try:
        return parse(value)
    except ValueError:
        raise ValueError(f"invalid value for {key}: {value}") from None


def mount(value: str) -> dict[str, Any]:
    """``--mount type=bind,src=/a,dst=/b,readonly`` -> an API ``Mount`` (``type`` defaults to volume)."""
    builder = _MountBuilder()
    for field in csv_fields(value):
        key, eq, item = field.partition("=")
        key = key.lower()
        if not eq:
            if key not in _FLAG_FIELDS:
                raise ValueError(f"invalid field '{field}' must be a key=value pair")
            name, holder = _FLAG_FIELDS[key]
            (builder.options(holder) if holder else builder.mount)[name] = True
            continue
        try:
            builder.set(key, item)
        except KeyError:
            raise ValueError(f"unexpected key '{key}' in '{field}'") from None
    _check_mount(builder.mount)
    return _ordered(builder.mount, "Mount")


def _check_mount(m: dict[str, Any]) -> None:
    if not m["Type"]:
        raise ValueError("type is required")
    if not m.get("Target"):
        raise ValueError("target is required")
    for holder, kind in (("VolumeOptions", "volume"), ("ImageOptions", "image"), ("BindOptions", "bind"),
                         ("TmpfsOptions", "tmpfs")):
        if holder in m and m["Type"] != kind:
            raise ValueError(f"cannot mix '{kind}-*' options with mount type '{m['Type']}'")
    bind = m.get("BindOptions") or {}
    if bind.get("ReadOnlyNonRecursive") and not m.get("ReadOnly"):
        raise ValueError("option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction")
    if bind.get("ReadOnlyForceRecursive"):
        if not m.get("ReadOnly"):
            raise ValueError("option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction")
        if bind.get("Propagation") != "rprivate":
            raise ValueError("option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified "
                             "in conjunction")


def _ordered(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    """``obj`` in Go field order, without the fields Go omits when empty (options objects stay, even {})."""
    out = {}
    for key in _ORDER[kind]:
        if key not in obj:
            continue
        value = obj[key]
        if key in _ORDER:
            out[key] = _ordered(value, key)
        elif value or value is None:
            out[key] = value
    return out


# -- --network ----------------------------------------------------------------------------------

def _long_syntax(value: str) -> bool:
    """Docker's test for the ``name=...,alias=...`` form: a word, "=", a word, anywhere in the value."""
    def word(ch: str) -> bool:
        return ch.isascii() and (ch.isalnum() or ch == "_")

    return any(value[i] == "=" and 0 < i < len(value) - 1 and word(value[i - 1]) and word(value[i + 1])
               for i in range(len(value)))


def network_attachment(value: str) -> dict[str, Any]:
    """``--network NAME`` or ``--network name=NAME,alias=A,ip=...,driver-opt=k=v,gw-priority=N``."""
    attachment: dict[str, Any] = {"Target": value, "Aliases": None, "DriverOpts": None, "IPv4Address": "",
                                  "IPv6Address": "", "LinkLocalIPs": None, "MacAddress": "", "GwPriority": 0}
    if not _long_syntax(value):
        return attachment
    attachment.update(Target="", Aliases=[])
    for field in csv_fields(value):
        key, eq, item = field.lower().partition("=")
        if not eq or not key:
            raise ValueError(f"invalid field {field}")
        _network_field(attachment, key.strip(), item.strip())
    if not attachment["Target"]:
        raise ValueError("network name/id is not specified")
    return attachment


def _network_field(attachment: dict[str, Any], key: str, value: str) -> None:
    simple = {"name": "Target", "ip": "IPv4Address", "ip6": "IPv6Address", "mac-address": "MacAddress"}
    if key in simple:
        attachment[simple[key]] = value
    elif key == "alias":
        attachment["Aliases"].append(value)
    elif key == "link-local-ip":
        attachment["LinkLocalIPs"] = (attachment["LinkLocalIPs"] or []) + [value]
    elif key == "driver-opt":
        name, eq, item = value.partition("=")
        if not eq or not name:
            raise ValueError("invalid key value pair format in driver options")
        attachment["DriverOpts"] = {**(attachment["DriverOpts"] or {}), name.strip(): item.strip()}
    elif key == "gw-priority":
        digits = value[1:] if value[:1] in ("+", "-") else value
        if not (digits.isdigit() and digits.isascii()):
            raise ValueError(f"invalid gw-priority ({value}): invalid syntax")
        attachment["GwPriority"] = int(value)
    else:
        raise ValueError("invalid field key " + key)


# -- --gpus ---------------------------------------------------------------------------------------

def _gpu_count(text: str) -> int:
    if text == "all":
        return -1
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not (digits.isdigit() and digits.isascii()):
        raise ValueError(f'invalid count ({text}): value must be either "all" or an integer: invalid syntax')
    return int(text)


def gpu_request(value: str) -> dict[str, Any]:
    """``--gpus all``, ``--gpus 2``, ``--gpus '"device=0,1"'``, ``capabilities=...`` -> a ``DeviceRequest``."""
    request: dict[str, Any] = {"Driver": "", "Count": 0, "DeviceIDs": None, "Capabilities": None, "Options": None}
    seen: set[str] = set()
    for field in csv_fields(value):
        key, eq, item = field.partition("=")
        if key in seen:
            raise ValueError(f"gpu request key '{key}' can be specified only once")
        seen.add(key)
        if not eq:
            seen.add("count")
            request["Count"] = _gpu_count(key)
        elif key == "driver":
            request["Driver"] = item
        elif key == "count":
            request["Count"] = _gpu_count(item)
        elif key == "device":
            request["DeviceIDs"] = item.split(",")
        elif key == "capabilities":
            request["Capabilities"] = [item.split(",") + ["gpu"]]
        elif key == "options":
            request["Options"] = dict(f.partition("=")[::2] for f in csv_fields(item))
        else:
            raise ValueError(f"unexpected key '{key}' in '{field}'")
    if "count" not in seen and request["DeviceIDs"] is None:
        request["Count"] = 1
    request["Options"] = request["Options"] or {}
    request["Capabilities"] = request["Capabilities"] or [["gpu"]]
    return request
