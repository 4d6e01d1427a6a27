"""A client that goes away in the middle of a long request leaves no error in berthd's log."""

from __future__ import annotations

import socket
import time


def test_an_abandoned_wait_logs_no_error(daemon):
    cid = daemon.cli("run", "-d", "busybox", "sleep", "3").stdout.decode().strip()
    assert cid
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(daemon.socket)
    client.sendall(f"POST /v1.41/containers/{cid}/wait HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n\r\n".encode())
    assert client.recv(4096).startswith(b"HTTP/1.1 200")  # the headers come at once, as dockerd sends them
    client.close()  # gone before the container exits
    assert daemon.cli("wait", cid).stdout.decode().strip() == "0"
    time.sleep(0.5)
    log = daemon.log()
    assert "Traceback" not in log and "Error handling request" not in log, log[-3000:]
