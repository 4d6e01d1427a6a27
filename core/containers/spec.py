"""Build the OCI runtime spec (config.json) that every exec driver consumes.

Docker's defaults, in one place: the capability set, the masked and read-only
/proc and /sys paths, the standard mounts and the device allowlist
(moby ``oci/defaults.go`` and ``daemon/oci_linux.go``). Input is the image
config and Docker's create options; output is a plain OCI spec dict.
"""

from __future__ import annotations

import platform
from typing import Any

from berth.containers import devices, resource_fields, rlimits, securityopts, sysctls
from berth.containers.hostconfig import DEFAULT_SHM_SIZE
from berth.containers.seccomp import profile_for
from berth.containers.users import ExecUser
from berth.errors import InvalidArgument
from berth.hookspecs.types import INIT_ANNOTATION, IdMap, Sandbox

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


def standard_mounts(privileged: bool, shm: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Docker's mounts of every container; ``shm`` is the /dev/shm entry (None: no /dev/shm, ``--ipc none``)."""
    ro = [] if privileged else ["ro"]
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", *ro]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", *ro]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    ]
    return mounts + ([shm] if shm else [])


def shm_mount(host_config: dict[str, Any], joins: dict[str, int]) -> dict[str, Any] | None:
    """/dev/shm by IpcMode: a private tmpfs of ShmSize, the host's, the joined container's, or none."""
    mode = host_config.get("IpcMode") or ""
    if mode == "none":
        return None
    if mode == "host" or mode.startswith("container:"):
        # the other container's tmpfs, reached through its init's root (no mount of ours on the host)
        source = "/dev/shm" if mode == "host" else f"/proc/{joins['ipc']}/root/dev/shm"
        return {"destination": "/dev/shm", "type": "bind", "source": source, "options": ["rbind", "rprivate"]}
    size = int(host_config.get("ShmSize") or DEFAULT_SHM_SIZE)
    return {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={size}"]}


def namespaces(host_config: dict[str, Any], sandbox: Sandbox, joins: dict[str, int]) -> list[dict[str, Any]]:
    """The OCI namespaces: a new one, another container's (``path``), or none listed (the host's)."""
    out: list[dict[str, Any]] = []
    for kind, key in (("pid", "PidMode"), ("ipc", "IpcMode")):
        mode = host_config.get(key) or ""
        if mode.startswith("container:"):
            out.append({"type": kind, "path": f"/proc/{joins[kind]}/ns/{kind}"})
        elif mode != "host":
            out.append({"type": kind})
    if host_config.get("UTSMode") != "host":
        out.append({"type": "uts"})
    out.append({"type": "mount"})
    if host_config.get("CgroupnsMode") != "host":  # containers made before the default was recorded: private
        out.append({"type": "cgroup"})
    if sandbox.netns_path:
        out.append({"type": "network", "path": sandbox.netns_path})
    elif not sandbox.share_host:
        out.append({"type": "network"})
    return out


def sysctls_for(config: dict[str, Any], host_config: dict[str, Any], spaces: list[dict[str, Any]],
                sandbox: Sandbox) -> dict[str, str]:
    """Docker's defaults for a container's own network namespace, then ``--sysctl`` (checked as runc does).

    ``--domainname`` is the sysctl ``kernel.domainname``, as dockerd sets it (OCI has no field for
    it; a ``--sysctl`` of the same key wins): so a host UTS namespace refuses it with runc's words.
    """
    kinds = {ns["type"]: ns for ns in spaces}
    domain = {"kernel.domainname": config["Domainname"]} if config.get("Domainname") else {}
    wanted = {**domain, **(host_config.get("Sysctls") or {})}
    sysctls.check(wanted, private_ipc="ipc" in kinds, private_net="network" in kinds,
                  private_uts="uts" in kinds and "path" not in kinds["uts"])
    network_mode = host_config.get("NetworkMode") or ""
    own_network = not sandbox.share_host and not network_mode.startswith("container:")
    return {**(sysctls.docker_defaults() if own_network else {}), **wanted}


def devices_for(host_config: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(linux.devices, linux.resources.devices): Docker's defaults plus ``--device`` and its rules."""
    devices.refuse_device_requests(host_config.get("DeviceRequests"))
    nodes = [{"path": p, "type": t, "major": ma, "minor": mi, "fileMode": 0o666, "uid": 0, "gid": 0}
             for p, t, ma, mi in DEFAULT_DEVICES]
    if host_config.get("Privileged"):
        nodes += devices.host_devices()
        rules = [{"allow": True, "access": "rwm"}]
    else:
        rules = [dict(r) for r in DEFAULT_DEVICE_RULES]
    for mapping in host_config.get("Devices") or []:
        more_nodes, more_rules = devices.from_mapping(mapping)
        nodes += more_nodes
        if not host_config.get("Privileged"):
            rules += more_rules
    if not host_config.get("Privileged"):
        rules += devices.rules_from_strings(host_config.get("DeviceCgroupRules"))
    return nodes, rules


def process_security(host_config: dict[str, Any], lsms: frozenset[str]) -> dict[str, Any]:
    """The process fields ``--security-opt`` decides: no_new_privs (off unless asked) and an AppArmor profile."""
    opts = securityopts.parse(host_config)
    out: dict[str, Any] = {"noNewPrivileges": opts.no_new_privileges}
    if opts.apparmor and "apparmor" in lsms:
        out["apparmorProfile"] = opts.apparmor
    return out


def system_paths(host_config: dict[str, Any], privileged: bool) -> tuple[list[str], list[str]]:
    """(maskedPaths, readonlyPaths): Docker's, the HostConfig's own lists, or none (privileged, systempaths=unconfined)."""
    if privileged or securityopts.parse(host_config).unconfined_system_paths:
        return [], []
    masked, readonly = host_config.get("MaskedPaths"), host_config.get("ReadonlyPaths")
    return (list(MASKED_PATHS) if masked is None else list(masked),
            list(READONLY_PATHS) if readonly is None else list(readonly))


def cgroups_path(host_config: dict[str, Any], container_id: str) -> str:
    """``<CgroupParent>/<id>``; berth's own parent is /berth (Docker's is /docker)."""
    parent = host_config.get("CgroupParent") or "/berth"
    return "/" + f"{parent.strip('/')}/{container_id}".lstrip("/")


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
    extra_mounts: list[dict[str, Any]] | None = None,
    joins: dict[str, int] | None = None,
    lsms: frozenset[str] = frozenset({"seccomp"}),
    user_namespace: dict[str, Any] | None = None,
    idmap: IdMap | None = None,
) -> dict[str, Any]:
    """The OCI spec of one container. ``etc_files`` maps /etc/hosts etc. to host files to bind; ``joins``
    maps "pid"/"ipc" to the host pid of the container whose namespace a ``container:X`` mode joins;
    ``user_namespace`` and ``idmap`` make a remapped container (:func:`remapped`)."""
    spec = _spec(container_id, config, host_config, image_config, rootfs, hostname, user, sandbox, etc_files,
                 extra_mounts or [], joins or {}, lsms)
    return remapped(spec, host_config, user_namespace, idmap) if user_namespace and idmap else spec


def remapped(spec: dict[str, Any], host_config: dict[str, Any], user_namespace: dict[str, Any],
             idmap: IdMap) -> dict[str, Any]:
    """A remapped container's spec, as dockerd makes it: its user namespace (a new one, or the one of the
    container whose namespaces it shares) with the daemon's maps; no default ``ping_group_range`` (a range
    the namespace cannot map); the cgroup mount read-write (dockerd clears ``ro`` there under user
    namespaces: runc could not remount it, and the files are host root's anyway)."""
    linux = spec["linux"]
    linux["namespaces"].insert(0, dict(user_namespace))
    linux.update(idmap.oci())
    if "net.ipv4.ping_group_range" not in (host_config.get("Sysctls") or {}):
        linux["sysctl"].pop("net.ipv4.ping_group_range", None)
    for mount in spec["mounts"]:
        if mount["type"] == "cgroup":
            mount["options"] = [o for o in mount["options"] if o != "ro"]
    return spec


def _spec(container_id: str, config: dict[str, Any], host_config: dict[str, Any], image_config: dict[str, Any],
          rootfs: str, hostname: str, user: ExecUser, sandbox: Sandbox, etc_files: dict[str, str],
          extra_mounts: list[dict[str, Any]], joins: dict[str, int], lsms: frozenset[str]) -> dict[str, Any]:
    privileged = bool(host_config.get("Privileged"))
    caps = capabilities(host_config)
    spaces = namespaces(host_config, sandbox, joins)
    mounts = standard_mounts(privileged, shm_mount(host_config, joins))
    for dest, source in etc_files.items():
        mounts.append({"destination": dest, "type": "bind", "source": source, "options": ["rbind", "rprivate"]})
    mounts.extend(extra_mounts)
    for tmpfs_dest, opts in (host_config.get("Tmpfs") or {}).items():
        mounts.append({"destination": tmpfs_dest, "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "nodev", "noexec", *[o for o in opts.split(",") if o]]})
    seccomp = profile_for(host_config, caps, platform.machine())
    nodes, device_rules = devices_for(host_config)
    masked, readonly = system_paths(host_config, privileged)
    own_pid_namespace = not (host_config.get("PidMode") or "").partition(":")[0] in ("host", "container")
    return {
        "ociVersion": OCI_VERSION,
        "process": process_for(config, host_config, image_config, hostname, user, caps, lsms),
        "root": {"path": rootfs, "readonly": bool(host_config.get("ReadonlyRootfs"))},
        **({} if host_config.get("UTSMode") == "host" else {"hostname": hostname}),
        "mounts": mounts,
        "linux": {
            "namespaces": spaces,
            "maskedPaths": masked,
            "readonlyPaths": readonly,
            "devices": nodes,
            "resources": {"devices": device_rules, **resources(host_config)},
            "sysctl": sysctls_for(config, host_config, spaces, sandbox),
            "cgroupsPath": cgroups_path(host_config, container_id),
            **({"seccomp": seccomp} if seccomp is not None else {}),
        },
        "annotations": {**(host_config.get("Annotations") or {}), "io.berth.container.id": container_id,
                        **({INIT_ANNOTATION: "true"} if host_config.get("Init") and own_pid_namespace else {})},
    }


def process_for(config: dict[str, Any], host_config: dict[str, Any], image_config: dict[str, Any], hostname: str,
                user: ExecUser, caps: list[str], lsms: frozenset[str]) -> dict[str, Any]:
    """The OCI ``process``: command, environment, user, capabilities, rlimits, OOM score, no_new_privs."""
    return {
        "terminal": bool(config.get("Tty")),
        "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
        "args": command(config, image_config),
        "env": merge_env(image_config.get("Env") or [], config.get("Env") or [], hostname, user.home),
        "cwd": config.get("WorkingDir") or image_config.get("WorkingDir") or "/",
        "capabilities": {k: list(caps) for k in ("bounding", "effective", "permitted")}
        | {"inheritable": [], "ambient": []},
        "rlimits": rlimits.oci_rlimits(host_config.get("Ulimits")),
        "oomScoreAdj": int(host_config.get("OomScoreAdj") or 0),
        **process_security(host_config, lsms),
    }


def resources(host_config: dict[str, Any]) -> dict[str, Any]:
    """Docker's HostConfig resource fields as an OCI ``linux.resources`` object (the device rules apart:
    :func:`devices_for`, so that ``docker update`` leaves a running container's device access alone)."""
    res: dict[str, Any] = {}
    memory = resource_fields.memory(host_config)
    if memory:
        res["memory"] = memory
    cpu = resource_fields.cpu(host_config)
    if cpu:
        res["cpu"] = cpu
    if host_config.get("PidsLimit") is not None and host_config["PidsLimit"] != 0:
        res["pids"] = {"limit": int(host_config["PidsLimit"]) if host_config["PidsLimit"] > 0 else -1}
    block_io = resource_fields.block_io(host_config)
    if block_io:
        res["blockIO"] = block_io
    return res
