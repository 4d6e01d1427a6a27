"""What the host's cgroups can limit: the probe behind ``exec_features`` (native and oci drivers).

dockerd probes the same facts at start-up (moby ``pkg/sysinfo``) and drops, with a
warning, any requested limit the host cannot enforce. On cgroup v1 a control exists
when its file exists in the hierarchy's root; on v2 when the controller is enabled at
the root (and, for files the root cgroup lacks, when the file exists in the daemon's
own cgroup, as dockerd checks).
"""

from __future__ import annotations

import os

from berth.hookspecs.types import ExecFeatures

#: limit name -> (v1 controller, file that must exist in the hierarchy's root). ``kernel_memory`` is never
#: offered: the kernel deprecated kmem limits in 5.4 and neither driver sets them (runc 1.1 ignores them too),
#: so a request gets dockerd's "Limitation discarded." warning instead of being silently dropped.
V1_FILES = {
    "memory": ("memory", "memory.limit_in_bytes"),
    "memory_swap": ("memory", "memory.memsw.limit_in_bytes"),
    "memory_reservation": ("memory", "memory.soft_limit_in_bytes"),
    "memory_swappiness": ("memory", "memory.swappiness"),
    "oom_kill_disable": ("memory", "memory.oom_control"),
    "kernel_memory_tcp": ("memory", "memory.kmem.tcp.limit_in_bytes"),
    "pids": ("pids", "cgroup.procs"),
    "cpu_shares": ("cpu", "cpu.shares"),
    "cpu_cfs": ("cpu", "cpu.cfs_quota_us"),
    "cpu_realtime": ("cpu", "cpu.rt_runtime_us"),
    "cpuset": ("cpuset", "cpuset.cpus"),
    "blkio_weight": ("blkio", "blkio.weight"),
    "blkio_weight_device": ("blkio", "blkio.weight_device"),
    "blkio_read_bps": ("blkio", "blkio.throttle.read_bps_device"),
    "blkio_write_bps": ("blkio", "blkio.throttle.write_bps_device"),
    "blkio_read_iops": ("blkio", "blkio.throttle.read_iops_device"),
    "blkio_write_iops": ("blkio", "blkio.throttle.write_iops_device"),
    "devices": ("devices", "devices.allow"),
}

#: limit name -> v2 controller that provides it (v2 has no swappiness, kmem, OOM-kill switch or RT)
V2_CONTROLLERS = {
    "memory": "memory", "memory_reservation": "memory", "pids": "pids", "cpu_shares": "cpu", "cpu_cfs": "cpu",
    "cpuset": "cpuset", "blkio_weight_device": "io", "blkio_read_bps": "io", "blkio_write_bps": "io",
    "blkio_read_iops": "io", "blkio_write_iops": "io",
}


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _v1_dir(hierarchies: dict[str, str], controller: str) -> str | None:
    for key, mount in hierarchies.items():
        if controller in key.split(","):
            return mount
    return None


def v1_limits(hierarchies: dict[str, str]) -> frozenset[str]:
    """The limits whose control files exist in the v1 hierarchies' roots."""
    found = set()
    for name, (controller, filename) in V1_FILES.items():
        root = _v1_dir(hierarchies, controller)
        if root and os.path.exists(os.path.join(root, filename)):
            found.add(name)
    return frozenset(found)


def own_v2_cgroup(proc_cgroup: str = "/proc/self/cgroup") -> str:
    """This process's path in the unified hierarchy ("/" when unknown)."""
    for line in _read(proc_cgroup).splitlines():
        if line.startswith("0::"):
            return line[3:] or "/"
    return "/"


def in_user_namespace(uid_map: str = "/proc/self/uid_map") -> bool:
    """True inside a user namespace other than the initial one (whose map is "0 0 4294967295")."""
    return _read(uid_map).split() != ["0", "0", "4294967295"]


