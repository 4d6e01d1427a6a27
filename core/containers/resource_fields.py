"""HostConfig resource fields as the OCI ``linux.resources`` sub-objects (moby ``daemon/daemon_unix.go``:
``getMemoryResources``, ``getCPUResources``, ``getBlkioWeightDevices``, ``getBlkioThrottleDevices``).

Per-device blkio settings name a host path; the device's major:minor is read at start
(dockerd's ``stat`` error when the path is gone).
"""

from __future__ import annotations

import os
from typing import Any

from berth.errors import InvalidArgument

_THROTTLES = (("BlkioDeviceReadBps", "throttleReadBpsDevice"), ("BlkioDeviceWriteBps", "throttleWriteBpsDevice"),
              ("BlkioDeviceReadIOps", "throttleReadIOPSDevice"), ("BlkioDeviceWriteIOps", "throttleWriteIOPSDevice"))


def memory(hc: dict[str, Any]) -> dict[str, Any]:
    """limit, swap (memory+swap), reservation, swappiness, disableOOMKiller."""
    out: dict[str, Any] = {}
    if int(hc.get("Memory") or 0) > 0:
        out["limit"] = int(hc["Memory"])
    if int(hc.get("MemoryReservation") or 0) > 0:
        out["reservation"] = int(hc["MemoryReservation"])
    if int(hc.get("MemorySwap") or 0) > 0:  # -1 (unlimited) leaves the kernel's default, as dockerd does
        out["swap"] = int(hc["MemorySwap"])
    if hc.get("MemorySwappiness") is not None and hc["MemorySwappiness"] >= 0:
        out["swappiness"] = int(hc["MemorySwappiness"])
    if int(hc.get("KernelMemoryTCP") or 0) > 0:
        out["kernelTCP"] = int(hc["KernelMemoryTCP"])
    if hc.get("OomKillDisable"):
        out["disableOOMKiller"] = True
    return out


def cpu(hc: dict[str, Any]) -> dict[str, Any]:
    """shares, CFS period/quota (from NanoCpus too), real-time period/runtime, cpuset cpus/mems."""
    out: dict[str, Any] = {}
    if int(hc.get("CpuShares") or 0) > 0:
        out["shares"] = int(hc["CpuShares"])
    if hc.get("CpusetCpus"):
        out["cpus"] = hc["CpusetCpus"]
    if hc.get("CpusetMems"):
        out["mems"] = hc["CpusetMems"]
    if int(hc.get("NanoCpus") or 0) > 0:
        out["period"] = 100000
        out["quota"] = int(hc["NanoCpus"]) * 100000 // 1_000_000_000
    if hc.get("CpuPeriod"):
        out["period"] = int(hc["CpuPeriod"])
    if hc.get("CpuQuota"):
        out["quota"] = int(hc["CpuQuota"])
    if hc.get("CpuRealtimePeriod"):
        out["realtimePeriod"] = int(hc["CpuRealtimePeriod"])
    if hc.get("CpuRealtimeRuntime"):
        out["realtimeRuntime"] = int(hc["CpuRealtimeRuntime"])
    return out


def _device_numbers(path: str) -> tuple[int, int]:
    try:
        rdev = os.stat(path).st_rdev
    except OSError as exc:
        raise InvalidArgument(f"stat {path}: {(exc.strerror or str(exc)).lower()}") from None
    return os.major(rdev), os.minor(rdev)


def block_io(hc: dict[str, Any]) -> dict[str, Any]:
    """weight, weightDevice and the four throttle lists, each device by its major:minor."""
    out: dict[str, Any] = {}
    if int(hc.get("BlkioWeight") or 0) > 0:
        out["weight"] = int(hc["BlkioWeight"])
    weights = []
    for entry in hc.get("BlkioWeightDevice") or []:
        major, minor = _device_numbers(entry.get("Path") or "")
        weights.append({"major": major, "minor": minor, "weight": int(entry.get("Weight") or 0)})
    if weights:
        out["weightDevice"] = weights
    for key, field in _THROTTLES:
        rates = []
        for entry in hc.get(key) or []:
            major, minor = _device_numbers(entry.get("Path") or "")
            rates.append({"major": major, "minor": minor, "rate": int(entry.get("Rate") or 0)})
        if rates:
            out[field] = rates
    return out
