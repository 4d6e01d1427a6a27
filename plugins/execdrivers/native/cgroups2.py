"""cgroup v2 (unified hierarchy) control for one container, with the same interface as ``cgroups.Cgroups``.

Chosen by :func:`open_cgroups` when ``/sys/fs/cgroup/cgroup.controllers`` exists
and no v1 hierarchy is mounted. The container's cgroup is ``<root><cgroupsPath>``;
controllers are delegated down to it through each ancestor's
``cgroup.subtree_control``. OCI resources map as runc maps them (shares ->
cpu.weight, blkio weights -> io.weight (io.bfq.weight under BFQ), throttles -> io.max,
reservation -> memory.low, memory+swap -> memory.swap.max).

The device allowlist (``linux.resources.devices``), which v2 has no files for,
is an eBPF program attached to the container's cgroup (:mod:`.devicefilter`)
when the limits are applied, before the container's process joins; failing to
attach it fails the container's creation. Freeze and thaw write ``cgroup.freeze``.
"""

from __future__ import annotations

import errno
import os
import time

from . import devicefilter

UNIFIED_ROOT = "/sys/fs/cgroup"
WANTED_CONTROLLERS = ("cpuset", "cpu", "io", "memory", "pids")


def is_unified_host(root: str = UNIFIED_ROOT) -> bool:
    """True on a pure cgroup v2 host: the unified hierarchy at ``root`` and no v1 hierarchy mounted."""
    from .cgroups import v1_hierarchies

    return os.path.exists(os.path.join(root, "cgroup.controllers")) and not v1_hierarchies()


#: Environment: run the native driver's containers in the cgroup2 hierarchy mounted there instead
#: (a hybrid host's ``/sys/fs/cgroup/unified``): device program and freezer only, no resource
#: controllers. How the tests run real containers under the v2 device program on a hybrid host.
NATIVE_ROOT_ENV = "BERTH_NATIVE_CGROUP2_ROOT"


def open_cgroups(path: str):
    """The container's cgroups for this host: v2 on a unified host, else v1."""
    if is_unified_host():
        return CgroupsV2(path)
    from .cgroups import Cgroups

    return Cgroups(path)


def native_cgroups(path: str):
    """The native driver's container cgroups: :func:`open_cgroups`, or v2 under ``$BERTH_NATIVE_CGROUP2_ROOT``."""
    root = os.environ.get(NATIVE_ROOT_ENV)
    return CgroupsV2(path, root=root) if root else open_cgroups(path)


def shares_to_weight(shares: int) -> int:
    """cpu.shares (2..262144) -> cpu.weight (1..10000), runc's conversion."""
    return 1 + ((max(2, min(shares, 262144)) - 2) * 9999) // 262142


def blkio_to_io_weight(weight: int) -> int:
    """blkio.weight (10..1000) -> io.weight (1..10000)."""
    return 1 + ((max(10, min(weight, 1000)) - 10) * 9999) // 990


