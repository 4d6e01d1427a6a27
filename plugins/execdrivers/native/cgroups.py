"""cgroup v1 control for one container: create, limit, join, freeze, report, remove.

Every mounted v1 hierarchy gets a directory at the container's cgroupsPath
(``/berth/<id>`` under the hierarchy root). Controllers cgroupspy models
(memory, cpu, cpuacct, cpuset, blkio, devices) are driven through it; pids and
freezer, which it lacks, through the small writer here. A hybrid host's v2
hierarchy that only holds hugetlb is ignored, as Docker does on such hosts.
"""

from __future__ import annotations

import errno
import os
import threading
import time

#: Hierarchies whose cgroupspy controller we use (keyed by the mount's controller name).
_CGROUPSPY_CONTROLLERS = {"memory", "cpu", "cpuacct", "cpuset", "blkio", "devices"}


def v1_hierarchies() -> dict[str, str]:
    """Mounted cgroup v1 hierarchies: key ("memory", "cpu,cpuacct", "name=systemd") -> mount point."""
    found: dict[str, str] = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            head, _, tail = line.partition(" - ")
            fstype, _source, superopts = tail.split()[:3]
            if fstype != "cgroup":
                continue
            opts = [o for o in superopts.split(",") if o not in ("rw", "ro") and not o.startswith("release_agent")]
            key = ",".join(o for o in opts if o != "xattr")
            found.setdefault(key, head.split()[4])
    return found


def cgroup_path(spec: dict, container_id: str) -> str:
    """The container's cgroup path inside each hierarchy (OCI ``linux.cgroupsPath``)."""
    path = (spec.get("linux") or {}).get("cgroupsPath") or f"/berth/{container_id}"
    if ":" in path and not path.startswith("/"):
        raise ValueError(f"cgroupsPath {path!r} uses the systemd form, which the native driver does not support")
    return "/" + path.strip("/")


def remove_cgroup_dir(directory: str, deadline: float, parents: int = 0) -> None:
    """``rmdir`` of a cgroup (v1 or v2), retried until ``deadline`` (monotonic) while the kernel says EBUSY.

    A cgroup stays busy for a moment after its last task is reaped; a missing one is already gone.
    Then up to ``parents`` ancestors (``/berth``) go too once empty, so the last container
    leaves no trace; an ancestor another container still uses stays.
    """
    while True:
        try:
            os.rmdir(directory)
            break
        except FileNotFoundError:
            break
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                raise OSError(exc.errno, f"cannot remove cgroup {directory}: {exc.strerror}") from None
            time.sleep(0.01)
    for _ in range(parents):
        directory = os.path.dirname(directory)
        try:
            os.rmdir(directory)
        except OSError:
            return  # still holds other containers (or is gone): theirs to remove


def owned_parents(path: str) -> int:
    """How many ancestors of the cgroup ``path`` are berth's own to prune (``/berth``, the kits' ``/berth-kit``):
    the nearest ones named ``berth*``. A ``--cgroup-parent`` the user named is theirs: it stays, as with dockerd."""
    parts = path.strip("/").split("/")[:-1]
    count = 0
    for part in reversed(parts):
        if not part.startswith("berth"):
            break
        count += 1
    return count


def make_cgroup_dirs(make) -> None:
    """Run ``make`` (which creates a cgroup and its ancestors), again if a sibling's removal pruned an
    ancestor between its mkdirs (:func:`remove_cgroup_dir` removes empty parents)."""
    for attempt in range(5):
        try:
            make()
            return
        except FileNotFoundError:
            if attempt == 4:
                raise


