"""MiniruncDriver: the exec contract over ``runc``, in as little code as keeps every promise.

Per container ``<root>/<id>/`` holds ``bundle/config.json`` (the spec as given),
``io.json`` (the IOConfig), ``supervisor.pid``, ``started.json`` once started and
``exit.json`` once the process has exited. runc keeps its own state under
``<root>/.runc``. Where the truth is:

- exit status: ``exit.json``, written by the supervisor after the log is closed;
- created / running / paused: ``runc state``;
- a supervisor that died without writing ``exit.json``: stopped, exit code 255.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict

from berth.driverkit import (
    Conflict, DriverError, ExecError, NotFound, NotSupported, atomic_write, hookimpl, log_timestamp,
)
from berth.hookspecs.types import INIT_ANNOTATION, ExecFeatures, IOConfig, RuntimeState, RuntimeStatus

_CREATE_TIMEOUT = 60.0


class MiniruncDriver:
    name = "minirunc"
    description = "runc, plus a supervisor process per container (made by berth plugins new)"
    priority = 0  # never auto-selected over the built-ins
    contract = "2.3"  # the berth driver contract this driver was written for

    @classmethod
    def probe(cls, root: str) -> str | None:
        if os.geteuid() != 0:
            return "needs root (runc runs rootful containers)"
        return None if shutil.which("runc") else "runc is not installed (apt-get install runc)"

    def __init__(self, root: str, options: dict):
        self.root = root
        self.runc_root = os.path.join(root, ".runc")
        os.makedirs(self.runc_root, mode=0o700, exist_ok=True)

    # -- helpers -----------------------------------------------------------------------------

    def _runc(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["runc", "--root", self.runc_root, *args], capture_output=True, text=True)

    def _dir(self, container_id: str) -> str:
        if "/" in container_id or container_id.startswith("."):
            raise NotFound(f"no container {container_id!r}")
        return os.path.join(self.root, container_id)

    def _read(self, container_id: str, name: str) -> dict | None:
        try:
            with open(os.path.join(self._dir(container_id), name), encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def _supervised(self, container_id: str) -> bool:
        """Whether the container's supervisor still runs (the pid is checked against its command line)."""
        directory = self._dir(container_id)
        try:
            with open(os.path.join(directory, "supervisor.pid")) as f:
                pid = int(f.read())
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return directory.encode() in f.read()
        except (OSError, ValueError):
            return False

    def _state(self, container_id: str) -> RuntimeState:
        if not os.path.isdir(os.path.join(self._dir(container_id), "bundle")):
            raise NotFound(f"no container {container_id} (minirunc)")
        started = (self._read(container_id, "started.json") or {}).get("started_at", "")
        ended = self._read(container_id, "exit.json")
        if ended is None and not self._supervised(container_id):
            ended = {"exit_code": 255, "finished_at": ""}
        if ended is not None:
            return RuntimeState(container_id, RuntimeStatus.STOPPED, exit_code=ended["exit_code"],
                                started_at=started, finished_at=ended["finished_at"])
        runc = self._runc("state", container_id)
        status = json.loads(runc.stdout).get("status", "") if runc.returncode == 0 else ""
        pid = int(json.loads(runc.stdout).get("pid", 0)) if runc.returncode == 0 else 0
        # runc says "stopped" before the supervisor drained and recorded the exit: still running for us
        mapped = {"created": RuntimeStatus.CREATED, "paused": RuntimeStatus.PAUSED}.get(status, RuntimeStatus.RUNNING)
        return RuntimeState(container_id, mapped, pid=pid, started_at=started)

    def _live(self, container_id: str, doing: str) -> RuntimeState:
        state = self._state(container_id)
        if state.status == RuntimeStatus.STOPPED:
            raise Conflict(f"cannot {doing} container {container_id}: it is not running")
        return state

    # -- lifecycle ----------------------------------------------------------------------------

    @hookimpl
    def exec_create(self, container_id: str, bundle: str, spec: dict, io: IOConfig) -> RuntimeState:
        _refuse_what_we_cannot_do(spec, io)
        directory = self._dir(container_id)
        try:
            os.makedirs(os.path.join(directory, "bundle"))
        except FileExistsError:
            raise Conflict(f"container {container_id} already exists") from None
        try:
            atomic_write(os.path.join(directory, "bundle", "config.json"), json.dumps(spec).encode(), 0o600)
            atomic_write(os.path.join(directory, "io.json"), json.dumps(asdict(io)).encode(), 0o600)
            report = self._start_supervisor(container_id, directory)
        except BaseException:
            self._runc("delete", "--force", container_id)
            shutil.rmtree(directory, ignore_errors=True)
            raise
        if "pid" not in report:
            shutil.rmtree(directory, ignore_errors=True)
            raise _create_error(container_id, report.get("error", "the supervisor ended without a word"))
        return RuntimeState(container_id, RuntimeStatus.CREATED, pid=report["pid"])

    def _start_supervisor(self, container_id: str, directory: str) -> dict:
        """Start the supervisor in a session of its own; return what it reports once runc created the container."""
        read, write = os.pipe()
        with open(os.path.join(directory, "supervisor.log"), "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "berth_minirunc.supervisor", directory, container_id, self.runc_root,
                 str(write)], pass_fds=(write,), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True)
        os.close(write)
        atomic_write(os.path.join(directory, "supervisor.pid"), str(proc.pid).encode(), 0o600)
        with os.fdopen(read, "rb") as reports:
            line = reports.readline()  # EOF without a line: it died; its log says why
        if not line:
            proc.wait(_CREATE_TIMEOUT)
            with open(os.path.join(directory, "supervisor.log"), errors="replace") as f:
                return {"error": f.read().strip()[-2000:] or f"supervisor exited with {proc.returncode}"}
        return json.loads(line)

    @hookimpl
    def exec_start(self, container_id: str) -> RuntimeState:
        state = self._state(container_id)
        if state.status != RuntimeStatus.CREATED:
            raise Conflict(f"container {container_id} is {state.status.value}, not created")
        started = self._runc("start", container_id)
        if started.returncode != 0:
            raise DriverError(f"minirunc: runc start {container_id}: {started.stderr.strip()}")
        atomic_write(os.path.join(self._dir(container_id), "started.json"),
                     json.dumps({"started_at": log_timestamp()}).encode(), 0o600)
        return self._state(container_id)

    @hookimpl
    def exec_kill(self, container_id: str, signal: int, all_processes: bool) -> bool:
        self._live(container_id, "kill")
        killed = self._runc("kill", *(["--all"] if all_processes else []), container_id, str(int(signal)))
        if killed.returncode != 0:
            self._live(container_id, "kill")  # it ended meanwhile: Conflict
            raise DriverError(f"minirunc: runc kill {container_id}: {killed.stderr.strip()}")
        return True

    @hookimpl
    def exec_wait(self, container_id: str, timeout: float | None) -> RuntimeState:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            state = self._state(container_id)
            if state.status == RuntimeStatus.STOPPED or (deadline is not None and time.monotonic() >= deadline):
                return state
            time.sleep(0.02)

    @hookimpl
    def exec_state(self, container_id: str) -> RuntimeState:
        return self._state(container_id)

    @hookimpl
    def exec_delete(self, container_id: str, force: bool) -> bool:
        directory = self._dir(container_id)
        if not os.path.isdir(directory):
            return True
        if self._state(container_id).status != RuntimeStatus.STOPPED:
            if not force:
                raise Conflict(f"container {container_id} is running; stop it first or force the removal")
            self._runc("resume", container_id)  # a paused one would not die
            self._runc("kill", "--all", container_id, "KILL")
            if self.exec_wait(container_id, 30).status != RuntimeStatus.STOPPED:
                raise DriverError(f"minirunc: container {container_id} did not die after SIGKILL")
        deleted = self._runc("delete", "--force", container_id)
        if deleted.returncode != 0 and os.path.isdir(os.path.join(self.runc_root, container_id)):
            raise DriverError(f"minirunc: runc delete {container_id}: {deleted.stderr.strip()}")
        shutil.rmtree(directory, ignore_errors=True)
        return True

    # -- pause, restart of the daemon, reporting ----------------------------------------------------

    @hookimpl
    def exec_pause(self, container_id: str) -> bool:
        if self._live(container_id, "pause").status == RuntimeStatus.PAUSED:
            raise Conflict(f"container {container_id} is already paused")
        return self._runc_or_fail("pause", container_id)

    @hookimpl
    def exec_resume(self, container_id: str) -> bool:
        if self._live(container_id, "unpause").status != RuntimeStatus.PAUSED:
            raise Conflict(f"container {container_id} is not paused")
        return self._runc_or_fail("resume", container_id)

    def _runc_or_fail(self, verb: str, container_id: str) -> bool:
        done = self._runc(verb, container_id)
        if done.returncode != 0:
            raise DriverError(f"minirunc: runc {verb} {container_id}: {done.stderr.strip()}")
        return True

    @hookimpl
    def exec_list(self) -> list[str]:
        return sorted(n for n in os.listdir(self.root) if os.path.isdir(os.path.join(self.root, n, "bundle")))

    @hookimpl
    def exec_restore(self, container_id: str) -> RuntimeState:
        return self._state(container_id)  # everything is on disk or in runc: nothing to re-attach

    @hookimpl
    def exec_features(self) -> ExecFeatures:
        # runc applies the spec's cgroup limits, but this driver does not tell an OOM kill from
        # another SIGKILL: it claims no limit, so the engine warns and discards them.
        return ExecFeatures(runtimes=(self.name,), security=frozenset({"seccomp"}))


def _refuse_what_we_cannot_do(spec: dict, io: IOConfig) -> None:
    if io.tty:
        raise NotSupported("a terminal (-t): the supervisor relays plain pipes only")
    if (spec.get("annotations") or {}).get(INIT_ANNOTATION) == "true":
        raise NotSupported("--init: no init binary is run in front of the process")
    for mount in spec.get("mounts") or []:
        if str(mount.get("source", "")).startswith("/proc/"):
            raise NotSupported(f"binding {mount['source']} from another container's mount namespace")


def _create_error(container_id: str, message: str) -> Exception:
    """runc's words as Docker's exit codes: 127 for a command not found, 126 for one that cannot run."""
    lowered = message.lower()
    if "executable file not found" in lowered or "no such file or directory" in lowered:
        return ExecError(message, 127)
    if "permission denied" in lowered or "exec format error" in lowered:
        return ExecError(message, 126)
    return DriverError(f"minirunc: creating container {container_id}: {message}")
