"""The oci driver's monitor: runs ``runc``/``crun`` and supervises what it leaves behind.

Forked by the shared fork server into its own session, the monitor marks itself
a *child subreaper*, then runs ``<runtime> create`` (or ``exec --detach``) with
its own pipes as the runtime's stdio, which the runtime hands on to the
container's process. When the runtime exits, that process is reparented to the
monitor, which reads its pid from ``--pid-file``, waits for it and records its
exit status, exactly as the native driver's monitor does for its own child. With
a tty the runtime sends the pty master over ``--console-socket`` (SCM_RIGHTS).
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import traceback
from typing import NoReturn

from berth.driverkit import log_timestamp

from .. import initbinary
from ..monitoring import channel
from ..monitoring.monitor import Monitor, SetupFailed, base_record, become_subreaper, detach_stdio
from .runtime import Runtime, error_text, exec_failure

CONSOLE_SOCKET = "console.sock"
RUNTIME_LOG = "runtime.log"
PID_FILE = "pid"
_CONSOLE_WAIT = 10.0


def receive_console(listener: socket.socket, timeout: float = _CONSOLE_WAIT) -> int:
    """Accept the runtime's connection on the console socket and return the pty master it sends."""
    ready, _, _ = select.select([listener], [], [], timeout)
    if not ready:
        raise OSError("the runtime did not send the terminal's master over the console socket")
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(timeout)
        _, fds, _, _ = socket.recv_fds(conn, 4096, 1, socket.MSG_CMSG_CLOEXEC)
    if not fds:
        raise OSError("the runtime connected to the console socket without sending a file descriptor")
    return fds[0]


class OciMonitor(Monitor):
    """A monitor whose process is made by the runtime binary and adopted as an orphan."""

    argv0 = ""  # the command, for runtime errors that do not name it

    def __init__(self, directory: str, io: dict, record: dict, runtime: Runtime, hold_output: bool = False):
        super().__init__(directory, io, record, hold_output)
        self.runtime = runtime

    def launch(self, args: list[str], subject: str) -> None:
        """Run ``runtime args`` with our stdio (or console socket), then adopt the process it left."""
        pid_file = os.path.join(self.directory, PID_FILE)
        log = os.path.join(self.directory, RUNTIME_LOG)
        for stale in (pid_file, log):
            if os.path.exists(stale):
                os.unlink(stale)
        console = None
        extra: list[str] = []
        if self.tty:
            path = os.path.join(self.directory, CONSOLE_SOCKET)
            console = channel.listen(path, socket.SOCK_STREAM)
            extra = ["--console-socket", path]
        stdio = self.make_stdio() or (subprocess.DEVNULL,) * 3
        err_r = next((fd for fd, name in self.outputs.items() if name == "stderr"), None)
        try:
            proc = subprocess.Popen(
                self.runtime.argv(*args[:1], *extra, "--pid-file", pid_file, *args[1:], log=log),
                stdin=stdio[0], stdout=stdio[1], stderr=stdio[2], close_fds=True)
            self.close_child_ends()
            rc = proc.wait()
            if rc != 0:
                raise SetupFailed(self._failure(args[0], subject, log, err_r, rc))
            if console is not None:
                self.adopt_master([receive_console(console)])
            with open(pid_file) as f:
                pid = int(f.read().strip())
        finally:
            if console is not None:
                console.close()
                os.unlink(os.path.join(self.directory, CONSOLE_SOCKET))
        self.adopt(pid)

    def _failure(self, verb: str, subject: str, log: str, err_r: int | None, rc: int) -> dict:
        """The daemon's reply for a failed ``runtime verb``: an exec error (126/127) or a plain error."""
        raw = ""
        try:
            with open(log, errors="replace") as f:
                raw = f.read()
        except OSError:
            pass
        message = error_text(raw)
        if not message and err_r is not None:
            try:
                message = error_text(os.read(err_r, 65536).decode(errors="replace"))
            except OSError:
                pass
        failed = exec_failure(message, self.argv0)
        if failed is not None:
            return {"ok": False, "exec_error": failed[0], "exit_code": failed[1]}
        return {"ok": False, "error": f"`{self.runtime.name} {verb}` failed for {subject}: "
                                      f"{message or f'exit status {rc}'}"}

    def start_process(self) -> dict | None:
        done = self.runtime.run("start", self.record["id"])
        if done.returncode == 0:
            if self.argv0 == initbinary.IN_CONTAINER_PATH:  # a stop right after must not be lost (see there)
                initbinary.await_signal_handling(self.record["pid"])
            return None
        message = error_text(done.stderr.decode(errors="replace"))
        self.record["error"] = message
        failed = exec_failure(message, self.argv0)
        if failed is not None:
            return {"ok": False, "exec_error": failed[0], "exit_code": failed[1]}
        return {"ok": False, "error": f"`{self.runtime.name} start` failed: {message}"}

    def reap_orphans(self) -> None:
        """As a subreaper we inherit the runtime's helper processes too; collect any that ended."""
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return


