"""OciDriver: containers run by an OCI runtime binary (runc or crun), supervised by berth's monitors.

Each container gets a directory ``<root>/<id>`` holding its bundle (our copy of
the engine's ``config.json``), the monitor's state and sockets, and the runtime's
error log; the runtime keeps its own state under ``<root>/runtime`` (``--root``),
apart from any other user of runc/crun on the host. Monitors are forked from the
shared fork server and outlive the daemon; see ``monitor.py``.

Differences from the native driver worth knowing:

- the runtime checks the command at ``create`` (runc and crun both look it up
  before the container waits for ``start``), so a missing (127) or
  non-executable (126) command raises ``ExecError`` from :meth:`exec_create`;
  no container is left behind then;
- ``--init`` (annotation ``io.berth.init``) runs the process under a static tini
  bind-mounted at /sbin/docker-init, as Docker does.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from dataclasses import asdict

from berth.driverkit import Conflict, DriverError, NotSupported, hookimpl
from berth.hookspecs.types import IOConfig, RuntimeState

from .. import initbinary
from ..monitoring import state
from ..monitoring.base import MonitoredDriver
from ..monitoring.client import ForkServerClient
from . import runtime as runtimes

_MONITOR = "berth.plugins.execdrivers.oci.monitor"
_PRELOAD = [_MONITOR, "berth.plugins.execdrivers.native.cgroups2", "subprocess", "json"]


class OciDriver(MonitoredDriver):
    """Runs containers with runc or crun; a berth monitor per container keeps stdio, logs and exit status."""

    name = "oci"
    description = "runc or crun through the OCI command line; a monitor process per container"
    priority = 5  # below native: the built-in driver stays the default; choose oci with --exec-driver oci

    @classmethod
    def probe(cls, root: str) -> str | None:
        """None when runc or crun can run containers here, else why not."""
        if os.geteuid() != 0:
            return "needs root (runc/crun run rootful containers here); run berthd as root"
        return runtimes.usable_here()

    def __init__(self, root: str, options: dict | None = None):
        self.root = root
        self.options = options or {}
        os.makedirs(root, mode=0o700, exist_ok=True)
        self.runtime, self.choice = runtimes.choose(self.options, os.path.join(root, "runtime"))
        os.makedirs(self.runtime.state_root, mode=0o700, exist_ok=True)
        self.forkserver = ForkServerClient(root, _PRELOAD)

    # -- helpers -------------------------------------------------------------

    @staticmethod
    def _cgroups(record: dict):
        from ..native.cgroups2 import open_cgroups

        return open_cgroups(record["cgroup_path"]) if record.get("cgroup_path") else None

    def _paused(self, record: dict) -> bool:
        cgroups = self._cgroups(record)
        return cgroups is not None and cgroups.frozen()

    # -- lifecycle -----------------------------------------------------------

    def _add_init(self, spec: dict) -> None:
        """``--init`` as Docker does it (``initbinary``); without a static init the create is refused."""
        init = initbinary.find(self.options.get("init_path"))
        if not init:
            raise NotSupported(f"--init with the oci driver needs a static init binary: install Debian's tini "
                                    f"({' or '.join(initbinary.CANDIDATES)}) or pass the exec-driver option init_path")
        initbinary.apply(spec, init)

    @hookimpl
    def exec_create(self, container_id: str, bundle: str, spec: dict, io: IOConfig) -> RuntimeState:
        from ..native.cgroups import cgroup_path

        spec = copy.deepcopy(spec)
        if initbinary.wanted(spec):
            self._add_init(spec)
        directory = self._new_container_dir(container_id, spec)
        try:
            spec = self._share_foreign_mounts(container_id, spec)
            ours = os.path.join(directory, "bundle")
            os.mkdir(ours, 0o700)
            spec.setdefault("process", {})["terminal"] = bool(io.tty or spec["process"].get("terminal"))
            state.atomic_write(os.path.join(ours, "config.json"), json.dumps(spec).encode())
            request = {
                "op": "create", "entry": f"{_MONITOR}:run_container", "id": container_id, "dir": directory,
                "bundle": ours, "spec": spec, "io": asdict(io), "cgroup_path": cgroup_path(spec, container_id),
                "runtime": self.runtime.to_dict(),
            }
            reply = self._request(request, f"creating container {container_id}")
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            self._release_foreign_mounts(container_id)
            raise
        return self._created(container_id, directory, reply)

    def _kill_all(self, container_id: str, record: dict, sig: int) -> None:
        # The runtime freezes the cgroup around a SIGKILL so nothing forks away.
        self.runtime.check("kill", "--all", container_id, str(int(sig)), subject=f"container {container_id}")

    @hookimpl
    def exec_delete(self, container_id: str, force: bool) -> bool:
        directory = self._dir(container_id)
        record = state.read_state(directory)
        if record is None:
            if os.path.isdir(directory):  # a create that died half-way
                self.runtime.run("delete", "--force", container_id)
                shutil.rmtree(directory, ignore_errors=True)
            return True
        record = self._reconcile(directory, record)
        if record["status"] != "stopped":
            if not force:
                raise Conflict(f"container {container_id} is {record['status']}; stop it first or force the removal")
            if self._paused(record):
                self.runtime.run("resume", container_id)
            self.runtime.run("kill", "--all", container_id, "KILL")
            record = self._wait_record(directory, "container", 30)
            if record["status"] != "stopped":
                raise DriverError(f"oci driver: container {container_id} did not die after SIGKILL")
        self._wait_exec_monitors(directory)
        done = self.runtime.run("delete", "--force", container_id)
        if done.returncode != 0 and os.path.isdir(os.path.join(self.runtime.state_root, container_id)):
            message = runtimes.error_text(done.stderr.decode(errors="replace"))
            raise DriverError(f"oci driver: `{self.runtime.name} delete` of container {container_id} failed: {message}")
        shutil.rmtree(directory, ignore_errors=True)
        self._release_foreign_mounts(container_id)
        return True

    # -- processes inside a running container ----------------------------------

    def _exec_request(self, directory: str, record: dict, exec_id: str, exec_dir: str, process: dict,
                      io: IOConfig) -> dict:
        return {
            "op": "exec", "entry": f"{_MONITOR}:run_exec", "id": exec_id, "dir": exec_dir,
            "container_id": record["id"], "process": self._exec_process(directory, process, io),
            "io": asdict(io), "runtime": self.runtime.to_dict(),
        }

    @staticmethod
    def _exec_process(directory: str, process: dict, io: IOConfig) -> dict:
        """The exec's process with what it leaves out taken from the container's (capabilities, rlimits...).

        ``runc exec --process`` uses the object as given, so an exec without
        capabilities would otherwise run with a different set than the container.
        """
        try:
            with open(os.path.join(directory, "bundle", "config.json")) as f:
                base = dict(json.load(f).get("process") or {})
        except (OSError, ValueError):
            base = {}
        merged = {k: v for k, v in base.items() if k not in ("args", "terminal", "consoleSize")}
        merged.update(process)
        merged["terminal"] = bool(io.tty or process.get("terminal"))
        merged.setdefault("cwd", "/")
        merged.setdefault("user", {"uid": 0, "gid": 0})
        return merged

    # -- cgroups and the runtime's own commands ------------------------------------

    @hookimpl
    def exec_pause(self, container_id: str) -> bool:
        record = self._running(container_id, "pause")
        if self._paused(record):
            raise Conflict(f"container {container_id} is already paused")
        self.runtime.check("pause", container_id, subject=f"container {container_id}")
        return True

    @hookimpl
    def exec_resume(self, container_id: str) -> bool:
        record = self._running(container_id, "unpause")
        if not self._paused(record):
            raise Conflict(f"container {container_id} is not paused")
        self.runtime.check("resume", container_id, subject=f"container {container_id}")
        return True

    @hookimpl
    def exec_stats(self, container_id: str) -> dict:
        from berth.driverkit import log_timestamp

        # The runtime's cgroups are the same cgroupfs directories the native driver reads (cgroupsPath).
        cgroups = self._cgroups(self._running(container_id, "read stats of"))
        if cgroups is None:
            raise DriverError(f"container {container_id} has no cgroups; cannot read its stats")
        stats = cgroups.stats()
        stats["read"] = log_timestamp()
        return stats

    @hookimpl
    def exec_update(self, container_id: str, resources: dict) -> bool:
        directory = self._dir(container_id)
        self._running(container_id, "update")
        path = os.path.join(directory, "resources.json")
        state.atomic_write(path, json.dumps(resources).encode())
        self.runtime.check("update", "--resources", path, container_id, subject=f"container {container_id}")
        return True

    @hookimpl
    def exec_top(self, container_id: str) -> list[int]:
        self._running(container_id, "list the processes of")
        out = self.runtime.check("ps", "--format", "json", container_id, subject=f"container {container_id}")
        return sorted(int(p) for p in json.loads(out or b"[]"))

    # -- reporting -----------------------------------------------------------

    @hookimpl
    def exec_features(self):
        """The host's cgroup controls; the runtime applies seccomp and whichever LSM the host runs.

        The runtime's binary name ("runc", "crun") is accepted as ``--runtime`` too, as in Docker.
        Both runtimes make a spec's user namespace from its ``linux.uidMappings``/``gidMappings``.
        """
        from dataclasses import replace

        from ..native.sysinfo import host_features, host_lsms, user_namespaces_available

        return replace(host_features(runtimes=(self.name, self.runtime.name),
                                     security=frozenset({"seccomp", *host_lsms()})),
                       user_namespaces=user_namespaces_available())

    @hookimpl
    def exec_status(self) -> list[tuple[str, str]]:
        return [
            ("Runtime", f"{self.runtime.name} ({self.runtime.path})"),
            ("Runtime version", self.runtime.version()),
            ("Runtime choice", self.choice),
            ("Containers", str(len(self.exec_list()))),
            ("Fork server pid", str(self.forkserver.pid or "not started")),
        ]

