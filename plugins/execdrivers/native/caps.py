"""Linux capabilities: OCI names to bit numbers, and applying a process's capability sets.

Order matters (as in runc's ``finalizeNamespace``): the bounding set is dropped
while the process still has CAP_SETPCAP, the uid change keeps the permitted set
through PR_SET_KEEPCAPS, and capset/ambient come last.
"""

from __future__ import annotations

from berth.driverkit import fscreds as creds

from . import syscalls

#: linux/capability.h, in bit order.
CAPABILITIES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
    "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
    "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
]
CAP_NUMBERS = {name: bit for bit, name in enumerate(CAPABILITIES)}

#: Docker's default capability set (moby oci/caps/defaults.go).
DOCKER_DEFAULT = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]


def last_cap() -> int:
    """The highest capability the running kernel knows."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return len(CAPABILITIES) - 1


def mask(names: list[str] | None) -> int:
    """A bit mask from OCI capability names; unknown names are an error naming them."""
    bits = 0
    for name in names or []:
        key = name.upper() if name.upper().startswith("CAP_") else "CAP_" + name.upper()
        if key not in CAP_NUMBERS:
            raise ValueError(f"unknown capability {name!r} in the process's capabilities")
        bits |= 1 << CAP_NUMBERS[key]
    return bits


def drop_bounding_set(keep: int) -> None:
    """Drop every capability not in ``keep`` from the bounding set (needs CAP_SETPCAP)."""
    for bit in range(last_cap() + 1):
        if not keep & (1 << bit) and syscalls.prctl(syscalls.PR_CAPBSET_READ, bit) == 1:
            syscalls.prctl(syscalls.PR_CAPBSET_DROP, bit)


def apply_sets(caps: dict) -> None:
    """capset the effective/permitted/inheritable sets, then raise the ambient ones."""
    effective = mask(caps.get("effective"))
    permitted = mask(caps.get("permitted"))
    inheritable = mask(caps.get("inheritable"))
    creds.capset(effective, permitted, inheritable)
    syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_CLEAR_ALL)
    for name in caps.get("ambient") or []:
        bit = CAP_NUMBERS[name.upper() if name.upper().startswith("CAP_") else "CAP_" + name.upper()]
        # The kernel only accepts ambient capabilities that are permitted and inheritable.
        syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_RAISE, bit)
