"""A create request's HostConfig: validated, given dockerd's defaults, and its warnings collected.

One entry point, :func:`prepare`, called by create before anything is stored (dockerd's
``verifyContainerSettings`` then ``adaptContainerSettings``). It refuses what dockerd
refuses (400, dockerd's message), drops with a warning what this host or exec driver
cannot enforce (the create response's ``Warnings``), and writes the defaults dockerd
writes so that inspect shows them (IpcMode, ShmSize, CgroupnsMode, MemorySwap, Runtime...).
Checks that depend on the state at start (the other container of ``container:X``, device
nodes, the image's /etc/group) happen when the spec is built.
"""

from __future__ import annotations

from typing import Any, Callable

from berth.containers import limits, securityopts
from berth.errors import InvalidArgument, NotFound
from berth.hookspecs.types import ExecFeatures

DEFAULT_SHM_SIZE = 64 * 1024 * 1024

_IPC_MODES = ("", "none", "private", "shareable", "host")
_CGROUPNS_MODES = ("", "host", "private")

#: a callable that finds a container by name or id prefix and returns its full id (NotFound otherwise)
FindContainer = Callable[[str], str]


def prepare(host_config: dict[str, Any], config: dict[str, Any], features: ExecFeatures,
            find_container: FindContainer, remapped: bool = False) -> list[str]:
    """Check ``host_config`` in place for a new container (``config``: the request's Config fields;
    ``remapped``: the daemon runs with ``--userns-remap``); return dockerd's warnings for it."""
    hc = host_config
    if hc.get("UTSMode") == "host" and config.get("Hostname"):
        raise InvalidArgument("conflicting options: hostname and the UTS mode")
    warnings = limits.check_resources(hc, features)
    if int(hc.get("ShmSize") or 0) < 0:
        raise InvalidArgument("SHM size can not be less than 0")
    score = int(hc.get("OomScoreAdj") or 0)
    if not -1000 <= score <= 1000:
        raise InvalidArgument(f"Invalid value {score}, range for oom score adj is [-1000, 1000]")
    _check_runtime(hc, features)
    _check_isolation(hc)
    _check_namespace_modes(hc, find_container)
    if remapped:
        _check_remapped(hc)
    if hc.get("CgroupnsMode") == "private" and not features.cgroup_namespaces:
        warnings.append("Your kernel does not support cgroup namespaces.  Cgroup namespace setting discarded.")
    warnings += securityopts.host_warnings(securityopts.parse(hc), features.security)
    _check_ulimits(hc)
    warnings += _check_devices(hc, features)
    _set_defaults(hc, features)
    return warnings


def _check_runtime(hc: dict[str, Any], features: ExecFeatures) -> None:
    """``--runtime``: the exec driver by its name (or its OCI runtime's); one exec driver serves a daemon."""
    runtime = hc.get("Runtime") or ""
    if runtime and runtime not in features.runtimes:
        raise InvalidArgument(f"Unknown runtime specified {runtime}")


def _check_isolation(hc: dict[str, Any]) -> None:
    isolation = hc.get("Isolation") or ""
    if isolation.lower() not in ("", "default"):
        raise InvalidArgument(f"Invalid isolation: \"{isolation}\" - linux only supports 'default'")


def _container_ref(mode: str) -> str | None:
    """``container:X`` -> X ("" when X is missing); None for every other mode."""
    kind, sep, ref = mode.partition(":")
    return ref if kind == "container" and sep else None


def _check_namespace_modes(hc: dict[str, Any], find_container: FindContainer) -> None:
    """Docker's valid modes; ``container:X`` must name an existing container and is stored by full id."""
    for key, label, plain in (("IpcMode", "IPC", _IPC_MODES), ("PidMode", "PID", ("", "host"))):
        mode = hc.get(key) or ""
        ref = _container_ref(mode)
        if ref is None and mode not in plain or ref == "":
            raise InvalidArgument(f"invalid {label} mode: {mode}")
        if ref:
            try:
                hc[key] = "container:" + find_container(ref)
            except NotFound:
                raise InvalidArgument(f"No such container: {ref}") from None
    for key, label in (("UTSMode", "UTS"), ("UsernsMode", "userns")):
        if (hc.get(key) or "") not in ("", "host"):
            raise InvalidArgument(f"invalid {label} mode: {hc[key]}")
    if (hc.get("CgroupnsMode") or "") not in _CGROUPNS_MODES:
        raise InvalidArgument(f"invalid cgroup namespace mode: {hc['CgroupnsMode']}")