class CgroupsV2:
    """The container's cgroup in the unified hierarchy."""

    version = 2

    def __init__(self, path: str, root: str = UNIFIED_ROOT):
        self.path = "/" + path.strip("/")
        self.root = root.rstrip("/")
        self.hierarchies = {"": self.root}  # rootfs mounts cgroup2 when it sees the empty key

    # -- locations ---------------------------------------------------------

    @property
    def directory(self) -> str:
        return self.root + self.path

    def dir(self, key: str) -> str | None:
        """Every controller lives in the one directory (None when the controller is not enabled there)."""
        if key in ("", "freezer"):
            return self.directory
        return self.directory if key in self.controllers() else None

    def dirs(self) -> list[str]:
        return [self.directory]

    def controllers(self) -> list[str]:
        """Controllers enabled for the container's cgroup."""
        return (self._read("cgroup.controllers") or "").split()

    def _read(self, name: str) -> str | None:
        try:
            with open(os.path.join(self.directory, name)) as f:
                return f.read()
        except OSError:
            return None

    def _write(self, name: str, value: object) -> None:
        target = os.path.join(self.directory, name)
        try:
            with open(target, "w") as f:
                f.write(str(value))
        except OSError as exc:
            raise OSError(exc.errno, f"cannot write {value!r} to {target}: {exc.strerror}") from None

    # -- life cycle ----------------------------------------------------------

    def create(self) -> None:
        """Delegate the wanted controllers down from the root, then make the container's directory."""
        from .cgroups import make_cgroup_dirs

        make_cgroup_dirs(self._make)

    def _make(self) -> None:
        current = self.root
        for part in self.path.strip("/").split("/"):
            available = _read_words(os.path.join(current, "cgroup.controllers"))
            enable = [c for c in WANTED_CONTROLLERS if c in available]
            if enable:
                with open(os.path.join(current, "cgroup.subtree_control"), "w") as f:
                    f.write(" ".join(f"+{c}" for c in enable))
            current = os.path.join(current, part)
            os.makedirs(current, exist_ok=True)

    def join(self, pid: int = 0) -> None:
        self._write("cgroup.procs", pid)

    def destroy(self, timeout: float = 2.0) -> None:
        """Detach the device program (freeing it), then remove the directory."""
        from .cgroups import owned_parents, remove_cgroup_dir

        if self.exists():
            try:
                devicefilter.remove(self.directory)
            except OSError:
                pass  # the rmdir below releases whatever is still attached
        remove_cgroup_dir(self.directory, time.monotonic() + timeout, owned_parents(self.path))

    def exists(self) -> bool:
        return os.path.isdir(self.directory)

    def procs(self) -> list[int]:
        return sorted(int(p) for p in (self._read("cgroup.procs") or "").split())

    # -- limits --------------------------------------------------------------

    def apply(self, resources: dict | None) -> None:
        """Apply an OCI ``linux.resources`` object; its device rules become the cgroup's eBPF program."""
        resources = resources or {}
        self.apply_devices(resources.get("devices"))
        self._apply_memory(resources.get("memory") or {})
        self._apply_cpu(resources.get("cpu") or {})
        pids = resources.get("pids") or {}
        if "limit" in pids:
            self._write("pids.max", _max(pids["limit"]))
        self._apply_io(resources.get("blockIO") or {})

    def _apply_memory(self, memory: dict) -> None:
        """memory.max, memory.swap.max (swap alone: OCI's swap is memory+swap, as v1's memsw), memory.low.

        v2 has no swappiness and no switch for the OOM killer: the engine drops those at create
        (``exec_features``) with dockerd's warnings, so they never reach here.
        """
        if memory.get("limit"):
            self._write("memory.max", _max(memory["limit"]))
        if memory.get("swap"):
            swap = memory["swap"]
            limit = memory.get("limit") or 0
            self._write("memory.swap.max", "max" if swap < 0 else max(0, swap - limit))
        if memory.get("reservation"):
            self._write("memory.low", memory["reservation"])

    def _apply_cpu(self, cpu: dict) -> None:
        """cpu.weight (from shares, runc's conversion), cpu.max "quota period", cpuset.cpus/mems."""
        if cpu.get("shares"):
            self._write("cpu.weight", shares_to_weight(int(cpu["shares"])))
        if cpu.get("quota") or cpu.get("period"):
            quota = cpu.get("quota")
            self._write("cpu.max", f"{'max' if not quota or quota < 0 else quota} {cpu.get('period') or 100000}")
        if cpu.get("cpus"):
            self._write("cpuset.cpus", cpu["cpus"])
        if cpu.get("mems"):
            self._write("cpuset.mems", cpu["mems"])

    def _apply_io(self, blkio: dict) -> None:
        """io.weight (or BFQ's io.bfq.weight where the scheduler is BFQ) and io.max, as runc writes them.

        Weights convert from blkio's 10..1000 to io's 1..10000; io.max takes one line per
        device, "MAJ:MIN rbps=N" (wbps, riops, wiops), each written on its own.
        """
        bfq = os.path.exists(os.path.join(self.directory, "io.bfq.weight"))
        weight_file = "io.bfq.weight" if bfq else "io.weight"
        if blkio.get("weight"):  # BFQ takes blkio's scale and a bare number
            weight = blkio["weight"] if bfq else f"default {blkio_to_io_weight(int(blkio['weight']))}"
            self._write(weight_file, weight)
        for dev in blkio.get("weightDevice") or []:
            weight = int(dev["weight"]) if bfq else blkio_to_io_weight(int(dev["weight"]))
            self._write(weight_file, f"{dev['major']}:{dev['minor']} {weight}")
        for field, key in _IO_MAX_KEYS:
            for dev in blkio.get(field) or []:
                self._write("io.max", f"{dev['major']}:{dev['minor']} {key}={dev['rate']}")

    def apply_devices(self, rules: list[dict] | None) -> None:
        """Attach the program for the OCI device ``rules`` (replacing the one there); None leaves it as it is.

        Raises :class:`~.devicefilter.DeviceControlError` when it cannot: the container must not run.
        """
        if rules is not None:
            devicefilter.install(self.directory, rules)

    def device_programs(self) -> list[dict]:
        """The device programs attached to the container's cgroup (``{"id", "name"}`` each)."""
        return devicefilter.attached(self.directory)

    # -- freezer ---------------------------------------------------------------

    def freeze(self) -> None:
        self._set_frozen(True)

    def thaw(self) -> None:
        self._set_frozen(False)

    def frozen(self) -> bool:
        events = _keyed(self._read("cgroup.events") or "")
        if "frozen" in events:
            return events["frozen"] == 1
        return (self._read("cgroup.freeze") or "0").strip() == "1"

    def _set_frozen(self, wanted: bool) -> None:
        self._write("cgroup.freeze", 1 if wanted else 0)
        for _ in range(1000):  # the kernel reports "frozen 1" in cgroup.events once every task stopped
            if self.frozen() == wanted:
                return
            time.sleep(0.001)
        raise OSError(errno.EBUSY, f"cgroup {self.path} did not {'freeze' if wanted else 'thaw'}")

    # -- reporting ---------------------------------------------------------------

    def oom_killed(self) -> bool:
        return _keyed(self._read("memory.events") or "").get("oom_kill", 0) > 0

    def stats(self) -> dict:
        """Resource usage in the shape of Docker's stats JSON."""
        cpu = _keyed(self._read("cpu.stat") or "")
        mem_stat = _keyed(self._read("memory.stat") or "")
        limit = (self._read("memory.max") or "").strip()
        pids_max = (self._read("pids.max") or "").strip()
        out_pids: dict = {}
        if (current := (self._read("pids.current") or "").strip()):
            out_pids["current"] = int(current)
        if pids_max and pids_max != "max":
            out_pids["limit"] = int(pids_max)
        return {
            "cpu_stats": {
                "cpu_usage": {"total_usage": cpu.get("usage_usec", 0) * 1000, "percpu_usage": [],
                              "usage_in_usermode": cpu.get("user_usec", 0) * 1000,
                              "usage_in_kernelmode": cpu.get("system_usec", 0) * 1000},
                "online_cpus": os.cpu_count() or 1,
                "throttling_data": {"periods": cpu.get("nr_periods", 0), "throttled_periods": cpu.get("nr_throttled", 0),
                                    "throttled_time": cpu.get("throttled_usec", 0) * 1000},
            },
            "memory_stats": {
                "usage": int((self._read("memory.current") or "0").strip() or 0),
                "limit": int(limit) if limit and limit != "max" else 0,
                "stats": mem_stat,
            },
            "pids_stats": out_pids,
            "blkio_stats": {"io_service_bytes_recursive": self._io_stats()},
        }

    def _io_stats(self) -> list[dict]:
        entries = []
        for line in (self._read("io.stat") or "").splitlines():
            device, *fields = line.split()
            major, _, minor = device.partition(":")
            values = dict(f.split("=", 1) for f in fields if "=" in f)
            for op, key in (("Read", "rbytes"), ("Write", "wbytes")):
                if key in values:
                    entries.append({"major": int(major), "minor": int(minor), "op": op, "value": int(values[key])})
        return entries


#: OCI throttle lists -> io.max keys
_IO_MAX_KEYS = (("throttleReadBpsDevice", "rbps"), ("throttleWriteBpsDevice", "wbps"),
                ("throttleReadIOPSDevice", "riops"), ("throttleWriteIOPSDevice", "wiops"))


def _max(value: int | None) -> str | int:
    return "max" if value is None or value <= 0 else value


def _read_words(path: str) -> list[str]:
    try:
        with open(path) as f:
            return f.read().split()
    except OSError:
        return []


def _keyed(text: str) -> dict[str, int]:
    """``key value`` lines (cgroup.events, memory.events, cpu.stat) as a dict of ints."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out
