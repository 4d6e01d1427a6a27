"""Build the OCI runtime spec (config.json) that every exec driver consumes.

Docker's defaults, in one place: the capability set, the masked and read-only
/proc and /sys paths, the standard mounts and the device allowlist
(moby ``oci/defaults.go`` and ``daemon/oci_linux.go``). Input is the image
config and Docker's create options; output is a plain OCI spec dict.
"""

from __future__ import annotations

import platform
from typing import Any

from berth.containers.seccomp import profile_for
from berth.containers.users import ExecUser
from berth.errors import InvalidArgument
from berth.hookspecs.types import Sandbox

OCI_VERSION = "1.0.2"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

DEFAULT_CAPABILITIES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]

#: Every capability the kernel knows of (for --privileged and --cap-add ALL), in number order.
ALL_CAPABILITIES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]

MASKED_PATHS = [
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/devices/virtual/powercap",
]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

#: Device nodes every container gets: (path, type, major, minor).
DEFAULT_DEVICES = [
    ("/dev/null", "c", 1, 3), ("/dev/zero", "c", 1, 5), ("/dev/full", "c", 1, 7),
    ("/dev/random", "c", 1, 8), ("/dev/urandom", "c", 1, 9), ("/dev/tty", "c", 5, 0),
]

#: The cgroup device allowlist: deny everything, then allow what Docker allows.
DEFAULT_DEVICE_RULES = [
    {"allow": False, "access": "rwm"},
    {"allow": True, "type": "c", "access": "m"},
    {"allow": True, "type": "b", "access": "m"},
    *({"allow": True, "type": "c", "major": ma, "minor": mi, "access": "rwm"} for _, _, ma, mi in DEFAULT_DEVICES),
    {"allow": True, "type": "c", "major": 5, "minor": 1, "access": "rwm"},  # /dev/console
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},  # /dev/ptmx
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},  # /dev/pts/*
    {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"},  # /dev/net/tun
]


def command(config: dict[str, Any], image_config: dict[str, Any]) -> list[str]:
    """Entrypoint + Cmd as Docker merges them; an empty result is Docker's "no command specified"."""
    entrypoint = config.get("Entrypoint")
    cmd = config.get("Cmd")
    if entrypoint is None:
        entrypoint = image_config.get("Entrypoint") or []
        if not cmd:
            cmd = image_config.get("Cmd") or []
    elif entrypoint == [""]:  # `--entrypoint ""` clears the image's entrypoint
        entrypoint = []
    argv = list(entrypoint or []) + list(cmd or [])
    if not argv:
        raise InvalidArgument("No command specified")
    return argv


def merge_env(image_env: list[str], env: list[str], hostname: str, home: str) -> list[str]:
    """Image env overridden by the container's, plus Docker's PATH/HOSTNAME/HOME rules."""
    merged: dict[str, str] = {}
    for item in [*(image_env or []), *(env or [])]:
        key, sep, value = item.partition("=")
        if not key:
            raise InvalidArgument(f"invalid environment variable: {item!r}")
        merged[key] = value if sep else merged.get(key, "")
    merged.setdefault("PATH", DEFAULT_PATH)
    out = {"PATH": merged.pop("PATH"), "HOSTNAME": hostname}
    out.update(merged)
    out.setdefault("HOME", home)
    return [f"{k}={v}" for k, v in out.items()]


def host_capabilities(status_file: str = "/proc/self/status") -> list[str]:
    """Every capability the daemon may hand on (its bounding set): ``--privileged`` and ``ALL`` mean these.

    Hosts may withhold some (this kind of machine has no CAP_SYS_RESOURCE); asking the kernel
    for more than we hold would fail the container's capset.
    """
    try:
        with open(status_file) as f:
            bounding = next(int(line.split()[1], 16) for line in f if line.startswith("CapBnd:"))
    except (OSError, StopIteration, ValueError):
        return list(ALL_CAPABILITIES)
    return [cap for bit, cap in enumerate(ALL_CAPABILITIES) if bounding >> bit & 1]


def capabilities(host_config: dict[str, Any]) -> list[str]:
    """Docker's default set, adjusted by CapAdd/CapDrop (names with or without CAP_, or ALL)."""
    if host_config.get("Privileged"):
        return host_capabilities()

    def norm(name: str) -> str:
        name = name.upper()
        return name if name.startswith("CAP_") or name == "ALL" else "CAP_" + name

    adds = [norm(c) for c in host_config.get("CapAdd") or []]
    drops = [norm(c) for c in host_config.get("CapDrop") or []]
    for cap in adds + drops:
        if cap != "ALL" and cap not in ALL_CAPABILITIES:
            raise InvalidArgument(f"unknown capability: {cap!r}")
    caps = [] if "ALL" in drops else list(DEFAULT_CAPABILITIES)
    caps = host_capabilities() if "ALL" in adds else caps + [c for c in adds if c not in caps]
    return [c for c in caps if c not in drops or c in adds]


