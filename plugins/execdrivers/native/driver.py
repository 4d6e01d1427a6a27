"""NativeDriver: the pluggy face of the native exec driver.

Containers are created by monitors forked from a fork server (see
``forkserver.py`` and ``monitor.py``); this class only sends requests and reads
the state monitors keep under ``root``. It holds no per-container memory, so a
new instance (after a daemon restart) sees exactly what the old one saw:
``exec_list``/``exec_restore`` are reads of that state, and running containers
stay waitable and killable through their recorded pids.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal as signals
import time
from dataclasses import asdict

from berth import hookimpl
from berth.errors import Conflict, DriverError, ExecError, NotFound
from berth.hookspecs.types import ExecProcess, IOConfig, RuntimeState, RuntimeStatus

from . import channel, state
from .client import ForkServerClient

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class NativeDriver:
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

        if not v1_hierarchies():
            return "no cgroup v1 hierarchy is mounted; the native driver does not drive cgroup v2 yet (use the oci driver)"
        return None

    def __init__(self, root: str, options: dict | None = None):
        self.root = root
        self.options = options or {}
        os.makedirs(root, mode=0o700, exist_ok=True)
        self.forkserver = ForkServerClient(root)

    def close(self) -> None:
        """Stop the fork server; containers and their monitors keep running."""
        self.forkserver.close()

    # -- helpers -------------------------------------------------------------

    def _dir(self, container_id: str) -> str:
        if not _ID.match(container_id or ""):
            raise NotFound(f"no such container: {container_id!r}")
        return os.path.join(self.root, container_id)

    def _exec_dir(self, container_id: str, exec_id: str) -> str:
        if not _ID.match(exec_id or ""):
            raise NotFound(f"no such exec: {exec_id!r}")
        return os.path.join(self._dir(container_id), "execs", exec_id)

    def _record(self, directory: str, what: str) -> dict:
        record = state.read_state(directory)
        if record is None:
            raise NotFound(f"no such {what}: {os.path.basename(directory)} (native driver has no state for it)")
        return self._reconcile(directory, record)

    def _reconcile(self, directory: str, record: dict) -> dict:
        """Correct a record whose monitor died without writing the final state."""
        if record["status"] == "stopped":
            return record
        if state.is_alive(record["monitor_pid"], record.get("monitor_start")):
            return record
        record = state.read_state(directory) or record  # it may have finished meanwhile
        if record["status"] == "stopped":
            return record
        if state.is_alive(record.get("pid", 0), record.get("pid_start")):
            record["error"] = "the monitor died; the process runs on unsupervised (no log, no exit code)"
            return record
        record.update(status="stopped", exit_code=255, finished_at=record.get("finished_at") or "",
                      error="the monitor died before recording the exit status")
        return record

    def _runtime_state(self, record: dict) -> RuntimeState:
        status = RuntimeStatus(record["status"])
        cgroups = self._cgroups(record) if status == RuntimeStatus.RUNNING else None
        if cgroups is not None and cgroups.frozen():
            status = RuntimeStatus.PAUSED
        return RuntimeState(
            id=record["id"], status=status,
            pid=(record.get("pid") or 0) if status != RuntimeStatus.STOPPED else 0,
            exit_code=record.get("exit_code") if status == RuntimeStatus.STOPPED else None,
            oom_killed=bool(record.get("oom_killed")), started_at=record.get("started_at") or "",
            finished_at=record.get("finished_at") or "", error=record.get("error") or "",
        )

    @staticmethod
    def _cgroups(record: dict):
        from .cgroups import Cgroups

        return Cgroups(record["cgroup_path"]) if record.get("cgroup_path") else None

    def _wait_record(self, directory: str, what: str, timeout: float | None) -> dict:
        record = self._record(directory, what)
        if record["status"] == "stopped":
            return record
        fd = state.open_pidfd(record["monitor_pid"], record.get("monitor_start"))
        if fd is not None:
            try:
                state.wait_pidfd(fd, timeout)
            finally:
                os.close(fd)
        else:
            fd = state.open_pidfd(record.get("pid", 0), record.get("pid_start"))
            if fd is not None:  # unsupervised: wait for the process itself (its exit code is lost)
                try:
                    state.wait_pidfd(fd, timeout)
                finally:
                    os.close(fd)
        return self._record(directory, what)

    def _control(self, directory: str, message: dict) -> dict:
        path = os.path.join(directory, state.CONTROL_SOCKET)
        try:
            sock = channel.connect(path, timeout=60)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise Conflict(f"the monitor of {os.path.basename(directory)} is not answering ({exc.strerror})") from None
        with sock:
            channel.send(sock, message)
            reply, _ = channel.recv(sock)
        if reply is None:
            raise DriverError(f"the monitor of {os.path.basename(directory)} closed the control socket")
        return reply

    # -- lifecycle -----------------------------------------------------------

    @hookimpl
    def exec_create(self, container_id: str, bundle: str, spec: dict, io: IOConfig) -> RuntimeState:
        from .cgroups import cgroup_path

        directory = self._dir(container_id)
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            raise Conflict(f"container {container_id} already exists in the native driver; delete it first") from None
        try:
            if not os.path.isabs(spec.get("root", {}).get("path", "")):
                raise DriverError(f"container {container_id}: spec root.path must be an absolute, mounted rootfs")
            request = {
                "op": "create", "id": container_id, "dir": directory, "bundle": bundle, "spec": spec,
                "io": asdict(io), "cgroup_path": cgroup_path(spec, container_id),
            }
            reply = self.forkserver.request(request)
        except BaseException as exc:
            shutil.rmtree(directory, ignore_errors=True)
            if isinstance(exc, (DriverError, Conflict)):
                raise
            raise DriverError(f"native driver: creating container {container_id} failed: {exc}") from exc
        if not reply.get("ok"):
            shutil.rmtree(directory, ignore_errors=True)
            if "exec_error" in reply:
                raise ExecError(reply["exec_error"], reply.get("exit_code", 126))
            raise DriverError(f"native driver: creating container {container_id} failed: {reply.get('error')}")
        return self._runtime_state(reply["state"])

    @hookimpl
    def exec_start(self, container_id: str) -> RuntimeState:
        directory = self._dir(container_id)
        record = self._record(directory, "container")
        if record["status"] != "created":
            raise Conflict(f"container {container_id} is {record['status']}; only a created container can be started")
        reply = self._control(directory, {"op": "start"})
        if reply.get("ok"):
            return self._runtime_state(reply["state"])
        if "exec_error" in reply:
            raise ExecError(reply["exec_error"], reply.get("exit_code", 126))
        if reply.get("conflict"):
            raise Conflict(f"container {container_id}: {reply['error']}")
        raise DriverError(f"native driver: starting container {container_id} failed: {reply.get('error')}")

    @hookimpl
    def exec_kill(self, container_id: str, signal: int, all_processes: bool) -> bool:
        directory = self._dir(container_id)
        record = self._record(directory, "container")
        if record["status"] == "stopped":
            raise Conflict(f"container {container_id} is not running")
        if all_processes:
            self._kill_all(record, signal)
            return True
        if not state.signal_process(record["pid"], record.get("pid_start"), signal):
            if self._record(directory, "container")["status"] != "stopped":
                raise DriverError(f"native driver: cannot signal container {container_id}'s init (pid {record['pid']})")
            raise Conflict(f"container {container_id} is not running")
        return True

    def _kill_all(self, record: dict, sig: int) -> None:
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
                cgroups.thaw()

    @hookimpl
    def exec_wait(self, container_id: str, timeout: float | None) -> RuntimeState:
        return self._runtime_state(self._wait_record(self._dir(container_id), "container", timeout))

    @hookimpl
    def exec_state(self, container_id: str) -> RuntimeState:
        return self._runtime_state(self._record(self._dir(container_id), "container"))

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
            self._kill_all(record, signals.SIGKILL)
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
        return True

    def _wait_exec_monitors(self, directory: str, timeout: float = 5.0) -> None:
        execs = os.path.join(directory, "execs")
        if not os.path.isdir(execs):
            return
        deadline = time.monotonic() + timeout
        for name in os.listdir(execs):
            record = state.read_state(os.path.join(execs, name))
            if record and record["status"] != "stopped":
                fd = state.open_pidfd(record["monitor_pid"], record.get("monitor_start"))
                if fd is not None:
                    try:
                        state.wait_pidfd(fd, max(0.0, deadline - time.monotonic()))
                    finally:
                        os.close(fd)

    # -- processes inside a running container ----------------------------------

    @hookimpl
    def exec_exec(self, container_id: str, exec_id: str, process: dict, io: IOConfig) -> ExecProcess:
        directory = self._dir(container_id)
        record = self._record(directory, "container")
        if record["status"] != "running":
            raise Conflict(f"container {container_id} is {record['status']}; exec needs a running container")
        cgroups = self._cgroups(record)
        if cgroups is not None and cgroups.frozen():
            raise Conflict(f"container {container_id} is paused, unpause the container before exec")
        exec_dir = self._exec_dir(container_id, exec_id)
        try:
            os.makedirs(exec_dir, 0o700)
        except FileExistsError:
            raise Conflict(f"exec {exec_id} already exists in container {container_id}") from None
        spec = self._spec(record)
        request = {
            "op": "exec", "id": exec_id, "dir": exec_dir, "container": record, "process": process,
            "spec": {"linux": {"seccomp": (spec.get("linux") or {}).get("seccomp")}}, "io": asdict(io),
            "cgroup_path": record.get("cgroup_path"),
        }
        try:
            reply = self.forkserver.request(request)
        except BaseException as exc:
            shutil.rmtree(exec_dir, ignore_errors=True)
            raise DriverError(f"native driver: exec {exec_id} in {container_id} failed: {exc}") from exc
        if not reply.get("ok"):
            if "exec_error" in reply:
                raise ExecError(reply["exec_error"], reply.get("exit_code", 126))
            shutil.rmtree(exec_dir, ignore_errors=True)
            if reply.get("conflict"):
                raise Conflict(f"container {container_id}: {reply['error']}")
            raise DriverError(f"native driver: exec {exec_id} in {container_id} failed: {reply.get('error')}")
        return ExecProcess(exec_id=exec_id, pid=reply["state"]["pid"])

    @staticmethod
    def _spec(record: dict) -> dict:
        try:
            with open(os.path.join(record.get("bundle") or "", "config.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    @hookimpl
    def exec_exec_wait(self, container_id: str, exec_id: str, timeout: float | None) -> int | None:
        record = self._wait_record(self._exec_dir(container_id, exec_id), "exec", timeout)
        return record.get("exit_code") if record["status"] == "stopped" else None

    @hookimpl
    def exec_resize(self, container_id: str, exec_id: str | None, height: int, width: int) -> bool:
        directory = self._exec_dir(container_id, exec_id) if exec_id else self._dir(container_id)
        record = self._record(directory, "exec" if exec_id else "container")
        if record["status"] == "stopped":
            raise Conflict(f"{'exec ' + exec_id if exec_id else 'container ' + container_id} is not running")
        reply = self._control(directory, {"op": "resize", "height": height, "width": width})
        if not reply.get("ok"):
            raise Conflict(f"cannot resize {container_id}: {reply.get('error')}")
        return True

    # -- cgroups -------------------------------------------------------------

    def _running_cgroups(self, container_id: str, verb: str):
        record = self._record(self._dir(container_id), "container")
        if record["status"] != "running":
            raise Conflict(f"container {container_id} is {record['status']}; cannot {verb} it")
        cgroups = self._cgroups(record)
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
        from berth.containers.jsonlog import timestamp

        stats = self._running_cgroups(container_id, "read stats of").stats()
        stats["read"] = timestamp()
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
    def exec_list(self) -> list[str]:
        try:
            names = sorted(os.listdir(self.root))
        except FileNotFoundError:
            return []
        return [n for n in names if os.path.isfile(os.path.join(self.root, n, state.STATE_FILE))]

    @hookimpl
    def exec_restore(self, container_id: str) -> RuntimeState:
        # Monitors write everything we need; re-adopting is reading it and checking the pids are still theirs.
        return self._runtime_state(self._record(self._dir(container_id), "container"))

    @hookimpl
    def exec_status(self) -> list[tuple[str, str]]:
        return [
            ("Cgroup driver", "cgroupfs (v1)"),
            ("Containers", str(len(self.exec_list()))),
            ("Fork server pid", str(self.forkserver.pid or "not started")),
        ]
