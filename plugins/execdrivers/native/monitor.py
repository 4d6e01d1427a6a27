"""The native driver's monitor: forks the container's init itself (see ``monitoring.monitor`` for the rest).

Forked by the fork server into its own session, reparented away from the
daemon, the monitor creates the cgroups and enters the pid namespace, then forks
the container's init (``init.py``), which sets itself up and waits for the start
signal on a channel. Everything after that (stdio, log, attach, control socket,
exit status) is the shared :class:`~berth.plugins.execdrivers.monitoring.monitor.Monitor`.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import traceback
from typing import NoReturn


from berth.driverkit import log_timestamp
from berth.hookspecs.types import IdMap
from berth.plugins.linux.userns import write_maps

from .. import initbinary
from ..monitoring import channel, state
from ..monitoring.monitor import Monitor, SetupFailed, base_record, become_subreaper, detach_stdio
from . import init, seccomp, syscalls, userns
from .cgroups import Cgroups
from .cgroups2 import native_cgroups


class NativeMonitor(Monitor):
    """A monitor whose process is a child it forked and released over a channel."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        #: CLOCK_MONOTONIC (system-wide) at the phases of a create, ours and the init's; sent to the driver
        self.marks: dict[str, float] = {}
        self.init_binary = False  # pid 1 is the mounted init (--init with tini)

    def mark(self, name: str) -> None:
        self.marks[name] = time.monotonic()

    def fork_child(self, run_child) -> None:
        """Fork; the child runs ``run_child(chan, stdio)`` and never returns here."""
        stdio = self.make_stdio()
        parent_chan, child_chan = channel.pair()
        pid = os.fork()
        if pid == 0:
            try:
                parent_chan.close()
                run_child(child_chan, stdio)
            finally:
                os._exit(1)
        child_chan.close()
        self.close_child_ends()
        self.chan = parent_chan
        self.adopt(pid)

    def join_cgroups(self, cgroups: Cgroups) -> None:
        """Move the just-forked init into ``cgroups`` and give it the go-ahead it waits for.

        The init meanwhile enters its namespaces and mounts what does not depend on its
        cgroup, so the kernel's wait in the ``cgroup.procs`` write (an RCU grace period on
        cgroup v1) overlaps with that work instead of preceding it.
        """
        try:
            cgroups.join(self.child)
        except OSError as exc:
            # The init may have failed (and said why) before we could move it: report its reason first.
            self.kill_child()
            message, _ = channel.recv(self.chan)
            if message and "exec_error" in message:
                raise SetupFailed({"ok": False, "exec_error": message["exec_error"],
                                   "exit_code": message["exit_code"]}) from exc
            detail = (message or {}).get("error") or f"moving the container's init into its cgroups: {exc}"
            raise SetupFailed({"ok": False, "error": detail}) from exc
        self.mark("cgroups_joined")
        try:
            channel.send(self.chan, {"cgroups_joined": True})
        except OSError:
            pass  # the init died meanwhile; await_ready reports why

    def await_ready(self) -> None:
        """Wait for the child's set-up; its failure becomes SetupFailed after it is reaped."""
        message, fds = channel.recv(self.chan)
        if message and message.get("ready"):
            self.adopt_master(fds)
            self.marks.update(message.get("marks") or {})
            return
        self._setup_failed(message)

    def _setup_failed(self, message: dict | None) -> NoReturn:
        """The child said why it cannot go on (or died): reap it and raise SetupFailed with its reason."""
        self.reap(block=True)
        if message and "exec_error" in message:
            raise SetupFailed({"ok": False, "exec_error": message["exec_error"], "exit_code": message["exit_code"]})
        detail = (message or {}).get("error") or f"the container's init exited ({self._exit_code()}) during set-up"
        raise SetupFailed({"ok": False, "error": detail})

    def _expect(self, key: str) -> dict:
        message, _ = channel.recv(self.chan)
        if not message or key not in message:
            self._setup_failed(message)
        return message

    def settle_user_namespace(self, idmap: IdMap | None) -> None:
        """The init entered its user namespace: map a new one from out here, then adopt the pid 1 it forks.

        Writing the maps is the host root's job (the process inside has no ids until then, and waits);
        the forking process exits at once and pid 1 is reparented to us, a subreaper.
        """
        if self._expect("userns")["userns"] == "unshared":
            try:
                if idmap is None:
                    raise OSError("a new user namespace needs linux.uidMappings and linux.gidMappings in the spec")
                write_maps(self.child, idmap)
            except OSError as exc:
                self.kill_child()
                raise SetupFailed({"ok": False, "error": f"mapping the container's user namespace: {exc}"}) from exc
            channel.send(self.chan, {"mapped": True})
        pid1 = int(self._expect("init_pid")["init_pid"])
        os.waitpid(self.child, 0)
        os.close(self.pidfd)
        self.pidfd = -1
        self.adopt(pid1)
        self.mark("user_namespace_mapped")

    def await_exec(self) -> dict | None:
        """After the start signal: None when execve succeeded (channel EOF), else the failure reply."""
        message, _ = channel.recv(self.chan)
        self.chan.close()
        self.chan = None
        if message is None:
            return None
        self.reap(block=True)
        if "exec_error" in message:
            self.record["error"] = message["exec_error"]
            return {"ok": False, "exec_error": message["exec_error"], "exit_code": message["exit_code"]}
        self.record["error"] = message.get("error", "")
        return {"ok": False, "error": message.get("error", "the process failed before execve")}

    def start_process(self) -> dict | None:
        """Release the init waiting in ``wait_for_start``; its channel closing means execve succeeded.
        A mounted init (tini) is started once it takes signals, so a stop right after is not lost."""
        if self.chan is None:
            return {"ok": False, "conflict": True, "error": "the container's init is gone"}
        try:
            channel.send(self.chan, {"start": True})
        except OSError:
            pass  # the init died while waiting; await_exec reports it
        failure = self.await_exec()
        if failure is None and self.init_binary:
            initbinary.await_signal_handling(self.record["pid"])
        return failure


