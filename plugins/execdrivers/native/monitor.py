"""The per-container (and per-exec) monitor process.

Forked by the fork server into its own session, reparented away from the
daemon, the monitor:

1. creates the cgroups and enters the pid namespace, then forks the container's
   init (``init.py``), which sets itself up and waits;
2. serves a control socket (``start``, ``resize``) and the attach socket;
3. owns the container's stdio (pipes, or the pty master), appends output to the
   json-file log and copies it to attach clients, feeds their input to stdin;
4. when the init exits, drains the output, records the exit status atomically
   in ``state.json`` and exits.

The daemon can die at any point: nothing here depends on it after the reply to
the request that created us.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import socket
import struct
import sys
import termios
import time
import traceback
from typing import NoReturn

from berth.containers.jsonlog import JsonLogWriter, timestamp

from . import attach, channel, init, state, syscalls
from .cgroups import Cgroups

PR_SET_NAME = 15
_DRAIN_IDLE_MS = 100  # after the init exits, stop reading once output has been quiet this long
_FIRST_CLIENT_WAIT = 5.0  # an exec's output is kept this long for an attacher that has not connected yet


class SetupFailed(Exception):
    """The container or exec could not be created; ``reply`` is what the daemon gets."""

    def __init__(self, reply: dict):
        super().__init__(reply.get("error") or reply.get("exec_error"))
        self.reply = reply


class Monitor:
    """Stdio, sockets and exit bookkeeping for one container or exec."""

    def __init__(self, directory: str, io: dict, record: dict, hold_output: bool = False):
        self.directory = directory
        self.tty = bool(io.get("tty"))
        self.open_stdin = bool(io.get("open_stdin"))
        self.log = JsonLogWriter(io["log_path"]) if io.get("log_path") else None
        self.attach_path: str | None = io.get("attach_socket")
        self.record = record
        self.cgroups: Cgroups | None = None
        self.outputs: dict[int, str] = {}
        self.child_ends: list[int] = []
        self.stdin_fd = -1
        self.stdin_buf = bytearray()
        self.stdin_eof = False
        self.master = -1
        self.clients: list[attach.AttachClient] = []
        # An exec's attacher connects right after exec_exec returns: keep output for it until then.
        self.held: bytearray | None = bytearray() if hold_output and self.attach_path else None
        self.ctl: socket.socket | None = None
        self.attach_sock: socket.socket | None = None
        self.chan: socket.socket | None = None
        self.child = 0
        self.pidfd = -1
        self.exit_status: int | None = None

    # -- set-up ------------------------------------------------------------

    def open_listeners(self) -> None:
        """Bind the control and attach sockets before the process can produce anything."""
        self.ctl = channel.listen(os.path.join(self.directory, state.CONTROL_SOCKET))
        if self.attach_path:
            self.attach_sock = channel.listen(self.attach_path, socket.SOCK_STREAM, 0o660)
            self.attach_sock.setblocking(False)

    def make_stdio(self) -> tuple[int, int, int] | None:
        """Pipes for the child's 0/1/2 (None with a tty: the child opens the pty in the container)."""
        if self.tty:
            return None
        if self.open_stdin:
            stdin, self.stdin_fd = os.pipe()
            os.set_blocking(self.stdin_fd, False)
        else:
            stdin = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        for fd in (out_r, err_r):
            os.set_blocking(fd, False)
        self.outputs = {out_r: "stdout", err_r: "stderr"}
        self.child_ends = [stdin, out_w, err_w]
        return stdin, out_w, err_w

    def close_child_ends(self) -> None:
        for fd in self.child_ends:
            os.close(fd)
        self.child_ends = []

    def adopt_master(self, fds: list[int]) -> None:
        """The child opened the pty inside the container and sent us its master."""
        if not self.tty or not fds:
            return
        self.master = fds[0]
        os.set_blocking(self.master, False)
        self.outputs = {self.master: "stdout"}
        if self.open_stdin:
            self.stdin_fd = self.master

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
        self.child = pid
        self.pidfd = os.pidfd_open(pid)
        self.record["pid"] = pid
        self.record["pid_start"] = state.start_time(pid)

    def await_ready(self) -> None:
        """Wait for the child's set-up; its failure becomes SetupFailed after it is reaped."""
        message, fds = channel.recv(self.chan)
        if message and message.get("ready"):
            self.adopt_master(fds)
            return
        self.reap(block=True)
        if message and "exec_error" in message:
            raise SetupFailed({"ok": False, "exec_error": message["exec_error"], "exit_code": message["exit_code"]})
        detail = (message or {}).get("error") or f"the container's init exited ({self._exit_code()}) during set-up"
        raise SetupFailed({"ok": False, "error": detail})

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

    def save(self) -> None:
        state.write_state(self.directory, self.record)

    # -- the loop ------------------------------------------------------------

    def serve(self) -> None:
        """Relay output/input and answer control requests until the process has exited and drained."""
        drain_deadline = None
        while True:
            if self.exit_status is not None:
                if not self.outputs:
                    break
                if drain_deadline is None:
                    drain_deadline = time.monotonic() + _DRAIN_IDLE_MS / 1000
            poller = select.poll()
            handlers = {}

            def watch(fd, events, handler):
                poller.register(fd, events)
                handlers[fd] = handler

            if self.pidfd >= 0 and self.exit_status is None:
                watch(self.pidfd, select.POLLIN, lambda ev: self.reap(block=False))
            for fd, stream in list(self.outputs.items()):
                watch(fd, select.POLLIN, lambda ev, fd=fd, stream=stream: self.on_output(fd, stream))
            if self.ctl is not None:
                watch(self.ctl.fileno(), select.POLLIN, lambda ev: self.on_control())
            if self.attach_sock is not None:
                watch(self.attach_sock.fileno(), select.POLLIN, lambda ev: self.on_attach())
            for client in self.clients:
                events = (select.POLLIN if client.reading else 0) | (select.POLLOUT if client.pending else 0)
                watch(client.fileno(), events or select.POLLHUP, lambda ev, c=client: self.on_client(c, ev))
            if self.stdin_buf and self.stdin_fd >= 0:
                watch(self.stdin_fd, select.POLLOUT, lambda ev: self.flush_stdin())
            timeout = None
            if drain_deadline is not None:
                timeout = max(0, int((drain_deadline - time.monotonic()) * 1000))
            ready = poller.poll(timeout)
            if not ready and drain_deadline is not None:
                break
            for fd, ev in ready:
                handler = handlers.get(fd)
                if handler is not None:
                    handler(ev)
            if ready and drain_deadline is not None:
                drain_deadline = time.monotonic() + _DRAIN_IDLE_MS / 1000

    def reap(self, block: bool) -> None:
        if self.exit_status is not None:
            return
        pid, status = os.waitpid(self.child, 0 if block else os.WNOHANG)
        if pid:
            self.exit_status = status
            if self.pidfd >= 0:
                os.close(self.pidfd)
                self.pidfd = -1

    def on_output(self, fd: int, stream: str) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:  # EIO: the pty's last slave closed, i.e. EOF
                raise
            data = b""
        if not data:
            del self.outputs[fd]
            if fd != self.master:
                os.close(fd)
            return
        if self.log is not None:
            self.log.write(stream, data)
        payload = data if self.tty else attach.frame(attach.STDOUT if stream == "stdout" else attach.STDERR, data)
        if self.held is not None:
            self.held += payload
            if len(self.held) > attach.MAX_BACKLOG:
                del self.held[: len(self.held) - attach.MAX_BACKLOG]
        for client in list(self.clients):
            if not client.queue(payload) or not client.flush():
                self.drop(client)

    def on_attach(self) -> None:
        try:
            sock, _ = self.attach_sock.accept()
        except BlockingIOError:
            return
        client = attach.AttachClient(sock)
        if self.held is not None:
            client.queue(bytes(self.held))
            self.held = None
        if not self.open_stdin:
            client.reading = True  # still read, to notice the client hanging up
        self.clients.append(client)
        if not client.flush():
            self.drop(client)

    def on_client(self, client: attach.AttachClient, events: int) -> None:
        if events & select.POLLOUT and not client.flush():
            self.drop(client)
            return
        if events & (select.POLLIN | select.POLLHUP | select.POLLERR) and client.reading:
            try:
                data = client.sock.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if data:
                if self.open_stdin and self.stdin_fd >= 0 and not self.stdin_eof:
                    self.stdin_buf += data
                    self.flush_stdin()
                return
            client.reading = False
            if self.open_stdin and not self.tty:
                self.stdin_eof = True  # Docker's StdinOnce: the attacher's EOF closes the container's stdin
                self.flush_stdin()
            if not client.pending and self.exit_status is not None:
                self.drop(client)
        elif events & (select.POLLHUP | select.POLLERR) and not client.reading:
            self.drop(client)

    def flush_stdin(self) -> None:
        try:
            while self.stdin_buf:
                written = os.write(self.stdin_fd, self.stdin_buf)
                del self.stdin_buf[:written]
        except BlockingIOError:
            return
        except OSError:  # the container closed its stdin: drop what it will never read
            self.stdin_buf.clear()
            self.stdin_eof = True
        if self.stdin_eof and not self.stdin_buf and self.stdin_fd >= 0 and self.stdin_fd != self.master:
            os.close(self.stdin_fd)
            self.stdin_fd = -1

    def drop(self, client: attach.AttachClient) -> None:
        if client in self.clients:
            self.clients.remove(client)
        client.close()

    def on_control(self) -> None:
        try:
            conn, _ = self.ctl.accept()
        except BlockingIOError:
            return
        with conn:
            conn.settimeout(5)
            try:
                message, _ = channel.recv(conn)
            except OSError:
                return
            if not message:
                return
            op = message.get("op")
            if op == "start":
                reply = self.start()
            elif op == "resize":
                reply = self.resize(int(message["height"]), int(message["width"]))
            else:
                reply = {"ok": False, "error": f"unknown control operation {op!r}"}
            ended = op == "start" and self.exit_status is not None
            if ended:
                # The init is gone: record its exit before answering, so the caller sees it STOPPED.
                self.finish()
            try:
                channel.send(conn, reply)
            except OSError:
                pass
            if ended:
                self.exit_now()

    def start(self) -> dict:
        if self.record["status"] != "created" or self.chan is None:
            return {"ok": False, "conflict": True, "error": f"container is {self.record['status']}, not created"}
        try:
            channel.send(self.chan, {"start": True})
        except OSError:
            pass  # the init died while waiting; await_exec reports it
        failure = self.await_exec()
        if failure is not None:
            return failure
        self.record["status"] = "running"
        self.record["started_at"] = timestamp()
        self.save()
        return {"ok": True, "state": self.record}

    def resize(self, height: int, width: int) -> dict:
        if self.master < 0:
            return {"ok": False, "conflict": True, "error": "no tty was allocated for this process"}
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        return {"ok": True}

    # -- the end -------------------------------------------------------------

    def _exit_code(self) -> int:
        if self.exit_status is None:
            return 255
        code = os.waitstatus_to_exitcode(self.exit_status)
        return 128 - code if code < 0 else code

    def finish(self) -> None:
        """Record the exit status (atomically), then let attach clients go."""
        if self.log is not None:
            self.log.close()
            self.log = None
        self.record.update(status="stopped", exit_code=self._exit_code(), finished_at=timestamp())
        if self.cgroups is not None:
            try:
                self.record["oom_killed"] = self.cgroups.oom_killed()
            except OSError:
                pass
        self.save()
        if self.held and self.attach_sock is not None and not self.clients:
            self._wait_for_first_client()
        deadline = time.monotonic() + 1.0
        for client in list(self.clients):
            client.sock.setblocking(True)
            client.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                client.sock.sendall(client.pending)
            except OSError:
                pass
            self.drop(client)
        for path in (os.path.join(self.directory, state.CONTROL_SOCKET), self.attach_path):
            if path:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass

    def _wait_for_first_client(self) -> None:
        ready, _, _ = select.select([self.attach_sock], [], [], _FIRST_CLIENT_WAIT)
        if ready:
            self.on_attach()

    def exit_now(self) -> NoReturn:
        sys.stderr.flush()
        os._exit(0)


