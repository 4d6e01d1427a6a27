"""The supervisor: one process per container, holding its stdio for as long as it runs.

Started by ``exec_create`` as ``python -m berth_minirunc.supervisor DIR ID RUNC_ROOT REPORT_FD`` in a
session of its own, so it outlives the daemon. In order:

1. become a *child subreaper*, so the container's init (runc's child) is reparented to
   us when ``runc create`` exits, and we can wait for it;
2. open the log writer (berth's SDK writes the log exactly as the IOConfig asks) and
   the attach socket, before the process can print anything;
3. run ``runc create`` with our pipes as the container's stdio; report the init's pid
   (or runc's error) on REPORT_FD, which ``exec_create`` is reading;
4. relay output to the log and to attach clients (Docker's multiplexed frames), and
   what clients send to the container's stdin, until the init has exited and its
   output is drained;
5. close the log, then record the exit status in ``exit.json`` -- in that order, so a
   ``logs`` after ``wait`` sees everything.
"""

from __future__ import annotations

import ctypes
import json
import os
import selectors
import socket
import subprocess
import sys

from berth.driverkit import STDERR, STDOUT, atomic_write, frame, log_timestamp, open_log_writer

PR_SET_CHILD_SUBREAPER = 36
DRAIN_IDLE = 0.2  # seconds without output after the exit before the streams are considered drained


def main(directory: str, container_id: str, runc_root: str, report_fd: int) -> int:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    with open(os.path.join(directory, "io.json"), encoding="utf-8") as f:
        io = json.load(f)
    writer = open_log_writer(io)
    listener = _listen(io.get("attach_socket"))
    stdin_r, stdin_w = os.pipe() if io.get("open_stdin") else (os.open(os.devnull, os.O_RDONLY), -1)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid_file = os.path.join(directory, "pid")
    created = subprocess.run(["runc", "--root", runc_root, "create", "--bundle", os.path.join(directory, "bundle"),
                              "--pid-file", pid_file, container_id], stdin=stdin_r, stdout=out_w, stderr=err_w)
    for fd in (stdin_r, out_w, err_w):
        os.close(fd)
    if created.returncode != 0:  # nothing ran yet: what came on stderr is runc's error
        os.set_blocking(err_r, False)
        _report(report_fd, {"error": _read_available(err_r).decode(errors="replace").strip()})
        return 1
    with open(pid_file, encoding="utf-8") as f:
        pid = int(f.read())
    _report(report_fd, {"pid": pid})
    code = Relay(writer, listener, stdin_w, {out_r: STDOUT, err_r: STDERR}).run(pid)
    if writer is not None:
        writer.close()
    atomic_write(os.path.join(directory, "exit.json"),
                 json.dumps({"exit_code": code, "finished_at": log_timestamp()}).encode(), 0o600)
    return 0


def _listen(path: str | None) -> socket.socket | None:
    if not path:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(16)
    return sock


def _report(fd: int, message: dict) -> None:
    os.write(fd, json.dumps(message).encode() + b"\n")
    os.close(fd)


def _read_available(fd: int) -> bytes:
    data = b""
    try:
        while chunk := os.read(fd, 65536):
            data += chunk
    except BlockingIOError:
        pass
    return data


class Relay:
    """The loop of step 4: output to the log and clients, client input to stdin, the init's exit."""

    def __init__(self, writer, listener, stdin_w: int, outputs: dict[int, int]):
        self.writer, self.listener, self.stdin_w, self.outputs = writer, listener, stdin_w, outputs
        self.clients: list[socket.socket] = []
        self.selector = selectors.DefaultSelector()

    def run(self, pid: int) -> int:
        pidfd = os.pidfd_open(pid)
        self.selector.register(pidfd, selectors.EVENT_READ, "exit")
        for fd in self.outputs:
            self.selector.register(fd, selectors.EVENT_READ, "output")
        if self.listener is not None:
            self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        code = None
        while code is None or self.outputs:
            ready = self.selector.select(DRAIN_IDLE if code is not None else None)
            if not ready:
                break  # exited and quiet: background processes may hold the pipes open forever
            for key, _ in ready:
                if key.data == "exit":
                    code = self._reap(pid, pidfd)
                else:
                    self._dispatch(key)
        for client in self.clients:
            client.close()
        return code

    def _reap(self, pid: int, pidfd: int) -> int:
        self.selector.unregister(pidfd)
        _, status = os.waitpid(pid, 0)  # our child since runc exited: we are its subreaper
        code = os.waitstatus_to_exitcode(status)
        return 128 - code if code < 0 else code

    def _dispatch(self, key) -> None:
        if key.data == "output":
            self._output(key.fd)
        elif key.data == "accept":
            client, _ = self.listener.accept()
            self.clients.append(client)
            self.selector.register(client, selectors.EVENT_READ, "input")
        else:
            self._input(key.fileobj)

    def _output(self, fd: int) -> None:
        data = os.read(fd, 65536)
        if not data:
            self.selector.unregister(fd)
            del self.outputs[fd]
            return
        stream = self.outputs[fd]
        if self.writer is not None:
            self.writer.write("stdout" if stream == STDOUT else "stderr", data)
        for client in list(self.clients):
            try:
                client.sendall(frame(stream, data))
            except OSError:
                self._drop(client)

    def _input(self, client: socket.socket) -> None:
        data = client.recv(65536)
        if data and self.stdin_w >= 0:
            os.write(self.stdin_w, data)
        elif not data:
            self.selector.unregister(client)  # it still receives output
            if self.stdin_w >= 0:  # Docker's StdinOnce: the attacher's EOF closes the container's stdin
                os.close(self.stdin_w)
                self.stdin_w = -1

    def _drop(self, client: socket.socket) -> None:
        self.clients.remove(client)
        try:
            self.selector.unregister(client)
        except KeyError:
            pass
        client.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
