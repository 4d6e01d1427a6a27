"""``GET /info``'s cgroup fields and their warnings, from the exec driver's :class:`ExecFeatures`.

dockerd fills them from its host probe (moby 20.10 ``daemon/info_unix.go``); berth asks the
exec driver what it enforces here, so ``info`` tells the truth the create warnings tell.
"""

from __future__ import annotations

from berth.hookspecs.types import ExecFeatures

#: (limit missing, warning, only on cgroup v1), in dockerd's order
_WARNINGS = (
    ("memory", "WARNING: No memory limit support", False),
    ("memory_swap", "WARNING: No swap limit support", False),
    ("kernel_memory_tcp", "WARNING: No kernel memory TCP limit support", True),
    ("oom_kill_disable", "WARNING: No oom kill disable support", True),
    ("cpu_cfs", "WARNING: No cpu cfs quota support", False),
    ("cpu_cfs", "WARNING: No cpu cfs period support", False),
    ("cpu_shares", "WARNING: No cpu shares support", False),
    ("cpuset", "WARNING: No cpuset support", False),
    ("blkio_read_bps", "WARNING: No blkio throttle.read_bps_device support", False),
    ("blkio_write_bps", "WARNING: No blkio throttle.write_bps_device support", False),
    ("blkio_read_iops", "WARNING: No blkio throttle.read_iops_device support", False),
    ("blkio_write_iops", "WARNING: No blkio throttle.write_iops_device support", False),
)


def fields(features: ExecFeatures) -> dict:
    """The boolean capability fields of ``/info`` and the cgroup version."""
    has = features.limits.__contains__
    return {
        "MemoryLimit": has("memory"), "SwapLimit": has("memory_swap"), "KernelMemory": has("kernel_memory"),
        "KernelMemoryTCP": has("kernel_memory_tcp"), "CpuCfsPeriod": has("cpu_cfs"), "CpuCfsQuota": has("cpu_cfs"),
        "CPUShares": has("cpu_shares"), "CPUSet": has("cpuset"), "PidsLimit": has("pids"),
        "OomKillDisable": has("oom_kill_disable"), "CgroupVersion": str(features.cgroup_version or 1),
        "Runtimes": {name: {"path": name} for name in features.runtimes},
    }


def warnings(features: ExecFeatures) -> list[str]:
    """dockerd's ``info`` warnings for the limits this host (or exec driver) cannot enforce."""
    if not features.cgroup_version:
        return ["WARNING: No cgroups: no resource limit can be enforced"]
    return [text for limit, text, v1_only in _WARNINGS
            if limit not in features.limits and (features.cgroup_version == 1 or not v1_only)]