# ---------------------------------------------------------------------------
# entry points (called in the fork server's grandchild)
# ---------------------------------------------------------------------------


def _detach_stdio(directory: str, name: str) -> None:
    """The monitor's own fds 0/1/2: nothing in, diagnostics to a file in its state dir."""
    null = os.open("/dev/null", os.O_RDWR)
    log = os.open(os.path.join(directory, state.MONITOR_LOG), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)
    try:
        syscalls.prctl(PR_SET_NAME, int.from_bytes(name.encode()[:15] + b"\0", "little"))
    except OSError:
        pass


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


def _base_record(request: dict, kind: str) -> dict:
    return {
        "id": request["id"], "kind": kind, "status": "creating", "pid": 0, "pid_start": None,
        "monitor_pid": os.getpid(), "monitor_start": state.start_time(os.getpid()),
        "exit_code": None, "oom_killed": False, "started_at": "", "finished_at": "",
        "created_at": timestamp(), "error": "", "cgroup_path": request.get("cgroup_path"),
        "tty": bool(request["io"].get("tty")), "bundle": request.get("bundle", ""),
    }


def run_container(request: dict, reply: socket.socket) -> NoReturn:
    """Monitor of a new container: create it, answer the daemon, then supervise until it exits."""
    directory = request["dir"]
    _detach_stdio(directory, "berth-monitor")
    spec = request["spec"]
    io = dict(request["io"], tty=bool(request["io"].get("tty") or (spec.get("process") or {}).get("terminal")))
    mon = Monitor(directory, io, _base_record(request, "container"))
    cgroups = Cgroups(request["cgroup_path"])
    mon.cgroups = cgroups
    try:
        try:
            cgroups.create()
            cgroups.apply((spec.get("linux") or {}).get("resources"))
            mon.open_listeners()
            _enter_pid_namespace(spec)
        except Exception as exc:
            raise SetupFailed({"ok": False, "error": f"preparing the container: {exc}"}) from exc

        def child(chan, stdio):
            reply.close()
            init.container_init(init.InitContext(spec, chan, cgroups, stdio, mon.tty))

        mon.fork_child(child)
        mon.await_ready()
        mon.record["status"] = "created"
        mon.save()
        channel.send(reply, {"ok": True, "state": mon.record})
        reply.close()
        mon.serve()
        mon.finish()
    except SetupFailed as failed:
        _abort(mon, cgroups, reply, failed.reply)
    except BaseException:
        traceback.print_exc()
        _abort(mon, cgroups, reply, {"ok": False, "error": f"monitor failed: {sys.exc_info()[1]}"})
    mon.exit_now()