# ---------------------------------------------------------------------------
# entry points (called in the fork server's grandchild)
# ---------------------------------------------------------------------------


def _enter_pid_namespace(spec: dict) -> None:
    """Our next child is the container's pid 1: unshare (or setns) the pid namespace here, then fork."""
    for ns in (spec.get("linux") or {}).get("namespaces") or []:
        if ns["type"] != "pid":
            continue
        if ns.get("path"):
            fd = os.open(ns["path"], os.O_RDONLY | os.O_CLOEXEC)
            try:
                syscalls.setns(fd, syscalls.CLONE_NEWPID, f"pid namespace {ns['path']}")
            finally:
                os.close(fd)
        else:
            syscalls.unshare(syscalls.CLONE_NEWPID)


def run_container(request: dict, reply: socket.socket) -> NoReturn:
    """Monitor of a new container: create it, answer the daemon, then supervise until it exits."""
    directory = request["dir"]
    detach_stdio(directory, "berth-monitor")
    spec = request["spec"]
    io = dict(request["io"], tty=bool(request["io"].get("tty") or (spec.get("process") or {}).get("terminal")))
    mon = NativeMonitor(directory, io, base_record(request, "container"))  # its log writer's threads start now,
    mon.mark("monitor_started")                                            # before _enter_pid_namespace forbids them
    mon.init_binary = initbinary.applied(spec)
    cgroups = native_cgroups(request["cgroup_path"])
    mon.cgroups = cgroups
    try:
        try:
            cgroups.create()
            cgroups.apply((spec.get("linux") or {}).get("resources"))
            mon.open_listeners()
            # before the pid namespace: compiling may run helpers, and the first child there is its pid 1
            program = seccomp.program_for((spec.get("linux") or {}).get("seccomp"), request.get("seccomp_cache"))
            user = userns.entry(spec)
            if user is None:
                _enter_pid_namespace(spec)
            else:  # the init makes the pid namespace inside its user namespace; we inherit its pid 1
                become_subreaper()
            mon.mark("cgroups_created")
        except Exception as exc:
            raise SetupFailed({"ok": False, "error": f"preparing the container: {exc}"}) from exc

        def child(chan, stdio):
            reply.close()
            init.container_init(init.InitContext(spec, chan, cgroups, stdio, mon.tty, seccomp_program=program))

        mon.fork_child(child)
        mon.mark("init_forked_monitor")
        mon.join_cgroups(cgroups)
        if user is not None:
            mon.settle_user_namespace(IdMap.from_oci(spec.get("linux") or {}))
        mon.await_ready()
        mon.record["status"] = "created"
        mon.save()
        mon.mark("ready")
        channel.send(reply, {"ok": True, "state": mon.record, "marks": mon.marks})
        reply.close()
        mon.serve()
        mon.finish()
    except SetupFailed as failed:
        _abort(mon, cgroups, reply, failed.reply)
    except BaseException:
        traceback.print_exc()
        _abort(mon, cgroups, reply, {"ok": False, "error": f"monitor failed: {sys.exc_info()[1]}"})
    mon.exit_now()