def prime_attach_lock(hierarchies: dict[str, str]) -> None:
    """Start the kernel's wait for the cgroup attach lock now, so a container's join soon after is cheap.

    On cgroup v1 the first ``cgroup.procs``/``tasks`` write of a burst takes
    ``cgroup_threadgroup_rwsem`` for writing, which waits for an RCU grace period
    (5-15 ms here); writes in the next ~10 ms find it already passed. This moves the
    calling thread into the cgroup it is already in (a no-op for the kernel's
    accounting; the path is read from /proc just before), so the wait elapses while the
    fork server and the monitor do their set-up instead of in the monitor's join.
    Blocks for that wait: call it from a thread that would otherwise idle.
    """
    key = "pids" if "pids" in hierarchies else next((k for k in hierarchies if "=" not in k), None)
    if key is None:
        return
    with open("/proc/thread-self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controllers == key:
                break
        else:
            return
    with open(os.path.join(hierarchies[key] + path.rstrip("/"), "tasks"), "w") as f:
        f.write(str(threading.get_native_id()))


class Cgroups:
    """The container's cgroup in every v1 hierarchy."""

    def __init__(self, path: str, hierarchies: dict[str, str] | None = None):
        self.path = path
        self.hierarchies = hierarchies if hierarchies is not None else v1_hierarchies()

    # -- locations ---------------------------------------------------------

    def dir(self, key: str) -> str | None:
        """The container's directory in hierarchy ``key`` ("memory"), or None when not mounted."""
        for name, mount in self.hierarchies.items():
            if key in name.split(","):
                return mount + self.path
        return None

    def dirs(self) -> list[str]:
        return [mount + self.path for mount in self.hierarchies.values()]

    def _node(self, key: str):
        """The cgroupspy node for our cgroup in hierarchy ``key`` (its controller is ``node.controller``)."""
        from cgroupspy.nodes import Node

        directory = self.dir(key)
        if directory is None or key not in _CGROUPSPY_CONTROLLERS:
            return None
        mount = directory[: len(directory) - len(self.path)]
        if os.path.basename(mount) != key:  # co-mounted hierarchies ("cpu,cpuacct") are not modelled
            return None
        node = Node(os.path.basename(mount), parent=Node(os.path.dirname(mount)))
        for part in self.path.strip("/").split("/"):
            node = Node(part, parent=node)
        return node

    def _controller(self, key: str):
        node = self._node(key)
        return node.controller if node is not None else None

    def _write(self, key: str, filename: str, value: object) -> None:
        directory = self.dir(key)
        if directory is None:
            raise OSError(errno.ENOENT, f"cgroup hierarchy {key!r} is not mounted; cannot set {filename}")
        with open(os.path.join(directory, filename), "w") as f:
            f.write(str(value))

    def _read(self, key: str, filename: str) -> str | None:
        directory = self.dir(key)
        if directory is None:
            return None
        try:
            with open(os.path.join(directory, filename)) as f:
                return f.read()
        except OSError:
            return None

    # -- life cycle ----------------------------------------------------------

    def create(self) -> None:
        """Make the directories; cpuset children start empty, so copy cpus/mems down from the parents."""
        for mount in self.hierarchies.values():
            make_cgroup_dirs(lambda: os.makedirs(mount + self.path, exist_ok=True))
        cpuset = self.dir("cpuset")
        if cpuset:
            mount = cpuset[: len(cpuset) - len(self.path)]
            current = mount
            for part in self.path.strip("/").split("/"):
                parent, current = current, os.path.join(current, part)
                for name in ("cpuset.cpus", "cpuset.mems"):
                    with open(os.path.join(current, name)) as f:
                        if f.read().strip():
                            continue
                    with open(os.path.join(parent, name)) as f:
                        value = f.read().strip()
                    with open(os.path.join(current, name), "w") as f:
                        f.write(value)

    def join(self, pid: int = 0) -> None:
        """Move ``pid`` (0: the caller) into the container's cgroup in every hierarchy."""
        for directory in self.dirs():
            with open(os.path.join(directory, "cgroup.procs"), "w") as f:
                f.write(str(pid))

    def destroy(self, timeout: float = 2.0) -> None:
        """Remove the directories (each hierarchy's)."""
        deadline = time.monotonic() + timeout
        parents = owned_parents(self.path)
        for directory in self.dirs():
            remove_cgroup_dir(directory, deadline, parents)

    def exists(self) -> bool:
        return any(os.path.isdir(d) for d in self.dirs())

    def procs(self) -> list[int]:
        """Host pids of every process in the cgroup."""
        for key in ("pids", "freezer", "memory", "cpu"):
            text = self._read(key, "cgroup.procs")
            if text is not None:
                return sorted(int(p) for p in text.split())
        return []

    # -- limits --------------------------------------------------------------

    def apply(self, resources: dict | None) -> None:
        """Apply an OCI ``linux.resources`` object."""
        resources = resources or {}
        self._apply_devices(resources.get("devices"))
        self._apply_memory(resources.get("memory") or {})
        self._apply_cpu(resources.get("cpu") or {})
        self._apply_pids(resources.get("pids") or {})
        self._apply_blkio(resources.get("blockIO") or {})

    def _apply_devices(self, rules: list[dict] | None) -> None:
        if rules is None or self.dir("devices") is None:
            return
        for rule in rules:
            kind = rule.get("type") or "a"
            major = "*" if rule.get("major") in (None, -1) else rule["major"]
            minor = "*" if rule.get("minor") in (None, -1) else rule["minor"]
            line = f"{kind} {major}:{minor} {rule.get('access') or 'rwm'}"
            self._write("devices", "devices.allow" if rule.get("allow") else "devices.deny", line)

    def _apply_memory(self, memory: dict) -> None:
        ctl = self._controller("memory")
        if ctl is None or not memory:
            return
        limit, swap = memory.get("limit"), memory.get("swap")
        if limit:
            try:
                ctl.limit_in_bytes = limit
            except OSError:
                # Lowering below the current memsw limit is fine; raising above it needs memsw first.
                if swap:
                    ctl.memsw_limit_in_bytes = swap
                ctl.limit_in_bytes = limit
        # memsw exists only with swap accounting; cgroupspy's paths are bytes, so test with ours.
        if swap and os.path.exists(os.path.join(self.dir("memory") or "", "memory.memsw.limit_in_bytes")):
            ctl.memsw_limit_in_bytes = swap
        if memory.get("reservation"):
            ctl.soft_limit_in_bytes = memory["reservation"]
        if memory.get("swappiness") is not None and 0 <= memory["swappiness"] <= 100:
            ctl.swappiness = memory["swappiness"]
        if memory.get("kernelTCP"):
            self._write("memory", "memory.kmem.tcp.limit_in_bytes", memory["kernelTCP"])
        if memory.get("disableOOMKiller"):
            self._write("memory", "memory.oom_control", 1)  # cgroupspy's set_property wants bytes names

    def _apply_cpu(self, cpu: dict) -> None:
        ctl = self._controller("cpu")
        if ctl is not None:
            if cpu.get("shares"):
                ctl.shares = cpu["shares"]
            if cpu.get("period"):
                ctl.cfs_period_us = cpu["period"]
            if cpu.get("quota"):
                ctl.cfs_quota_us = cpu["quota"]
        self._apply_realtime(cpu)
        for field in ("cpus", "mems"):
            if cpu.get(field) and self.dir("cpuset"):
                self._write("cpuset", f"cpuset.{field}", cpu[field])

    def _apply_realtime(self, cpu: dict) -> None:
        """Real-time slices (``--cpu-rt-period/-runtime``). A new cgroup has no real-time budget (0) and
        the kernel refuses a child more than its parent holds, so berth's ancestors are raised to the
        container's runtime first (dockerd needs ``--cpu-rt-runtime`` on the daemon for this)."""
        directory = self.dir("cpu")
        if directory is None or not (cpu.get("realtimePeriod") or cpu.get("realtimeRuntime")):
            return
        if cpu.get("realtimePeriod"):
            self._write("cpu", "cpu.rt_period_us", cpu["realtimePeriod"])
        runtime = cpu.get("realtimeRuntime")
        if not runtime:
            return
        mount = directory[: len(directory) - len(self.path)]
        current = mount
        for part in self.path.strip("/").split("/")[:-1]:
            current = os.path.join(current, part)
            with open(os.path.join(current, "cpu.rt_runtime_us")) as f:
                held = int(f.read().strip() or 0)
            if 0 <= held < runtime:
                with open(os.path.join(current, "cpu.rt_runtime_us"), "w") as f:
                    f.write(str(runtime))
        self._write("cpu", "cpu.rt_runtime_us", runtime)

    def _apply_pids(self, pids: dict) -> None:
        if "limit" not in pids or self.dir("pids") is None:
            return
        limit = pids["limit"]
        self._write("pids", "pids.max", limit if limit and limit > 0 else "max")

    def _apply_blkio(self, blkio: dict) -> None:
        ctl = self._controller("blkio")
        if ctl is None:
            return
        if blkio.get("weight"):
            ctl.weight = blkio["weight"]
        for dev in blkio.get("weightDevice") or []:
            self._write("blkio", "blkio.weight_device", f"{dev['major']}:{dev['minor']} {dev['weight']}")
        for field, filename in (
            ("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
            ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
            ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
            ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device"),
        ):
            for dev in blkio.get(field) or []:
                self._write("blkio", filename, f"{dev['major']}:{dev['minor']} {dev['rate']}")

    # -- freezer ---------------------------------------------------------------

    def freeze(self) -> None:
        self._set_freezer("FROZEN")

    def thaw(self) -> None:
        self._set_freezer("THAWED")

    def frozen(self) -> bool:
        return (self._read("freezer", "freezer.state") or "").strip() in ("FROZEN", "FREEZING")

    def _set_freezer(self, wanted: str) -> None:
        # FREEZING is transient; re-writing the request until the kernel reports it done.
        for _ in range(1000):
            self._write("freezer", "freezer.state", wanted)
            if (self._read("freezer", "freezer.state") or "").strip() == wanted:
                return
            time.sleep(0.001)
        raise OSError(errno.EBUSY, f"cgroup {self.path} did not reach freezer state {wanted}")

    # -- reporting ---------------------------------------------------------------

    def oom_killed(self) -> bool:
        """True when the kernel's OOM killer killed a task of this cgroup."""
        text = self._read("memory", "memory.oom_control") or ""
        fields = dict(line.partition(" ")[::2] for line in text.splitlines())
        if "oom_kill" in fields:  # kernels >= 4.13 count kills per cgroup
            return int(fields["oom_kill"] or 0) > 0
        # Older kernels: the limit was hit (failcnt); the caller only asks after an exit by SIGKILL.
        return int((self._read("memory", "memory.failcnt") or "0").strip() or 0) > 0

    def stats(self) -> dict:
        """Resource usage in the shape of Docker's stats JSON."""
        return {
            "cpu_stats": self._cpu_stats(),
            "memory_stats": self._memory_stats(),
            "pids_stats": self._pids_stats(),
            "blkio_stats": self._blkio_stats(),
        }

    def _cpu_stats(self) -> dict:
        acct = self._controller("cpuacct")
        usage: dict = {"total_usage": 0, "percpu_usage": [], "usage_in_kernelmode": 0, "usage_in_usermode": 0}
        if acct is not None:
            usage["total_usage"] = acct.usage or 0
            usage["percpu_usage"] = list(acct.usage_percpu or [])
            ticks = acct.acct_stat or {}
            # cpuacct.stat counts USER_HZ ticks; Docker reports nanoseconds.
            to_ns = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
            usage["usage_in_usermode"] = int(ticks.get("user", 0)) * to_ns
            usage["usage_in_kernelmode"] = int(ticks.get("system", 0)) * to_ns
        throttling = {"periods": 0, "throttled_periods": 0, "throttled_time": 0}
        cpu = self._controller("cpu")
        if cpu is not None:
            stat = cpu.stat or {}
            throttling = {
                "periods": int(stat.get("nr_periods", 0)),
                "throttled_periods": int(stat.get("nr_throttled", 0)),
                "throttled_time": int(stat.get("throttled_time", 0)),
            }
        return {
            "cpu_usage": usage,
            "system_cpu_usage": _system_cpu_usage(),
            "online_cpus": os.cpu_count() or 1,
            "throttling_data": throttling,
        }

    def _memory_stats(self) -> dict:
        mem = self._controller("memory")
        if mem is None:
            return {}
        return {
            "usage": mem.usage_in_bytes or 0,
            "max_usage": mem.max_usage_in_bytes or 0,
            "limit": mem.limit_in_bytes or 0,
            "failcnt": mem.failcnt or 0,
            "stats": {k: int(v) for k, v in (mem.stat or {}).items()},
        }

    def _pids_stats(self) -> dict:
        current = (self._read("pids", "pids.current") or "").strip()
        limit = (self._read("pids", "pids.max") or "").strip()
        out: dict = {}
        if current:
            out["current"] = int(current)
        if limit and limit != "max":
            out["limit"] = int(limit)
        return out

    def _blkio_stats(self) -> dict:
        out: dict = {}
        for key, filename in (
            ("io_service_bytes_recursive", "blkio.throttle.io_service_bytes"),
            ("io_serviced_recursive", "blkio.throttle.io_serviced"),
        ):
            entries = []
            for line in (self._read("blkio", filename) or "").splitlines():
                parts = line.split()
                if len(parts) == 3 and ":" in parts[0]:
                    major, minor = parts[0].split(":")
                    entries.append({"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])})
            out[key] = entries
        return out


def _system_cpu_usage() -> int:
    """Host CPU time in nanoseconds, as Docker's ``system_cpu_usage``."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu "):
                ticks = sum(int(v) for v in line.split()[1:8])
                return ticks * (1_000_000_000 // os.sysconf("SC_CLK_TCK"))
    return 0