def _abort(mon: Monitor, cgroups: Cgroups | None, reply: socket.socket, message: dict) -> NoReturn:
    """Creation failed: kill what exists, remove our cgroups and sockets, tell the daemon why."""
    if mon.child and mon.exit_status is None:
        try:
            os.kill(mon.child, 9)
        except ProcessLookupError:
            pass
        mon.reap(block=True)
    if cgroups is not None:
        try:
            cgroups.destroy()
        except OSError:
            traceback.print_exc()
    for path in (os.path.join(mon.directory, state.CONTROL_SOCKET), mon.attach_path):
        if path and os.path.exists(path):
            os.unlink(path)
    try:
        channel.send(reply, message)
    except OSError:
        pass
    sys.stderr.flush()
    os._exit(1)


def run_exec(request: dict, reply: socket.socket) -> NoReturn:
    """Monitor of one exec: start the process in the container, answer, supervise until it exits."""
    directory = request["dir"]
    _detach_stdio(directory, "berth-exec-mon")
    container = request["container"]  # the container's state record
    mon = Monitor(directory, request["io"], _base_record(request, "exec"), hold_output=True)
    cgroups = Cgroups(container["cgroup_path"]) if container.get("cgroup_path") else None
    init_pid = container["pid"]
    try:
        try:
            if not state.is_alive(init_pid, container.get("pid_start")):
                raise SetupFailed({"ok": False, "conflict": True, "error": "the container is not running"})
            mon.open_listeners()
            _enter_pid_namespace({"linux": {"namespaces": [{"type": "pid", "path": f"/proc/{init_pid}/ns/pid"}]}})
        except OSError as exc:
            raise SetupFailed({"ok": False, "error": f"preparing the exec: {exc}"}) from exc

        def child(chan, stdio):
            reply.close()
            ctx = init.InitContext(request["spec"], chan, cgroups, stdio, mon.tty, process=request["process"])
            init.exec_init(ctx, init_pid)

        mon.fork_child(child)
        mon.await_ready()
        failure = mon.await_exec()
        if failure is not None:
            mon.finish()
            channel.send(reply, failure)
            mon.exit_now()
        mon.record.update(status="running", started_at=timestamp())
        mon.save()
        channel.send(reply, {"ok": True, "state": mon.record})
        reply.close()
        mon.serve()
        mon.finish()
    except SetupFailed as failed:
        if "exec_error" in failed.reply:
            mon.finish()
            channel.send(reply, failed.reply)
            mon.exit_now()
        _abort(mon, None, reply, failed.reply)
    except BaseException:
        traceback.print_exc()
        _abort(mon, None, reply, {"ok": False, "error": f"exec monitor failed: {sys.exc_info()[1]}"})
    mon.exit_now()
