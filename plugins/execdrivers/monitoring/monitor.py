"""The Monitor: one small process per container (and per exec) that outlives the daemon.

It owns the process's stdio (pipes, or the pty master), appends output to the
log (in the format, and rotated as, the IOConfig says) and copies it to attach clients, feeds their input to stdin,
serves a control socket (``start``, ``resize``), and when the process exits,
drains the output, records the exit status atomically in ``state.json`` and
exits. How the process comes to exist is the driver's business: a subclass
implements :meth:`Monitor.start_process` (native: signal the waiting init; oci:
``runc start``) and hands the process to :meth:`Monitor.adopt` (which needs it to
be our child: forked by us, or reparented to us as a subreaper).
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
from typing import NoReturn, Protocol

from berth.driverkit import log_timestamp, open_log_writer

from . import attach, channel, state

PR_SET_NAME = 15
PR_SET_CHILD_SUBREAPER = 36
_DRAIN_IDLE_MS = 100  # after the process exits, stop reading once output has been quiet this long
_FIRST_CLIENT_WAIT = 5.0  # an exec's output is kept this long for an attacher that has not connected yet


class OomSource(Protocol):
    """Anything that can tell whether the kernel's OOM killer hit the container (its cgroups)."""

    def oom_killed(self) -> bool: ...

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
        self.log = open_log_writer(io)
        self.attach_path: str | None = io.get("attach_socket")
        self.record = record
        self.cgroups: OomSource | None = None  # read at the exit, before anyone removes the cgroup
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
        """Take the pty master (opened inside the container and passed to us) as the process's stdio."""
        if not self.tty or not fds:
            return
        self.master = fds[0]
        os.set_blocking(self.master, False)
        self.outputs = {self.master: "stdout"}
        if self.open_stdin:
            self.stdin_fd = self.master

    def adopt(self, pid: int) -> None:
        """Supervise ``pid``, which must be our child (forked by us, or reparented to us as a subreaper)."""
        self.child = pid
        self.pidfd = os.pidfd_open(pid)
        self.record["pid"] = pid
        self.record["pid_start"] = state.start_time(pid)

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
        if self.record["status"] != "created":
            return {"ok": False, "conflict": True, "error": f"container is {self.record['status']}, not created"}
        failure = self.start_process()
        if failure is not None:
            return failure
        self.record["status"] = "running"
        self.record["started_at"] = log_timestamp()
        self.save()
        return {"ok": True, "state": self.record}

    def start_process(self) -> dict | None:
        """Let the created process run; None on success, else the reply for the daemon (sets ``record['error']``)."""
        raise NotImplementedError

    def resize(self, height: int, width: int) -> dict:
        if self.master < 0:  # no pty, nothing to resize: a success, as containerd's shim answers dockerd
            return {"ok": True}
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        return {"ok": True}

    # -- the end -------------------------------------------------------------

    def _exit_code(self) -> int:
        if self.exit_status is None:
            return 255
        code = os.waitstatus_to_exitcode(self.exit_status)
        return 128 - code if code < 0 else code

    def finish(self, attacher_expected: bool = True) -> None:
        """Record the exit status (atomically), then let attach clients go.

        ``attacher_expected`` False: the exec could not run, and the daemon, told so in the
        reply, will not attach; waiting for it would only delay the error.
        """
        if self.log is not None:
            self.log.close()
            self.log = None
        self.record.update(status="stopped", exit_code=self._exit_code(), finished_at=log_timestamp())
        if self.cgroups is not None:
            try:
                # Only a SIGKILL can be the OOM killer's; a clean exit after a failed allocation is not "OOMKilled".
                self.record["oom_killed"] = self.record["exit_code"] == 137 and self.cgroups.oom_killed()
            except OSError:
                pass
        self.save()
        # an exec with no output yet still waits: its attacher must see the end of the stream
        if attacher_expected and self.held is not None and self.attach_sock is not None and not self.clients:
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

    def kill_child(self) -> None:
        """Kill and reap the process if it still runs (creation failed half-way)."""
        if self.child and self.exit_status is None:
            try:
                os.kill(self.child, 9)
            except ProcessLookupError:
                pass
            self.reap(block=True)

    def abort(self, reply: socket.socket, message: dict) -> NoReturn:
        """Creation failed and the driver cleaned up its part: remove our sockets, tell the daemon why, exit."""
        for path in (os.path.join(self.directory, state.CONTROL_SOCKET), self.attach_path):
            if path and os.path.exists(path):
                os.unlink(path)
        try:
            channel.send(reply, message)
        except OSError:
            pass
        sys.stderr.flush()
        os._exit(1)

    def exit_now(self) -> NoReturn:
        sys.stderr.flush()
        os._exit(0)


# ---------------------------------------------------------------------------
# entry points (called in the fork server's grandchild)
# ---------------------------------------------------------------------------


def detach_stdio(directory: str, name: str) -> None:
    """The monitor's own fds 0/1/2: nothing in, diagnostics to a file in its state dir; ``name`` for ps."""
    null = os.open("/dev/null", os.O_RDWR)
    log = os.open(os.path.join(directory, state.MONITOR_LOG), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)
    try:
        set_process_name(name)
    except OSError:
        pass


def become_subreaper() -> None:
    """Orphans below us (a runtime's container init once ``runc create`` exits) are reparented to us."""
    syscalls_prctl(PR_SET_CHILD_SUBREAPER, 1)


def set_process_name(name: str) -> None:
    """The name ps and top show (15 bytes at most)."""
    import ctypes

    buf = ctypes.create_string_buffer(name.encode()[:15])
    syscalls_prctl(PR_SET_NAME, ctypes.addressof(buf))


def syscalls_prctl(option: int, arg: int) -> None:
    """prctl(2) with one integer argument."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0),
                  ctypes.c_ulong(0)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}) failed: {os.strerror(err)}")


def base_record(request: dict, kind: str) -> dict:
    """A new state record for the container or exec of ``request`` (``kind``: "container" or "exec")."""
    return {
        "id": request["id"], "kind": kind, "status": "creating", "pid": 0, "pid_start": None,
        "monitor_pid": os.getpid(), "monitor_start": state.start_time(os.getpid()),
        "exit_code": None, "oom_killed": False, "started_at": "", "finished_at": "",
        "created_at": log_timestamp(), "error": "", "cgroup_path": request.get("cgroup_path"),
        "tty": bool(request["io"].get("tty")), "bundle": request.get("bundle", ""),
    }
