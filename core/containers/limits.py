"""Resource limits of a HostConfig checked against what the exec driver can enforce here.

dockerd's ``verifyPlatformContainerResources`` (moby 20.10 ``daemon/daemon_unix.go``), in
its order and with its messages: an impossible combination is refused (400); a limit the
host cannot enforce is dropped from the HostConfig with a warning that the create
response carries in ``Warnings``. The same checks run for ``docker update``.
"""

from __future__ import annotations

import os
from typing import Any

from berth.errors import InvalidArgument
from berth.hookspecs.types import ExecFeatures

MIN_MEMORY = 6 * 1024 * 1024  # Docker's floor for --memory and --memory-reservation

_NOT_SUPPORTED = "Your kernel does not support {} or the cgroup is not mounted. {}"

#: (HostConfig field, feature, what the kernel lacks, what is dropped), for the per-device blkio lists
_BLKIO_DEVICE_LISTS = (
    ("BlkioWeightDevice", "blkio_weight_device", "Block I/O weight_device", "Weight-device discarded."),
    ("BlkioDeviceReadBps", "blkio_read_bps", "BPS Block I/O read limit", "Block I/O BPS read limit discarded."),
    ("BlkioDeviceWriteBps", "blkio_write_bps", "BPS Block I/O write limit", "Block I/O BPS write limit discarded."),
    ("BlkioDeviceReadIOps", "blkio_read_iops", "IOPS Block read limit", "Block I/O IOPS read limit discarded."),
    ("BlkioDeviceWriteIOps", "blkio_write_iops", "IOPS Block write limit", "Block I/O IOPS write limit discarded."),
)


def _int(hc: dict[str, Any], key: str) -> int:
    return int(hc.get(key) or 0)


def check_resources(hc: dict[str, Any], features: ExecFeatures, update: bool = False) -> list[str]:
    """Refuse impossible limits, drop (with a warning) what the host cannot enforce; ``hc`` is changed in place."""
    warnings: list[str] = []
    _check_memory(hc, features, update, warnings)
    _check_kernel_tcp(hc, features, warnings)
    _check_oom_and_pids(hc, features, warnings)
    _check_cpu(hc, features, warnings)
    _check_cpuset(hc, features, warnings)
    _check_blkio(hc, features, warnings)
    return warnings


def _check_memory(hc: dict[str, Any], features: ExecFeatures, update: bool, warnings: list[str]) -> None:
    if hc.get("MemorySwappiness") == -1:  # the API's "unset"
        hc["MemorySwappiness"] = None
    memory = _int(hc, "Memory")
    if memory and memory < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    if memory > 0 and "memory" not in features.limits:
        warnings.append(_NOT_SUPPORTED.format("memory limit capabilities", "Limitation discarded."))
        hc["Memory"], hc["MemorySwap"], memory = 0, -1, 0
    if memory > 0 and _int(hc, "MemorySwap") != -1 and "memory_swap" not in features.limits:
        warnings.append(_NOT_SUPPORTED.format("swap limit capabilities", "Memory limited without swap."))
        hc["MemorySwap"] = -1
    swap = _int(hc, "MemorySwap")
    if memory > 0 and 0 < swap < memory:
        raise InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage")
    if memory == 0 and swap > 0 and not update:
        raise InvalidArgument("You should always set the Memory limit when using Memoryswap limit, see usage")
    if hc.get("MemorySwappiness") is not None and "memory_swappiness" not in features.limits:
        warnings.append(_NOT_SUPPORTED.format("memory swappiness capabilities", "Memory swappiness discarded."))
        hc["MemorySwappiness"] = None
    swappiness = hc.get("MemorySwappiness")
    if swappiness is not None and not 0 <= swappiness <= 100:
        raise InvalidArgument(f"Invalid value: {swappiness}, valid memory swappiness range is 0-100")
    if _int(hc, "MemoryReservation") > 0 and "memory_reservation" not in features.limits:
        warnings.append(_NOT_SUPPORTED.format("memory soft limit capabilities", "Limitation discarded."))
        hc["MemoryReservation"] = 0
    reservation = _int(hc, "MemoryReservation")
    if 0 < reservation < MIN_MEMORY:
        raise InvalidArgument("Minimum memory reservation allowed is 6MB")
    if memory > 0 and reservation > 0 and memory < reservation:
        raise InvalidArgument("Minimum memory limit can not be less than memory reservation limit, see usage")
    if _int(hc, "KernelMemory") > 0:
        warnings.append("Specifying a kernel memory limit is deprecated and will be removed in a future release.")
        if "kernel_memory" not in features.limits:
            warnings.append(_NOT_SUPPORTED.format("kernel memory limit capabilities", "Limitation discarded."))
            hc["KernelMemory"] = 0


def _check_kernel_tcp(hc: dict[str, Any], features: ExecFeatures, warnings: list[str]) -> None:
    """``KernelMemoryTCP`` (API only): v1's kmem.tcp limit, which dockerd passes on without a check."""
    if _int(hc, "KernelMemoryTCP") > 0 and "kernel_memory_tcp" not in features.limits:
        warnings.append(_NOT_SUPPORTED.format("kernel memory TCP limit capabilities", "Limitation discarded."))
        hc["KernelMemoryTCP"] = 0