def standard_mounts(privileged: bool) -> list[dict[str, Any]]:
    ro = [] if privileged else ["ro"]
    return [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", *ro]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", *ro]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]},
    ]


def build_spec(
    *,
    container_id: str,
    config: dict[str, Any],
    host_config: dict[str, Any],
    image_config: dict[str, Any],
    rootfs: str,
    hostname: str,
    user: ExecUser,
    sandbox: Sandbox,
    etc_files: dict[str, str],
    rlimits: list[dict[str, Any]] | None = None,
    extra_mounts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The OCI spec of one container. ``etc_files`` maps /etc/hosts etc. to host files to bind."""
    privileged = bool(host_config.get("Privileged"))
    args = command(config, image_config)
    caps = capabilities(host_config)
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "cgroup")]
    if sandbox.netns_path:
        namespaces.append({"type": "network", "path": sandbox.netns_path})
    elif not sandbox.share_host:
        namespaces.append({"type": "network"})
    mounts = standard_mounts(privileged)
    for dest, source in etc_files.items():
        mounts.append({"destination": dest, "type": "bind", "source": source, "options": ["rbind", "rprivate"]})
    mounts.extend(extra_mounts or [])
    for tmpfs_dest, opts in (host_config.get("Tmpfs") or {}).items():
        mounts.append({"destination": tmpfs_dest, "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "nodev", "noexec", *[o for o in opts.split(",") if o]]})
    seccomp = profile_for(host_config, caps, platform.machine())
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": bool(config.get("Tty")),
            "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
            "args": args,
            "env": merge_env(image_config.get("Env") or [], config.get("Env") or [], hostname, user.home),
            "cwd": config.get("WorkingDir") or image_config.get("WorkingDir") or "/",
            "capabilities": {k: list(caps) for k in ("bounding", "effective", "permitted")}
            | {"inheritable": [], "ambient": []},
            "rlimits": rlimits or [],
            "noNewPrivileges": not privileged,
        },
        "root": {"path": rootfs, "readonly": bool(host_config.get("ReadonlyRootfs"))},
        "hostname": hostname,
        "mounts": mounts,
        "linux": {
            "namespaces": namespaces,
            "maskedPaths": [] if privileged else list(MASKED_PATHS),
            "readonlyPaths": [] if privileged else list(READONLY_PATHS),
            "devices": [{"path": p, "type": t, "major": ma, "minor": mi, "fileMode": 0o666, "uid": 0, "gid": 0}
                        for p, t, ma, mi in DEFAULT_DEVICES],
            "resources": resources(host_config),
            "cgroupsPath": f"/berth/{container_id}",
            **({"seccomp": seccomp} if seccomp is not None else {}),
        },
        "annotations": {"io.berth.container.id": container_id,
                        **({"io.berth.init": "true"} if host_config.get("Init") else {})},
    }


def resources(host_config: dict[str, Any]) -> dict[str, Any]:
    """Docker's HostConfig resource fields as an OCI ``linux.resources`` object."""
    res: dict[str, Any] = {"devices": [{"allow": True, "access": "rwm"}] if host_config.get("Privileged")
                           else [dict(r) for r in DEFAULT_DEVICE_RULES]}
    memory: dict[str, Any] = {}
    if host_config.get("Memory"):
        memory["limit"] = int(host_config["Memory"])
    if host_config.get("MemorySwap"):
        memory["swap"] = int(host_config["MemorySwap"])
    if memory:
        res["memory"] = memory
    cpu: dict[str, Any] = {}
    if host_config.get("CpuShares"):
        cpu["shares"] = int(host_config["CpuShares"])
    if host_config.get("NanoCpus"):
        cpu["period"] = 100000
        cpu["quota"] = int(host_config["NanoCpus"]) * 100000 // 1_000_000_000
    if host_config.get("CpuQuota"):
        cpu["quota"] = int(host_config["CpuQuota"])
    if host_config.get("CpuPeriod"):
        cpu["period"] = int(host_config["CpuPeriod"])
    if host_config.get("CpusetCpus"):
        cpu["cpus"] = host_config["CpusetCpus"]
    if host_config.get("CpusetMems"):
        cpu["mems"] = host_config["CpusetMems"]
    if cpu:
        res["cpu"] = cpu
    if host_config.get("PidsLimit"):
        res["pids"] = {"limit": int(host_config["PidsLimit"])}
    if host_config.get("BlkioWeight"):
        res["blockIO"] = {"weight": int(host_config["BlkioWeight"])}
    return res
