"""``HostConfig`` of a ``run``/``create`` request, field for field as the docker CLI (v28, API 1.45) fills it.

Fields Go always serialises are always here with the docker CLI's zero values;
the ones it omits when empty (``Tmpfs``, ``Sysctls``, ``StorageOpt``,
``Annotations``, ``Mounts``, ``Runtime``, ``Init``...) appear only when set.
``KernelMemory`` is never sent: the Go client clears it for API 1.42 and later.
Each check that the docker CLI makes before sending raises ``ValueError`` with its message.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing
    from typing import Any

    from berth.cli.options import Namespace


def build(opts: Namespace, port_bindings: dict[str, list], binds: list[str] | None) -> dict[str, Any]:
    """The whole ``HostConfig``: namespaces and security, then the resources, then mounts and paths."""
    check_modes(opts)
    host: dict[str, Any] = {
        "Binds": binds, "ContainerIDFile": opts.cidfile, "LogConfig": log_config(opts),
        "NetworkMode": opts.network[0]["Target"] if opts.network else "default", "PortBindings": port_bindings,
        "RestartPolicy": restart_policy(opts.restart), "AutoRemove": opts.rm, "VolumeDriver": opts.volume_driver,
        "VolumesFrom": opts.volumes_from or None, "ConsoleSize": console_size(),
        "CapAdd": capabilities(opts.cap_add), "CapDrop": capabilities(opts.cap_drop),
        "CgroupnsMode": opts.cgroupns, "Dns": list(opts.dns), "DnsOptions": list(opts.dns_option),
        "DnsSearch": list(opts.dns_search), "ExtraHosts": opts.add_host or None, "GroupAdd": opts.group_add or None,
        "IpcMode": opts.ipc, "Cgroup": "", "Links": opts.link or None, "OomScoreAdj": opts.oom_score_adj,
        "PidMode": opts.pid, "Privileged": opts.privileged, "PublishAllPorts": opts.publish_all,
        "ReadonlyRootfs": opts.read_only,
    }
    security, unconfined_paths = security_options(opts.security_opt)
    host["SecurityOpt"] = security
    _set_if(host, "StorageOpt", storage_options(opts.storage_opt))
    _set_if(host, "Tmpfs", {k: v for k, _, v in (t.partition(":") for t in opts.tmpfs)})
    host.update({"UTSMode": opts.uts, "UsernsMode": opts.userns, "ShmSize": opts.shm_size})
    _set_if(host, "Sysctls", dict(opts.sysctl))
    _set_if(host, "Runtime", opts.runtime)
    host["Isolation"] = opts.isolation
    host.update(resources(opts))
    _set_if(host, "Annotations", dict(opts.annotation))
    _set_if(host, "Mounts", list(opts.mount))
    host["MaskedPaths"] = host["ReadonlyPaths"] = [] if unconfined_paths else None
    if opts.init is not None:
        host["Init"] = opts.init
    if opts.rm and host["RestartPolicy"]["Name"] not in ("", "no"):
        raise ValueError("conflicting options: cannot specify both --restart and --rm")
    return host


def _set_if(host: dict[str, Any], key: str, value: Any) -> None:
    """A field Go leaves out when it is empty."""
    if value:
        host[key] = value


def check_modes(opts: Namespace) -> None:
    """``--pid``, ``--uts``, ``--userns`` and ``--cgroupns`` values the docker CLI knows."""
    pid_container = opts.pid.startswith("container:") and len(opts.pid) > len("container:")
    if opts.pid not in ("", "host") and not pid_container:
        raise ValueError("--pid: invalid PID mode")
    if opts.uts not in ("", "host"):
        raise ValueError("--uts: invalid UTS mode")
    if opts.userns not in ("", "host"):
        raise ValueError("--userns: invalid USER mode")
    if opts.cgroupns not in ("", "host", "private"):
        raise ValueError("--cgroupns: invalid CGROUP mode")
    if opts.memory_swappiness != -1 and not 0 <= opts.memory_swappiness <= 100:
        raise ValueError(f"invalid value: {opts.memory_swappiness}. Valid memory swappiness range is 0-100")
    if opts.mac_address and not valid_mac(opts.mac_address):
        raise ValueError(f"{opts.mac_address} is not a valid mac address")


def valid_mac(text: str) -> bool:
    """Go's ``net.ParseMAC``: 6, 8 or 20 bytes as ``aa:bb:..``, ``aa-bb-..`` or ``aabb.ccdd...``."""
    text = text.strip()
    hexdigits = "0123456789abcdefABCDEF"
    if len(text) >= 14 and text[4] == ".":
        groups = text.split(".")
        return len(groups) in (3, 4, 10) and all(len(g) == 4 and all(c in hexdigits for c in g) for g in groups)
    for sep in ":-":
        groups = text.split(sep)
        if len(groups) in (6, 8, 20) and all(len(g) == 2 and all(c in hexdigits for c in g) for g in groups):
            return True
    return False


def log_config(opts: Namespace) -> dict[str, Any]:
    """``LogConfig``: the driver and its ``--log-opt key=value`` options (none for ``--log-driver none``)."""
    if opts.log_driver == "none" and opts.log_opt:
        raise ValueError("invalid logging opts for driver none")
    return {"Type": opts.log_driver, "Config": dict(o.partition("=")[::2] for o in opts.log_opt)}