def _check_remapped(hc: dict[str, Any]) -> None:
    """What cannot share a user namespace with the remapped root: host root's powers and host namespaces
    (dockerd's checks and words; ``--userns host`` opts a container out of remapping, and out of these)."""
    if hc.get("UsernsMode") == "host":
        return
    if hc.get("Privileged"):
        raise InvalidArgument("privileged mode is incompatible with user namespaces.  You must run the container in "
                              "the host namespace when running privileged mode")
    if hc.get("NetworkMode") == "host":
        raise InvalidArgument("cannot share the host's network namespace when user namespaces are enabled")
    if hc.get("PidMode") == "host":
        raise InvalidArgument("cannot share the host PID namespace when user namespaces are enabled")


def _check_ulimits(hc: dict[str, Any]) -> None:
    """``--ulimit``: a known name and integers (dockerd defers this to the runtime; berth answers at create)."""
    from berth.containers.rlimits import check_ulimit

    for ulimit in hc.get("Ulimits") or []:
        check_ulimit(ulimit)


def _check_devices(hc: dict[str, Any], features: ExecFeatures) -> list[str]:
    """``--device`` syntax and ``--device-cgroup-rule`` lines (the nodes themselves are read at start);
    a warning where the exec driver enforces no device allowlist, so the rules would change nothing."""
    from berth.containers import devices

    for mapping in hc.get("Devices") or []:
        devices.check_mapping(mapping)
    devices.rules_from_strings(hc.get("DeviceCgroupRules"))
    if hc.get("DeviceCgroupRules") and "devices" not in features.limits:
        return ["Your kernel does not support device cgroup rules or the cgroup is not mounted. "
                "Device cgroup rules discarded."]
    return []


def _set_defaults(hc: dict[str, Any], features: ExecFeatures) -> None:
    """What dockerd's ``adaptContainerSettings`` fills in (and inspect shows)."""
    if int(hc.get("Memory") or 0) > 0 and not hc.get("MemorySwap"):
        hc["MemorySwap"] = int(hc["Memory"]) * 2  # Docker's default: as much swap as memory
    if not hc.get("ShmSize"):
        hc["ShmSize"] = DEFAULT_SHM_SIZE
    if not hc.get("IpcMode"):
        hc["IpcMode"] = "private"
    if not hc.get("CgroupnsMode"):
        # dockerd: private on cgroup v2; on v1 the host's (a private one would show only the container's subtree)
        hc["CgroupnsMode"] = "private" if features.cgroup_version == 2 else "host"
    if hc.get("OomKillDisable") is None:
        hc["OomKillDisable"] = False
    if hc.get("PidsLimit") is not None and hc["PidsLimit"] <= 0:
        hc["PidsLimit"] = None  # 0 and -1 mean "no limit", which dockerd stores as null
    if not hc.get("Runtime"):
        hc["Runtime"] = features.runtimes[0] if features.runtimes else ""
    _default_system_paths(hc)
    securityopts.with_default_label(hc)


def _default_system_paths(hc: dict[str, Any]) -> None:
    """dockerd writes its default masked and read-only paths into an unprivileged container's HostConfig
    when the client sent none (the docker CLI sends ``[]`` for ``systempaths=unconfined``)."""
    from berth.containers.spec import MASKED_PATHS, READONLY_PATHS

    if hc.get("Privileged"):
        return
    if hc.get("MaskedPaths") is None:
        hc["MaskedPaths"] = list(MASKED_PATHS)
    if hc.get("ReadonlyPaths") is None:
        hc["ReadonlyPaths"] = list(READONLY_PATHS)