def v2_limits(root: str, own: str = "/", userns: bool | None = None) -> frozenset[str]:
    """The limits the unified hierarchy at ``root`` offers (``own``: the daemon's cgroup, for non-root files).

    Device rules are always enforceable on v2 (an eBPF program, which the exec driver attaches or
    refuses to run without), except inside a user namespace, where loading one is not allowed:
    dockerd decides the same way.
    """
    controllers = set(_read(os.path.join(root, "cgroup.controllers")).split())
    found = {name for name, controller in V2_CONTROLLERS.items() if controller in controllers}
    if not (in_user_namespace() if userns is None else userns):
        found.add("devices")
    here = os.path.join(root, own.strip("/"))
    if "memory" in controllers and any(os.path.exists(os.path.join(d, "memory.swap.max")) for d in (root, here)):
        found.add("memory_swap")
    if "io" in controllers and any(os.path.exists(os.path.join(d, name))
                                   for d in (root, here) for name in ("io.weight", "io.bfq.weight")):
        found.add("blkio_weight")
    return frozenset(found)


def _first(*values: str) -> str:
    return next((v for v in values if v), "")


def user_namespaces_available(proc: str = "/proc") -> bool:
    """The kernel can make user namespaces here (and no sysctl forbids them)."""
    if not os.path.exists(os.path.join(proc, "self/ns/user")):
        return False
    limit = _read(os.path.join(proc, "sys/user/max_user_namespaces"))
    return not limit or int(limit) > 0


def host_features(*, runtimes: tuple[str, ...], security: frozenset[str],
                  hierarchies: dict[str, str] | None = None, unified_root: str = "/sys/fs/cgroup",
                  sys_root: str = "/sys") -> ExecFeatures:
    """The host's cgroup facts as :class:`ExecFeatures` (``hierarchies`` None: read /proc/self/mountinfo)."""
    from .cgroups import v1_hierarchies

    if hierarchies is None:
        hierarchies = v1_hierarchies()
    online_cpus = _read(os.path.join(sys_root, "devices/system/cpu/online"))
    online_mems = _read(os.path.join(sys_root, "devices/system/node/online")) or "0"
    if hierarchies:
        cpuset = _v1_dir(hierarchies, "cpuset")
        cpus = _first(_read(os.path.join(cpuset, "cpuset.effective_cpus")) if cpuset else "", online_cpus)
        mems = _first(_read(os.path.join(cpuset, "cpuset.effective_mems")) if cpuset else "", online_mems)
        return ExecFeatures(cgroup_version=1, limits=v1_limits(hierarchies), cpus=cpus, mems=mems,
                            cgroup_namespaces=os.path.exists("/proc/self/ns/cgroup"), security=security,
                            runtimes=runtimes)
    if os.path.exists(os.path.join(unified_root, "cgroup.controllers")):
        cpus = _first(_read(os.path.join(unified_root, "cpuset.cpus.effective")), online_cpus)
        mems = _first(_read(os.path.join(unified_root, "cpuset.mems.effective")), online_mems)
        return ExecFeatures(cgroup_version=2, limits=v2_limits(unified_root, own_v2_cgroup()), cpus=cpus,
                            mems=mems, cgroup_namespaces=os.path.exists("/proc/self/ns/cgroup"),
                            security=security, runtimes=runtimes)
    return ExecFeatures(cpus=online_cpus, mems=online_mems, security=security, runtimes=runtimes)


def host_lsms(security_root: str = "/sys/kernel/security", selinux_root: str = "/sys/fs/selinux") -> set[str]:
    """The LSMs that are active here and that an OCI runtime could apply ("apparmor", "selinux")."""
    found = set()
    if _read("/sys/module/apparmor/parameters/enabled").startswith("Y") \
            and os.path.isdir(os.path.join(security_root, "apparmor")):
        found.add("apparmor")
    if os.path.exists(os.path.join(selinux_root, "enforce")):
        found.add("selinux")
    return found
