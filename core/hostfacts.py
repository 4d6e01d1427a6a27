"""Facts about the host that the API reports (``info``, container stats): read from /proc and /etc."""

from __future__ import annotations


def memory_total() -> int:
    """The host's memory in bytes (``MemTotal`` of /proc/meminfo), 0 when unreadable."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def os_release() -> dict[str, str]:
    """/etc/os-release as a dict (``PRETTY_NAME``, ``VERSION_ID``...); empty when absent."""
    try:
        with open("/etc/os-release") as f:
            pairs = (line.rstrip("\n").split("=", 1) for line in f if "=" in line)
            return {key: value.strip().strip('"') for key, value in pairs}
    except OSError:
        return {}
