"""Type and range checks of a ``POST /containers/create`` body, before anything is stored.

Docker decodes the body into typed Go structs, so a wrong type (``"Env": "A=1"``) or an
impossible value (``"Memory": -5``) is a 400 at create. Without these checks berth would
store the container and fail at start (or in a driver, with a 500). ``null`` is accepted
everywhere, as Go decodes it to the zero value.
"""

from __future__ import annotations

import posixpath
from typing import Any, Iterable

from berth.errors import InvalidArgument

_STR = ("Hostname", "Domainname", "User", "Image", "WorkingDir", "StopSignal", "MacAddress")
_BOOL = ("AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce", "NetworkDisabled",
         "ArgsEscaped")
_STR_LIST = ("Env", "OnBuild", "Shell")
_STR_OR_LIST = ("Cmd", "Entrypoint")  # Docker's strslice: a lone string means a one-element list
_DICT = ("ExposedPorts", "Volumes", "Healthcheck", "HostConfig", "NetworkingConfig")

_HC_STR = ("NetworkMode", "IpcMode", "PidMode", "UTSMode", "UsernsMode", "CgroupnsMode", "CgroupParent",
           "Runtime", "CpusetCpus", "CpusetMems", "VolumeDriver", "Isolation")
_HC_BOOL = ("Privileged", "AutoRemove", "ReadonlyRootfs", "PublishAllPorts", "OomKillDisable")
_HC_STR_LIST = ("Binds", "Dns", "DnsSearch", "DnsOptions", "ExtraHosts", "CapAdd", "CapDrop", "SecurityOpt",
                "GroupAdd", "Links", "VolumesFrom", "DeviceCgroupRules", "MaskedPaths", "ReadonlyPaths")
_HC_DICT_LIST = ("Mounts", "Ulimits", "Devices", "DeviceRequests", "BlkioWeightDevice", "BlkioDeviceReadBps",
                 "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps")
_HC_STR_DICT = ("Tmpfs", "Sysctls", "StorageOpt", "Annotations")
_HC_DICT = ("RestartPolicy", "LogConfig", "PortBindings")
#: integers that must not be negative (-1 is meaningful only for the ones in _HC_MINUS_ONE)
_HC_COUNT = ("Memory", "MemoryReservation", "KernelMemory", "KernelMemoryTCP", "NanoCpus", "CpuShares", "CpuPeriod",
             "CpuRealtimePeriod", "CpuRealtimeRuntime", "BlkioWeight", "CpuCount", "CpuPercent")
_HC_MINUS_ONE = ("MemorySwap", "PidsLimit", "CpuQuota")
#: integers whose range dockerd checks itself, with its own messages (berth.containers.hostconfig and limits)
_HC_INT = ("ShmSize", "OomScoreAdj", "MemorySwappiness", "IOMaximumBandwidth", "IOMaximumIOps")