# ---------------------------------------------------------------------------
# entry points (called in the fork server's grandchild)
# ---------------------------------------------------------------------------


def run_container(request: dict, reply: socket.socket) -> NoReturn:
    """Monitor of a new container: ``runtime create``, answer the daemon, supervise until it exits."""
    directory = request["dir"]
    detach_stdio(directory, "berth-oci-mon")
    spec = request["spec"]
    io = dict(request["io"], tty=bool((spec.get("process") or {}).get("terminal")))
    runtime = Runtime(**request["runtime"])
    mon = OciMonitor(directory, io, base_record(request, "container"), runtime)
    mon.argv0 = ((spec.get("process") or {}).get("args") or [""])[0]
    if request.get("cgroup_path"):
        from ..native.cgroups2 import open_cgroups

        mon.cgroups = open_cgroups(request["cgroup_path"])
    try:
        become_subreaper()
        mon.open_listeners()
        mon.launch(["create", "--bundle", request["bundle"], request["id"]], f"container {request['id']}")
        mon.record["status"] = "created"
        mon.save()
        channel.send(reply, {"ok": True, "state": mon.record})
        reply.close()
        mon.serve()
        mon.finish()
        mon.reap_orphans()
    except SetupFailed as failed:
        _abort(mon, reply, failed.reply, delete=True)
    except BaseException:
        traceback.print_exc()
        _abort(mon, reply, {"ok": False, "error": f"oci monitor failed: {sys.exc_info()[1]}"}, delete=True)
    mon.exit_now()


def run_exec(request: dict, reply: socket.socket) -> NoReturn:
    """Monitor of one exec: ``runtime exec --detach --process``, answer, supervise until it exits."""
    directory = request["dir"]
    detach_stdio(directory, "berth-oci-exec")
    runtime = Runtime(**request["runtime"])
    io = dict(request["io"], tty=bool(request["process"].get("terminal")))
    mon = OciMonitor(directory, io, base_record(request, "exec"), runtime,
                     hold_output=bool(request["io"].get("hold_until_attached")))
    mon.argv0 = (request["process"].get("args") or [""])[0]
    try:
        become_subreaper()
        mon.open_listeners()
        process_file = os.path.join(directory, "process.json")
        with open(process_file, "w") as f:
            json.dump(request["process"], f)
        mon.launch(["exec", "--detach", "--process", process_file, request["container_id"]],
                   f"exec {request['id']} in container {request['container_id']}")
        mon.record.update(status="running", started_at=log_timestamp())
        mon.save()
        channel.send(reply, {"ok": True, "state": mon.record})
        reply.close()
        mon.serve()
        mon.finish()
        mon.reap_orphans()
    except SetupFailed as failed:
        if "exec_error" in failed.reply:  # an exec that could not run is a finished exec with Docker's code
            mon.record.update(status="stopped", exit_code=failed.reply["exit_code"], error=failed.reply["exec_error"],
                              finished_at=log_timestamp())
            mon.save()
        _abort(mon, reply, failed.reply, delete=False)
    except BaseException:
        traceback.print_exc()
        _abort(mon, reply, {"ok": False, "error": f"oci exec monitor failed: {sys.exc_info()[1]}"}, delete=False)
    mon.exit_now()


def _abort(mon: OciMonitor, reply: socket.socket, message: dict, delete: bool) -> NoReturn:
    """Creation failed: kill what exists, have the runtime forget the container, then the shared abort."""
    mon.kill_child()
    if delete:
        try:
            mon.runtime.run("delete", "--force", mon.record["id"])
        except Exception:  # noqa: BLE001 - best effort; the daemon gets the original error
            traceback.print_exc()
    mon.reap_orphans()
    mon.abort(reply, message)
