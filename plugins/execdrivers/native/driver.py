"""NativeDriver: the pluggy face of the native exec driver.

Containers are created by monitors forked from a fork server (see
``forkserver.py`` and ``monitor.py``); this class only sends requests and reads
the state monitors keep under ``root``. It holds no per-container memory, so a
new instance (after a daemon restart) sees exactly what the old one saw:
``exec_list``/``exec_restore`` are reads of that state, and running containers
stay waitable and killable through their recorded pids.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal as signals
import time
from dataclasses import asdict

from berth.driverkit import Conflict, DriverError, hookimpl
from berth.hookspecs.types import IOConfig, RuntimeState

from .. import initbinary
from ..monitoring import state
from ..monitoring.base import MonitoredDriver
from ..monitoring.client import ForkServerClient

_MONITOR = "berth.plugins.execdrivers.native.monitor"
#: What the fork server imports once, so a forked monitor (and the container's init) imports nothing.
# pyseccomp too: finding libseccomp runs ldconfig, which a monitor should not have to do
_PRELOAD = [_MONITOR, "cgroupspy.nodes", "cgroupspy.controllers", "pyseccomp"]


#: The phases of a create, as (field logged, mark that ends it); each starts where the previous ended.
_PHASES = (
    ("fork_monitor_ms", "monitor_started"),    # fork server's double fork, the monitor's own set-up
    ("cgroups_ms", "cgroups_created"),         # mkdir + limits in every hierarchy, listeners, pid namespace
    ("fork_init_ms", "init_forked"),           # stdio pipes and the fork of the container's init
    ("namespaces_ms", "namespaces_entered"),   # unshare/setns (a new cgroup namespace waits for the join)
    ("cgroup_wait_ms", "cgroups_awaited"),     # mounts before the cgroupfs one, then waiting for the join
    ("mounts_ms", "pivoted"),                  # the remaining mounts, devices, pivot_root
    ("paths_ms", "paths_masked"),              # hostname, sysctls, read-only and masked paths
    ("ready_ms", "ready"),                     # init reports ready, the monitor saves its state
)
#: Spans logged apart because they overlap the phases: (field, start mark, end mark).
_SPANS = (
    # the monitor's cgroup.procs writes (on v1 the kernel waits for an RCU grace period), concurrent with the init
    ("join_cgroups_ms", "init_forked_monitor", "cgroups_joined"),
)


def _log_phases(container_id: str, sent: float, marks: dict) -> None:
    """One ``native.create`` event with the time between the monitor's and init's marks (all CLOCK_MONOTONIC)."""
    from berth.driverkit import get_logger

    fields, last = {}, sent
    for name, mark in _PHASES:
        if mark in marks:
            fields[name] = round((marks[mark] - last) * 1000, 2)
            last = marks[mark]
    fields["reply_ms"] = round((time.monotonic() - last) * 1000, 2)
    for name, start, end in _SPANS:
        if start in marks and end in marks:
            fields[name] = round((marks[end] - marks[start]) * 1000, 2)
    get_logger().info("native.create", container_id=container_id[:12],
                   duration_ms=round((time.monotonic() - sent) * 1000, 1), **fields)


class NativeDriver(MonitoredDriver):
    """Runs containers with Linux namespaces, pivot_root and cgroup v1, one monitor each."""

    name = "native"
    description = "built-in: namespaces, pivot_root and cgroups v1; a monitor process per container"
    priority = 10

    @classmethod
    def probe(cls, root: str) -> str | None:
        """None when containers can run here, else why not."""
        if os.geteuid() != 0:
            return "needs root (namespaces, mounts and cgroups); run berthd as root"
        for ns in ("pid", "mnt", "uts", "ipc", "net", "cgroup"):
            if not os.path.exists(f"/proc/self/ns/{ns}"):
                return f"the kernel has no {ns} namespaces (/proc/self/ns/{ns} is missing)"
        from .cgroups import v1_hierarchies
        from .cgroups2 import is_unified_host

        if not v1_hierarchies() and not is_unified_host():
            return "no cgroup hierarchy is mounted (neither v1 hierarchies nor the v2 one at /sys/fs/cgroup)"
        return None

    def __init__(self, root: str, options: dict | None = None):
        self.root = root
        self.options = options or {}
        os.makedirs(root, mode=0o700, exist_ok=True)
        self.forkserver = ForkServerClient(root, _PRELOAD)
        #: the host's v1 hierarchies, read once (for _prime_cgroups); {} on a pure v2 host
        self._v1_hierarchies: dict[str, str] | None = None

    # -- helpers -------------------------------------------------------------

    def _prime_cgroups(self, path: str, made: list[bool]) -> None:
        """While the fork server forks the monitor (cgroup v1 only): make the container's cgroup
        directories, then start the kernel's wait that the monitor's join would otherwise pay.

        The directories come first because that wait holds the kernel's cgroup_mutex, which a
        cgroup mkdir needs; the monitor's own ``create`` then finds them made. ``made`` gets
        True when this makes them (the caller removes them if the create fails).
        """
        from .cgroups import Cgroups, prime_attach_lock

        hierarchies = self._host_v1_hierarchies()
        if not hierarchies:
            return
        made.append(True)  # before create(): a half-made set is removed too
        Cgroups(path, hierarchies).create()
        prime_attach_lock(hierarchies)

    def _host_v1_hierarchies(self) -> dict[str, str]:
        """The host's v1 hierarchies the containers use, read once; {} on a v2-only set-up."""
        if self._v1_hierarchies is None:
            from .cgroups import v1_hierarchies
            from .cgroups2 import NATIVE_ROOT_ENV

            self._v1_hierarchies = {} if os.environ.get(NATIVE_ROOT_ENV) else v1_hierarchies()
        return self._v1_hierarchies

    def _while_exec_starts(self) -> None:
        """Cgroup v1: start the kernel's attach-lock wait that the exec's process would pay in its join."""
        from .cgroups import prime_attach_lock

        hierarchies = self._host_v1_hierarchies()
        if hierarchies:
            prime_attach_lock(hierarchies)

    def _remove_primed(self, primed: list[bool], path: str) -> None:
        """A failed create: remove the cgroup directories _prime_cgroups made (the monitor may have already)."""
        if primed and primed[0]:
            from .cgroups import Cgroups

            try:
                Cgroups(path, self._v1_hierarchies).destroy()
            except OSError:
                pass  # still busy: the monitor is killing what it started and removes them itself

    def _paused(self, record: dict) -> bool:
        cgroups = self._cgroups(record)
        return cgroups is not None and cgroups.frozen()

    @staticmethod
    def _cgroups(record: dict):
        from .cgroups2 import native_cgroups

        return native_cgroups(record["cgroup_path"]) if record.get("cgroup_path") else None

    # -- lifecycle -----------------------------------------------------------

    @hookimpl
    def exec_create(self, container_id: str, bundle: str, spec: dict, io: IOConfig) -> RuntimeState:
        from .cgroups import cgroup_path

        directory = self._new_container_dir(container_id, spec)
        spec = self._with_init_binary(spec)
        primed: list[bool] = []  # [True] once _prime_cgroups made the cgroup directories
        path = ""
        try:
            spec = self._share_foreign_mounts(container_id, spec)
            path = cgroup_path(spec, container_id)
            request = {
                "op": "create", "entry": f"{_MONITOR}:run_container", "id": container_id, "dir": directory,
                "bundle": bundle, "spec": spec,
                "io": asdict(io), "cgroup_path": path,
                "seccomp_cache": os.path.join(self.root, "seccomp"),
            }
            sent = time.monotonic()
            reply = self._request(request, f"creating container {container_id}",
                                  while_waiting=lambda: self._prime_cgroups(path, primed))
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            self._release_foreign_mounts(container_id)
            self._remove_primed(primed, path)
            raise
        if not reply.get("ok"):
            self._remove_primed(primed, path)
        created = self._created(container_id, directory, reply)
        _log_phases(container_id, sent, reply.get("marks") or {})
        return created

    def _with_init_binary(self, spec: dict) -> dict:
        """``--init`` with a static tini, as dockerd (``initbinary``): pid 1 is /sbin/docker-init, nothing of
        ours. Without one on the host, the init keeps the annotation and serves as pid 1 itself (``reaper``)."""
        if not initbinary.wanted(spec):
            return spec
        binary = initbinary.find(self.options.get("init_path"))
        if binary is None:
            return spec
        spec = copy.deepcopy(spec)
        initbinary.apply(spec, binary)
        return spec

    def _kill_all(self, container_id: str, record: dict, sig: int) -> None:
        """Every process in the cgroup; for SIGKILL freeze first so nothing forks away (runc kill --all)."""
        cgroups = self._cgroups(record)
        if cgroups is None:
            state.signal_process(record["pid"], record.get("pid_start"), sig)
            return
        frozen = False
        if sig == signals.SIGKILL and cgroups.dir("freezer"):
            try:
                cgroups.freeze()
                frozen = True
            except OSError:
                pass
        try:
            for pid in cgroups.procs():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        finally:
            if frozen:
                try:
                    cgroups.thaw()
                except FileNotFoundError:
                    pass  # the last process died and its monitor removed the cgroup: nothing left to thaw

    @hookimpl
    def exec_delete(self, container_id: str, force: bool) -> bool:
        directory = self._dir(container_id)
        record = state.read_state(directory)
        if record is None:
            if os.path.isdir(directory):  # a create that died half-way
                shutil.rmtree(directory, ignore_errors=True)
            return True
        record = self._reconcile(directory, record)
        if record["status"] != "stopped":
            if not force:
                raise Conflict(f"container {container_id} is {record['status']}; stop it first or force the removal")
            cgroups = self._cgroups(record)
            if cgroups is not None and cgroups.frozen():
                cgroups.thaw()
            self._kill_all(container_id, record, signals.SIGKILL)
            record = self._wait_record(directory, "container", 30)
            if record["status"] != "stopped":
                raise DriverError(f"native driver: container {container_id} did not die after SIGKILL")
        self._wait_exec_monitors(directory)
        cgroups = self._cgroups(record)
        if cgroups is not None:
            # Processes that escaped the pid namespace's teardown (no pid namespace) still hold the cgroup.
            for pid in cgroups.procs():
                try:
                    os.kill(pid, signals.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                cgroups.destroy()
            except OSError as exc:
                raise DriverError(f"native driver: deleting container {container_id}: {exc}") from exc
        shutil.rmtree(directory, ignore_errors=True)
        self._release_foreign_mounts(container_id)
        return True

    # -- processes inside a running container ----------------------------------

    def _exec_request(self, directory: str, record: dict, exec_id: str, exec_dir: str, process: dict,
                      io: IOConfig) -> dict:
        # the exec's init joins the container's namespaces and cgroups, with its seccomp profile
        spec = self._spec(record)
        return {
            "op": "exec", "entry": f"{_MONITOR}:run_exec", "id": exec_id, "dir": exec_dir, "container": record,
            "process": process,
            "spec": {"linux": {"seccomp": (spec.get("linux") or {}).get("seccomp")}}, "io": asdict(io),
            "cgroup_path": record.get("cgroup_path"), "seccomp_cache": os.path.join(self.root, "seccomp"),
        }

    @staticmethod
    def _spec(record: dict) -> dict:
        try:
            with open(os.path.join(record.get("bundle") or "", "config.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    # -- cgroups -------------------------------------------------------------

    def _running_cgroups(self, container_id: str, verb: str):
        cgroups = self._cgroups(self._running(container_id, verb))
        if cgroups is None:
            raise DriverError(f"container {container_id} has no cgroups; cannot {verb} it")
        return cgroups

    @hookimpl
    def exec_pause(self, container_id: str) -> bool:
        cgroups = self._running_cgroups(container_id, "pause")
        if cgroups.frozen():
            raise Conflict(f"container {container_id} is already paused")
        cgroups.freeze()
        return True

    @hookimpl
    def exec_resume(self, container_id: str) -> bool:
        cgroups = self._running_cgroups(container_id, "unpause")
        if not cgroups.frozen():
            raise Conflict(f"container {container_id} is not paused")
        cgroups.thaw()
        return True

    @hookimpl
    def exec_stats(self, container_id: str) -> dict:
        from berth.driverkit import log_timestamp

        stats = self._running_cgroups(container_id, "read stats of").stats()
        stats["read"] = log_timestamp()
        return stats

    @hookimpl
    def exec_update(self, container_id: str, resources: dict) -> bool:
        record = self._record(self._dir(container_id), "container")
        cgroups = self._cgroups(record)
        if record["status"] == "stopped" or cgroups is None:
            raise Conflict(f"container {container_id} is not running; cannot update its resources")
        cgroups.apply(resources)
        return True

    @hookimpl
    def exec_top(self, container_id: str) -> list[int]:
        return self._running_cgroups(container_id, "list the processes of").procs()

    # -- restart and reporting --------------------------------------------------

    @hookimpl
    def exec_restore(self, container_id: str) -> RuntimeState:
        """Re-adopt the container; on cgroup v2 its device program must still be attached (see _recheck_devices)."""
        record = self._record(self._dir(container_id), "container")
        if record["status"] != "stopped":
            self._recheck_devices(container_id, record)
        return self._runtime_state(record)

    def _recheck_devices(self, container_id: str, record: dict) -> None:
        """Find the container's device program on its v2 cgroup; put it back from the spec when it is gone.

        Fail closed: a live container whose device control cannot be restored is killed.
        """
        cgroups = self._cgroups(record)
        if cgroups is None or getattr(cgroups, "version", 1) != 2 or not cgroups.exists():
            return
        from berth.driverkit import get_logger

        from .devicefilter import PROGRAM_NAME

        rules = ((self._spec(record).get("linux") or {}).get("resources") or {}).get("devices")
        try:
            if rules is None or any(p["name"] == PROGRAM_NAME for p in cgroups.device_programs()):
                return
            cgroups.apply_devices(rules)
            get_logger().warning("native.devices_reattached", container_id=container_id[:12])
        except OSError as exc:
            self._kill_all(container_id, record, signals.SIGKILL)
            raise DriverError(f"native driver: container {container_id} lost its device control and it could not "
                              f"be restored ({exc}); the container was killed") from exc

    @staticmethod
    def _cgroup_status() -> list[tuple[str, str]]:
        from .cgroups2 import is_unified_host

        from .cgroups import v1_hierarchies

        if is_unified_host():
            return [("Cgroup driver", "cgroupfs (v2)"), ("Device control", "eBPF cgroup-device program")]
        if not any("devices" in key.split(",") for key in v1_hierarchies()):
            # a hybrid host without the v1 devices controller: nothing would enforce the allowlist
            return [("Cgroup driver", "cgroupfs (v1)"),
                    ("Device control", "NONE: no v1 devices hierarchy is mounted; device rules are not enforced")]
        return [("Cgroup driver", "cgroupfs (v1)"), ("Device control", "devices cgroup (v1)")]

    @hookimpl
    def exec_features(self):
        """The host's cgroup controls; seccomp is the only LSM-like filter this driver applies."""
        from dataclasses import replace

        from .sysinfo import host_features, user_namespaces_available

        return replace(host_features(runtimes=(self.name,), security=frozenset({"seccomp"})),
                       user_namespaces=user_namespaces_available())

    @hookimpl
    def exec_status(self) -> list[tuple[str, str]]:
        return [
            *self._cgroup_status(),
            ("Containers", str(len(self.exec_list()))),
            ("Fork server pid", str(self.forkserver.pid or "not started")),
        ]