def _abort(mon: NativeMonitor, cgroups: Cgroups | None, reply: socket.socket, message: dict) -> NoReturn:
    """Creation failed: kill what exists, remove our cgroups, then the shared abort (sockets, reply)."""
    mon.kill_child()
    if cgroups is not None:
        try:
            cgroups.destroy()
        except OSError:
            traceback.print_exc()
    mon.abort(reply, message)


def run_exec(request: dict, reply: socket.socket) -> NoReturn:
    """Monitor of one exec: start the process in the container, answer, supervise until it exits."""
    directory = request["dir"]
    detach_stdio(directory, "berth-exec-mon")
    container = request["container"]  # the container's state record
    mon = NativeMonitor(directory, request["io"], base_record(request, "exec"),
                        hold_output=bool(request["io"].get("hold_until_attached")))
    cgroups = native_cgroups(container["cgroup_path"]) if container.get("cgroup_path") else None
    init_pid = container["pid"]
    try:
        try:
            if not state.is_alive(init_pid, container.get("pid_start")):
                raise SetupFailed({"ok": False, "conflict": True, "error": "the container is not running"})
            mon.open_listeners()
            program = seccomp.program_for((request["spec"].get("linux") or {}).get("seccomp"),
                                          request.get("seccomp_cache"))
            _enter_pid_namespace({"linux": {"namespaces": [{"type": "pid", "path": f"/proc/{init_pid}/ns/pid"}]}})
        except OSError as exc:
            raise SetupFailed({"ok": False, "error": f"preparing the exec: {exc}"}) from exc

        def child(chan, stdio):
            reply.close()
            ctx = init.InitContext(request["spec"], chan, cgroups, stdio, mon.tty, process=request["process"],
                                   seccomp_program=program)
            init.exec_init(ctx, init_pid)

        mon.fork_child(child)
        mon.await_ready()
        failure = mon.await_exec()
        if failure is not None:
            mon.finish(attacher_expected=False)
            channel.send(reply, failure)
            mon.exit_now()
        mon.record.update(status="running", started_at=log_timestamp())
        mon.save()
        channel.send(reply, {"ok": True, "state": mon.record})
        reply.close()
        mon.serve()
        mon.finish()
    except SetupFailed as failed:
        if "exec_error" in failed.reply:
            mon.finish(attacher_expected=False)
            channel.send(reply, failed.reply)
            mon.exit_now()
        _abort(mon, None, reply, failed.reply)
    except BaseException:
        traceback.print_exc()
        _abort(mon, None, reply, {"ok": False, "error": f"exec monitor failed: {sys.exc_info()[1]}"})
    mon.exit_now()
