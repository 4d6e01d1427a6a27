"""MonitoredDriver: what every monitor-based exec driver does the same way.

Monitors write each container's (and exec's) record in ``<root>/<id>/state.json``
(``<root>/<id>/execs/<exec>/state.json``); a driver holds no per-container memory,
so a new instance (after a daemon restart) sees exactly what the old one saw.
This base class reads those records, corrects the ones whose monitor died,
waits on pidfds, talks to monitors' control sockets and starts execs through the
fork server; subclasses add how a container is created, killed and removed,
whether it is paused, and what an exec's monitor is asked to do.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from typing import TYPE_CHECKING, Callable

from berth.driverkit import Conflict, DriverError, ExecError, NotFound, hookimpl
from berth.hookspecs import CONTRACT
from berth.hookspecs.types import ExecProcess, IOConfig, RuntimeState, RuntimeStatus

from . import channel, foreign, state

if TYPE_CHECKING:
    from .client import ForkServerClient

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class MonitoredDriver:
    """Base of exec drivers whose containers are supervised by one monitor process each."""

    name = "monitored"
    contract = CONTRACT  # built-ins follow the contract of the berth they ship with
    root: str
    forkserver: "ForkServerClient"

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
            raise NotFound(f"no such {what}: {os.path.basename(directory)} ({self.name} driver has no state for it)")
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
            record["unsupervised"] = True
            return record
        record.update(status="stopped", exit_code=255, finished_at=record.get("finished_at") or "",
                      error="the monitor died before recording the exit status")
        return record

    def _runtime_state(self, record: dict) -> RuntimeState:
        status = RuntimeStatus(record["status"])
        if status == RuntimeStatus.RUNNING and self._paused(record):
            status = RuntimeStatus.PAUSED
        return RuntimeState(
            id=record["id"], status=status,
            pid=(record.get("pid") or 0) if status != RuntimeStatus.STOPPED else 0,
            exit_code=record.get("exit_code") if status == RuntimeStatus.STOPPED else None,
            oom_killed=bool(record.get("oom_killed")), started_at=record.get("started_at") or "",
            finished_at=record.get("finished_at") or "", error=record.get("error") or "",
            supervised=not record.get("unsupervised"),
        )

    def _paused(self, record: dict) -> bool:
        """True when the running container's processes are frozen (subclasses know how to tell)."""
        return False

    def _running(self, container_id: str, verb: str) -> dict:
        """The container's record; Conflict unless it is running (``verb`` completes "cannot ... it")."""
        record = self._record(self._dir(container_id), "container")
        if record["status"] != "running":
            raise Conflict(f"container {container_id} is {record['status']}; cannot {verb} it")
        return record

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

    def _request(self, message: dict, subject: str, while_waiting: Callable[[], None] | None = None) -> dict:
        """The fork server's reply to ``message``; a DriverError naming ``subject`` when there is none.

        ``while_waiting``: see :meth:`ForkServerClient.request`.
        """
        try:
            return self.forkserver.request(message, while_waiting=while_waiting)
        except BaseException as exc:
            raise DriverError(f"{self.name} driver: {subject} failed: {exc}") from exc

    def _new_container_dir(self, container_id: str, spec: dict) -> str:
        """Make the container's directory: the spec must name a mounted rootfs and the ID be new (Conflict)."""
        if not os.path.isabs((spec.get("root") or {}).get("path", "")):
            raise DriverError(f"container {container_id}: spec root.path must be an absolute, mounted rootfs")
        directory = self._dir(container_id)
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            raise Conflict(f"container {container_id} already exists in the {self.name} driver; "
                           f"delete it first") from None
        return directory

    def _foreign_dir(self, container_id: str) -> str:
        """Where the container's binds of other containers' mounts are attached (``foreign.py``)."""
        return os.path.join(self.root, "foreign", container_id)

    def _share_foreign_mounts(self, container_id: str, spec: dict) -> dict:
        """The spec with its ``/proc/<pid>/root/...`` binds (``--ipc container:X``) made bindable."""
        return foreign.attach(spec, self._foreign_dir(container_id))

    def _release_foreign_mounts(self, container_id: str) -> None:
        foreign.release(self._foreign_dir(container_id))

    def _created(self, container_id: str, directory: str, reply: dict) -> RuntimeState:
        """The new container's state from its monitor's reply; a failed create leaves no directory behind."""
        if not reply.get("ok"):
            shutil.rmtree(directory, ignore_errors=True)
            self._release_foreign_mounts(container_id)
            if "exec_error" in reply:
                raise ExecError(reply["exec_error"], reply.get("exit_code", 126))
            raise DriverError(f"{self.name} driver: creating container {container_id} failed: {reply.get('error')}")
        return self._runtime_state(reply["state"])

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
        raise DriverError(f"{self.name} driver: starting container {container_id} failed: {reply.get('error')}")

    @hookimpl
    def exec_kill(self, container_id: str, signal: int, all_processes: bool) -> bool:
        directory = self._dir(container_id)
        record = self._record(directory, "container")
        if record["status"] == "stopped":
            raise Conflict(f"container {container_id} is not running")
        if all_processes:
            self._kill_all(container_id, record, signal)
            return True
        if not state.signal_process(record["pid"], record.get("pid_start"), signal):
            if self._record(directory, "container")["status"] != "stopped":
                raise DriverError(f"{self.name} driver: cannot signal container {container_id}'s init "
                                  f"(pid {record['pid']})")
            raise Conflict(f"container {container_id} is not running")
        return True

    def _kill_all(self, container_id: str, record: dict, sig: int) -> None:
        """Signal every process of the container (subclasses know where they are)."""
        raise NotImplementedError

    @hookimpl
    def exec_wait(self, container_id: str, timeout: float | None) -> RuntimeState:
        return self._runtime_state(self._wait_record(self._dir(container_id), "container", timeout))

    @hookimpl
    def exec_state(self, container_id: str) -> RuntimeState:
        return self._runtime_state(self._record(self._dir(container_id), "container"))

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

    @hookimpl
    def exec_exec(self, container_id: str, exec_id: str, process: dict, io: IOConfig) -> ExecProcess:
        """Start ``process`` in the running container, under a monitor of its own forked by the fork server."""
        directory = self._dir(container_id)
        record = self._running(container_id, "exec in")
        if self._paused(record):
            raise Conflict(f"container {container_id} is paused, unpause the container before exec")
        exec_dir = self._exec_dir(container_id, exec_id)
        try:
            os.makedirs(exec_dir, 0o700)
        except FileExistsError:
            raise Conflict(f"exec {exec_id} already exists in container {container_id}") from None
        subject = f"exec {exec_id} in {container_id}"
        try:
            reply = self._request(self._exec_request(directory, record, exec_id, exec_dir, process, io), subject,
                                  while_waiting=self._while_exec_starts)
        except BaseException:
            shutil.rmtree(exec_dir, ignore_errors=True)
            raise
        if not reply.get("ok"):
            if "exec_error" in reply:  # it ran and failed as Docker's 126/127: its record stays for inspect
                raise ExecError(reply["exec_error"], reply.get("exit_code", 126))
            shutil.rmtree(exec_dir, ignore_errors=True)
            if reply.get("conflict"):
                raise Conflict(f"container {container_id}: {reply['error']}")
            raise DriverError(f"{self.name} driver: {subject} failed: {reply.get('error')}")
        return ExecProcess(exec_id=exec_id, pid=reply["state"]["pid"])

    def _while_exec_starts(self) -> None:
        """Work for the daemon's thread while an exec's monitor starts (see ForkServerClient.request)."""

    def _exec_request(self, directory: str, record: dict, exec_id: str, exec_dir: str, process: dict,
                      io: IOConfig) -> dict:
        """The fork-server request that starts exec ``exec_id``'s monitor in ``exec_dir`` (the driver's own)."""
        raise NotImplementedError

    @hookimpl
    def exec_exec_wait(self, container_id: str, exec_id: str, timeout: float | None) -> int:
        record = self._wait_record(self._exec_dir(container_id, exec_id), "exec", timeout)
        if record["status"] != "stopped":
            raise TimeoutError(f"exec {exec_id} in container {container_id} still runs after {timeout}s")
        return record.get("exit_code", 255)

    @hookimpl
    def exec_exec_kill(self, container_id: str, exec_id: str, signal: int) -> bool:
        record = self._record(self._exec_dir(container_id, exec_id), "exec")
        # the start time guards against a recycled pid: a stranger's process is never signalled
        if record["status"] == "stopped" or not state.signal_process(record.get("pid", 0), record.get("pid_start"),
                                                                     signal):
            raise Conflict(f"exec {exec_id} in container {container_id} is not running")
        return True

    @hookimpl
    def exec_exec_delete(self, container_id: str, exec_id: str) -> bool:
        directory = self._exec_dir(container_id, exec_id)
        record = state.read_state(directory)
        if record is None:
            return True
        if self._reconcile(directory, record)["status"] != "stopped":
            raise Conflict(f"exec {exec_id} in container {container_id} is still running")
        shutil.rmtree(directory, ignore_errors=True)
        return True

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

    @hookimpl
    def exec_cleanup(self) -> bool:
        """Stop the fork server; containers and their monitors keep running."""
        self.forkserver.close()
        return True

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