def _kind(value: Any) -> str:
    return {str: "a string", bool: "a boolean", int: "a number", float: "a number", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def _fail(where: str, wanted: str, value: Any) -> InvalidArgument:
    return InvalidArgument(f"invalid container config: {where} must be {wanted}, not {_kind(value)}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _str_list(where: str, value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(where, "a list of strings", value)


def _str_dict(where: str, value: Any) -> None:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _fail(where, "an object of strings", value)


def check_create_body(body: Any) -> dict[str, Any]:
    """Raise :class:`InvalidArgument` for a malformed create body; return it with strslices normalised."""
    if not isinstance(body, dict):
        raise _fail("the request body", "a JSON object", body)
    body = dict(body)
    for key in _STR:
        if body.get(key) is not None and not isinstance(body[key], str):
            raise _fail(key, "a string", body[key])
    for key in _BOOL:
        if body.get(key) is not None and not isinstance(body[key], bool):
            raise _fail(key, "a boolean", body[key])
    for key in _STR_LIST:
        if body.get(key) is not None:
            _str_list(key, body[key])
    for key in _STR_OR_LIST:
        if isinstance(body.get(key), str):
            body[key] = [body[key]]
        elif body.get(key) is not None:
            _str_list(key, body[key])
    for key in _DICT:
        if body.get(key) is not None and not isinstance(body[key], dict):
            raise _fail(key, "an object", body[key])
    if body.get("Labels") is not None:
        _str_dict("Labels", body["Labels"])
    if body.get("StopTimeout") is not None and not _is_int(body["StopTimeout"]):
        raise _fail("StopTimeout", "an integer", body["StopTimeout"])
    for item in body.get("Env") or []:
        if not item.partition("=")[0]:
            raise InvalidArgument(f"invalid container config: invalid environment variable {item!r}: "
                                  "it needs a name before '='")
    workdir = body.get("WorkingDir")
    if workdir and not posixpath.isabs(workdir):
        raise InvalidArgument(f"the working directory '{workdir}' is invalid, it needs to be an absolute path")
    endpoints = (body.get("NetworkingConfig") or {}).get("EndpointsConfig")
    if endpoints is not None and (not isinstance(endpoints, dict)
                                  or not all(v is None or isinstance(v, dict) for v in endpoints.values())):
        raise _fail("NetworkingConfig.EndpointsConfig", "an object of endpoint objects", endpoints)
    if body.get("HostConfig") is not None:
        _check_host_config(body["HostConfig"])
    return body


def _check_host_config(hc: dict[str, Any]) -> None:
    for key in _HC_STR:
        if hc.get(key) is not None and not isinstance(hc[key], str):
            raise _fail(f"HostConfig.{key}", "a string", hc[key])
    for key in _HC_BOOL:
        if hc.get(key) is not None and not isinstance(hc[key], bool):
            raise _fail(f"HostConfig.{key}", "a boolean", hc[key])
    for key in _HC_STR_LIST:
        if hc.get(key) is not None:
            _str_list(f"HostConfig.{key}", hc[key])
    for key in _HC_DICT_LIST:
        value = hc.get(key)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, dict) for v in value)):
            raise _fail(f"HostConfig.{key}", "a list of objects", value)
    for key in _HC_STR_DICT:
        if hc.get(key) is not None:
            _str_dict(f"HostConfig.{key}", hc[key])
    for key in _HC_DICT:
        if hc.get(key) is not None and not isinstance(hc[key], dict):
            raise _fail(f"HostConfig.{key}", "an object", hc[key])
    for port, bindings in (hc.get("PortBindings") or {}).items():
        if bindings is not None and (not isinstance(bindings, list) or not all(isinstance(b, dict) for b in bindings)):
            raise _fail(f"HostConfig.PortBindings[{port!r}]", "a list of objects", bindings)
    if hc.get("Init") is not None and not isinstance(hc["Init"], bool):
        raise _fail("HostConfig.Init", "a boolean", hc["Init"])
    for key in (*_HC_COUNT, *_HC_MINUS_ONE, *_HC_INT):
        value = hc.get(key)
        if value is None:
            continue
        if not _is_int(value):
            raise _fail(f"HostConfig.{key}", "an integer", value)
        floor = -1 if key in _HC_MINUS_ONE else 0
        if key not in _HC_INT and value < floor:
            raise InvalidArgument(f"invalid container config: HostConfig.{key} cannot be {value}; "
                                  f"the smallest allowed value is {floor}")


def check_update_body(body: dict[str, Any]) -> None:
    """``POST /containers/{id}/update``: Docker's Resources plus RestartPolicy, the same types as in HostConfig."""
    _check_host_config(body)


_CHECKS = {
    "str": (lambda v: isinstance(v, str), "a string"),
    "bool": (lambda v: isinstance(v, bool), "a boolean"),
    "int": (_is_int, "an integer"),
    "dict": (lambda v: isinstance(v, dict), "an object"),
    "str_list": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of strings"),
    "str_dict": (lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
                 "an object of strings"),
    "dict_list": (lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v), "a list of objects"),
    "int_list": (lambda v: isinstance(v, list) and all(_is_int(x) for x in v), "a list of integers"),
}


def check_fields(what: str, body: dict[str, Any], spec: dict[str, str]) -> None:
    """Raise :class:`InvalidArgument` when a field of ``body`` named in ``spec`` has the wrong JSON type.

    ``spec`` maps field names to one of the kinds in ``_CHECKS``; ``null`` always passes.
    """
    for key, kind in spec.items():
        value = body.get(key)
        ok, wanted = _CHECKS[kind]
        if value is not None and not ok(value):
            raise InvalidArgument(f"invalid {what}: {key} must be {wanted}, not {_kind(value)}")


EXEC_FIELDS = {"User": "str", "WorkingDir": "str", "DetachKeys": "str", "Env": "str_list", "AttachStdin": "bool",
               "AttachStdout": "bool", "AttachStderr": "bool", "Tty": "bool", "Privileged": "bool",
               "ConsoleSize": "int_list"}


def go_json_keys(body: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """``body`` with its keys named as ``fields`` spells them: dockerd decodes bodies with Go's
    encoding/json, which matches names case-insensitively, an exact match first (docker-py sends
    ``detachKeys`` for ``DetachKeys``)."""
    exact = set(fields)
    folded = {name.casefold(): name for name in exact}
    out: dict[str, Any] = {}
    for key, value in body.items():
        name = key if key in exact else folded.get(key.casefold(), key)
        if name != key and name in body:
            continue  # the exactly spelled key wins
        out[name] = value
    return out


def check_exec_body(body: dict[str, Any]) -> dict[str, Any]:
    """``POST /containers/{id}/exec``: field types; a lone string Cmd is a one-element list (strslice)."""
    body = go_json_keys(body, ("Cmd", *EXEC_FIELDS))
    if isinstance(body.get("Cmd"), str):
        body["Cmd"] = [body["Cmd"]]
    check_fields("exec config", body, {"Cmd": "str_list", **EXEC_FIELDS})
    return body
