"""Facts about the machine a run measured, and dropping the page cache between samples."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata

from berth.plugins.graphdrivers.fsinfo import backing_fs_name


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / (1 << 20), 1)
    except OSError:
        pass
    return 0.0


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def program_version(argv: list[str]) -> str:
    """The line of ``argv``'s output that names the program (fuse-overlayfs prints libfuse's first)."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    lines = [line.strip() for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    named = [line for line in lines if os.path.basename(argv[0]) in line]
    return (named or lines or ["unknown"])[0]


def _mount_options(path: str) -> str:
    """The mount options of the filesystem holding ``path``."""
    path, best = os.path.realpath(path), ("", "")
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split(" ")
            point = fields[4].replace("\\040", " ")
            if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) >= len(best[0]):
                sep = fields.index("-")
                best = (point, f"{fields[sep + 1]} {fields[sep + 2]} ({fields[5]},{fields[sep + 3].strip()})")
    return best[1]


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def facts(data_root: str) -> dict:
    """Kernel, CPU, memory, the filesystem under the data-root, versions, load average now."""
    return {
        "kernel": platform.release(),
        "kernel_version": platform.version(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "data_root": data_root,
        "data_root_fs": backing_fs_name(data_root),
        "data_root_mount": _mount_options(data_root),
        "python": sys.version.split()[0],
        "berth": _version("berth"),
        "pyfuse3": _version("pyfuse3"),
        "pluggy": _version("pluggy"),
        "fuse-overlayfs": program_version(["fuse-overlayfs", "--version"]),
        "fusermount3": program_version(["fusermount3", "--version"]),
        "load_average": load_average(),
    }


def drop_caches() -> None:
    """Write dirty pages back and drop the page cache, dentries and inodes (root only; the whole host)."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w", encoding="ascii") as f:
        f.write("3\n")


def can_drop_caches() -> str:
    """"" when :func:`drop_caches` works here, else why not."""
    if not os.access("/proc/sys/vm/drop_caches", os.W_OK):
        return "/proc/sys/vm/drop_caches is not writable (run as root, outside a container)"
    return ""