def _check_oom_and_pids(hc: dict[str, Any], features: ExecFeatures, warnings: list[str]) -> None:
    if hc.get("OomKillDisable") is not None and "oom_kill_disable" not in features.limits:
        if hc["OomKillDisable"]:  # asking for the default (killer on) needs no warning
            warnings.append("Your kernel does not support OomKillDisable. OomKillDisable discarded.")
        hc["OomKillDisable"] = False
    if hc.get("OomKillDisable") and _int(hc, "Memory") == 0:
        warnings.append("OOM killer is disabled for the container, but no memory limit is set, "
                        "this can result in the system running out of resources.")
    if hc.get("PidsLimit") is not None and "pids" not in features.limits:
        if hc["PidsLimit"] > 0:
            warnings.append(_NOT_SUPPORTED.format("PIDs limit capabilities", "PIDs limit discarded."))
        hc["PidsLimit"] = None


def _check_cpu(hc: dict[str, Any], features: ExecFeatures, warnings: list[str]) -> None:
    nano = _int(hc, "NanoCpus")
    if nano > 0 and _int(hc, "CpuPeriod") > 0:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if nano > 0 and _int(hc, "CpuQuota") > 0:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if nano > 0 and "cpu_cfs" not in features.limits:
        raise InvalidArgument("NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler "
                              "or the cgroup is not mounted")
    ncpu = os.cpu_count() or 1
    if nano < 0 or nano > ncpu * 1_000_000_000:
        raise InvalidArgument(f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available")
    if _int(hc, "CpuShares") > 0 and "cpu_shares" not in features.limits:
        warnings.append(_NOT_SUPPORTED.format("CPU shares", "Shares discarded."))
        hc["CpuShares"] = 0
    if (_int(hc, "CpuPeriod") or _int(hc, "CpuQuota")) and "cpu_cfs" not in features.limits:
        warnings.append("Your kernel does not support CPU CFS scheduler. CPU period/quota discarded.")
        hc["CpuPeriod"] = hc["CpuQuota"] = 0
    period = _int(hc, "CpuPeriod")
    if period and not 1000 <= period <= 1_000_000:
        raise InvalidArgument("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
    if 0 < _int(hc, "CpuQuota") < 1000:
        raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    rt_period, rt_runtime = _int(hc, "CpuRealtimePeriod"), _int(hc, "CpuRealtimeRuntime")
    if (rt_period or rt_runtime) and "cpu_realtime" not in features.limits:
        raise InvalidArgument("Your kernel does not support CPU real-time scheduler")  # dockerd refuses, no warning
    if rt_period and rt_runtime > rt_period:
        raise InvalidArgument("cpu real-time runtime cannot be higher than cpu real-time period")
    # Windows-only knobs: dockerd drops them on Linux (the count silently; berth says so too)
    for key, what in (("CpuPercent", "CPU percent. Percent"), ("CpuCount", "CPU count. Count")):
        if _int(hc, key) > 0:
            warnings.append(f"linux does not support {what} discarded.")
            hc[key] = 0


def _check_cpuset(hc: dict[str, Any], features: ExecFeatures, warnings: list[str]) -> None:
    if (hc.get("CpusetCpus") or hc.get("CpusetMems")) and "cpuset" not in features.limits:
        warnings.append(_NOT_SUPPORTED.format("cpuset", "Cpuset discarded."))
        hc["CpusetCpus"] = hc["CpusetMems"] = ""
    for key, what, available, noun in (("CpusetCpus", "cpus", features.cpus, "CPUs"),
                                       ("CpusetMems", "mems", features.mems, "memory nodes")):
        requested = hc.get(key) or ""
        if not requested:
            continue
        try:
            wanted = parse_cpuset(requested)
        except ValueError as exc:
            raise InvalidArgument(f"Invalid value {requested} for cpuset {what}: {exc}") from None
        if available and not wanted <= parse_cpuset(available):
            raise InvalidArgument(f"Requested {noun} are not available - requested {requested}, available: {available}")


def _check_blkio(hc: dict[str, Any], features: ExecFeatures, warnings: list[str]) -> None:
    if _int(hc, "BlkioWeight") > 0 and "blkio_weight" not in features.limits:
        warnings.append(_NOT_SUPPORTED.format("Block I/O weight", "Weight discarded."))
        hc["BlkioWeight"] = 0
    if _int(hc, "BlkioWeight") > 0 and not 10 <= _int(hc, "BlkioWeight") <= 1000:
        raise InvalidArgument("Range of blkio weight is from 10 to 1000")
    if _int(hc, "IOMaximumBandwidth"):
        raise InvalidArgument("Invalid QoS settings: linux does not support configuration of maximum bandwidth")
    if _int(hc, "IOMaximumIOps"):
        raise InvalidArgument("Invalid QoS settings: linux does not support configuration of maximum IOPs")
    for key, feature, what, dropped in _BLKIO_DEVICE_LISTS:
        if hc.get(key) and feature not in features.limits:
            warnings.append(_NOT_SUPPORTED.format(what, dropped))
            hc[key] = []


def parse_cpuset(text: str) -> set[int]:
    """``"0-2,5"`` -> {0, 1, 2, 5}; the kernel's list syntax, as Docker's ``parsers.ParseUintList``."""
    out: set[int] = set()
    for part in text.split(","):
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise ValueError(f"invalid format: {text}")
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise ValueError(f"invalid format: {text}")
        out.update(range(first, last + 1))
    return out