def restart_policy(text: str) -> dict[str, Any]:
    """``--restart name[:count]``; the name is the daemon's to judge, as with the docker CLI."""
    if not text:
        return {"Name": "", "MaximumRetryCount": 0}
    name, sep, count = text.partition(":")
    if sep and not name:
        raise ValueError("invalid restart policy format: no policy provided before colon")
    retries = 0
    if count:
        digits = count[1:] if count[:1] in ("+", "-") else count
        if not (digits.isdigit() and digits.isascii()):
            raise ValueError("invalid restart policy format: maximum retry count must be an integer")
        retries = int(count)
    return {"Name": name, "MaximumRetryCount": retries}


def console_size() -> list[int]:
    """[height, width] of our stdout when it is a terminal, else [0, 0] (what the docker CLI sends)."""
    try:
        size = os.get_terminal_size(1)
    except OSError:
        return [0, 0]
    return [size.lines, size.columns]


def capabilities(names: list[str]) -> list[str] | None:
    """The Go client's normalisation: upper case, ``CAP_`` prefixed (except ALL), de-duplicated, sorted."""
    normal = {name.upper() if name.upper() == "ALL" or name.upper().startswith("CAP_") else "CAP_" + name.upper()
              for name in names}
    return sorted(normal) or None


def security_options(items: list[str]) -> tuple[list[str] | None, bool]:
    """(``SecurityOpt``, whether ``systempaths=unconfined`` was given): a seccomp file is sent as its content."""
    if not items:
        return None, False
    out = []
    unconfined = False
    for item in items:
        key, sep, value = item.partition("=")
        if not sep and key != "no-new-privileges":
            key, sep, value = item.partition(":")
        if (not sep or not value) and key != "no-new-privileges":
            from berth.cli.flags import go_quote

            raise ValueError(f"Invalid --security-opt: {go_quote(item)}")
        if key == "seccomp" and value not in ("builtin", "unconfined"):
            item = "seccomp=" + _seccomp_profile(value)
        if item == "systempaths=unconfined":
            unconfined = True
            continue
        out.append(item)
    return out, unconfined


def _seccomp_profile(path: str) -> str:
    """The profile file's JSON with its whitespace removed (keys and numbers exactly as written)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ValueError(f"opening seccomp profile ({path}) failed: open {path}: "
                         f"{reason[:1].lower()}{reason[1:]}") from None
    import json

    try:
        json.loads(text)
    except ValueError as exc:
        raise ValueError(f"compacting json for seccomp profile ({path}) failed: {exc}") from None
    return compact_json(text)


def compact_json(text: str) -> str:
    """Valid JSON without insignificant whitespace, everything else kept byte for byte (Go's ``json.Compact``)."""
    out, in_string, escaped = [], False, False
    for ch in text:
        if in_string:
            out.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
            out.append(ch)
        elif ch not in " \t\r\n":
            out.append(ch)
    return "".join(out)


def storage_options(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise ValueError("invalid storage option")
        out[key] = value
    return out


def resources(opts: Namespace) -> dict[str, Any]:
    """The ``Resources`` fields embedded in ``HostConfig`` (Go's order)."""
    devices, cdi_names = [], []
    if opts.device:
        from berth.cli import devicespec

        devices, cdi_names = devicespec.devices(opts.device)
    requests = list(opts.gpus) + ([{"Driver": "cdi", "Count": 0, "DeviceIDs": cdi_names, "Capabilities": None,
                                    "Options": None}] if cdi_names else [])
    return {
        "CpuShares": opts.cpu_shares, "Memory": opts.memory, "NanoCpus": opts.cpus,
        "CgroupParent": opts.cgroup_parent, "BlkioWeight": opts.blkio_weight,
        "BlkioWeightDevice": list(opts.blkio_weight_device), "BlkioDeviceReadBps": list(opts.device_read_bps),
        "BlkioDeviceWriteBps": list(opts.device_write_bps), "BlkioDeviceReadIOps": list(opts.device_read_iops),
        "BlkioDeviceWriteIOps": list(opts.device_write_iops), "CpuPeriod": opts.cpu_period,
        "CpuQuota": opts.cpu_quota, "CpuRealtimePeriod": opts.cpu_rt_period,
        "CpuRealtimeRuntime": opts.cpu_rt_runtime, "CpusetCpus": opts.cpuset_cpus, "CpusetMems": opts.cpuset_mems,
        "Devices": devices, "DeviceCgroupRules": opts.device_cgroup_rule or None, "DeviceRequests": requests or None,
        "MemoryReservation": opts.memory_reservation, "MemorySwap": opts.memory_swap,
        "MemorySwappiness": opts.memory_swappiness, "OomKillDisable": opts.oom_kill_disable,
        "PidsLimit": opts.pids_limit, "Ulimits": [opts.ulimit[name] for name in sorted(opts.ulimit)],
        "CpuCount": opts.cpu_count, "CpuPercent": opts.cpu_percent, "IOMaximumIOps": opts.io_maxiops,
        "IOMaximumBandwidth": opts.io_maxbandwidth,
    }
