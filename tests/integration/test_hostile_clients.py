"""Clients that misbehave at the HTTP level: oversized headers and bodies, and slow (slowloris) clients.

berthd's limits (the README's Operations section): request line and headers up to 1 MiB (as
dockerd's Go server), a JSON request body up to :data:`berth.api.server.MAX_JSON_BODY`; streamed
bodies (build contexts, archives, image loads) are not held in memory and have no limit of their
own. A client that sends slowly, or stops half-way, holds only its own connection: everyone else
is served as before.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time

from berth.api.server import MAX_JSON_BODY
from tests.helpers import api


def raw_exchange(daemon, request: bytes, timeout: float = 20) -> bytes:
    """Send ``request`` as it is on a fresh connection; everything the daemon answers until it closes."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(daemon.socket)
        try:
            sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon may refuse (and close) before the whole request is sent
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
        return b"".join(chunks)


@contextlib.contextmanager
def container(daemon, name: str, cmd: list[str], start: bool = True):
    """A busybox container ``name`` running ``cmd`` (no network) for the block; removed after it."""
    status, body = api(daemon, "POST", f"/containers/create?name={name}",
                       {"Image": "busybox", "Cmd": cmd, "HostConfig": {"NetworkMode": "none"}})
    assert status == 201, body
    try:
        if start:
            assert api(daemon, "POST", f"/containers/{name}/start")[0] == 204
        yield name
    finally:
        api(daemon, "DELETE", f"/containers/{name}?force=1")


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def ping_time(daemon) -> float:
    started = time.monotonic()
    status, _ = api(daemon, "GET", "/_ping")
    assert status == 200
    return time.monotonic() - started


def test_headers_over_one_mib_are_refused_with_a_4xx_and_the_daemon_serves_on(daemon):
    answer = raw_exchange(daemon, b"GET /_ping HTTP/1.1\r\nHost: d\r\nX-Big: " + b"a" * (1 << 21) + b"\r\n\r\n")
    assert 400 <= status_of(answer) < 500, answer[:300]
    assert b"Traceback" not in answer
    assert ping_time(daemon) < 2


def test_headers_under_one_mib_are_accepted_as_dockerd_accepts_them(daemon):
    # a long X-Registry-Auth (identity tokens) is a real client's header
    status, _ = api(daemon, "GET", "/_ping", headers={"X-Registry-Auth": "a" * 500_000})
    assert status == 200


def test_a_json_body_over_the_limit_is_refused_with_413_in_dockers_error_shape(daemon):
    body = json.dumps({"Image": "busybox", "Env": ["A=" + "x" * MAX_JSON_BODY]}).encode()
    status, answer = api(daemon, "POST", "/containers/create?name=too-big", raw=body)
    assert status == 413, answer
    assert str(MAX_JSON_BODY) in answer["message"]
    assert api(daemon, "GET", "/containers/too-big/json")[0] == 404


def test_a_json_body_under_the_limit_is_read_whole(daemon):
    body = {"Image": "busybox", "Cmd": ["true"], "Env": ["A=" + "x" * 4_000_000]}
    status, answer = api(daemon, "POST", "/containers/create?name=large-env", body)
    try:
        assert status == 201, answer
    finally:
        api(daemon, "DELETE", "/containers/large-env?force=1")


def test_many_clients_stalled_mid_headers_do_not_block_others(daemon):
    stalled = []
    try:
        for _ in range(200):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(daemon.socket)
            sock.sendall(b"GET /containers/json HTTP/1.1\r\nHost: d\r\nX-Slow: ")  # and nothing more
            stalled.append(sock)
        assert ping_time(daemon) < 2
        started = time.monotonic()
        assert api(daemon, "GET", "/containers/json?all=1")[0] == 200
        assert time.monotonic() - started < 2
    finally:
        for sock in stalled:
            sock.close()


def test_a_client_trickling_its_body_does_not_block_others(daemon):
    body = json.dumps({"Image": "busybox", "Cmd": ["true"]}).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as slow:
        slow.settimeout(20)
        slow.connect(daemon.socket)
        slow.sendall(b"POST /containers/create?name=trickled HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        for byte in body[:-1]:
            slow.sendall(bytes([byte]))
            assert ping_time(daemon) < 2  # served while the slow body is still coming
        slow.sendall(body[-1:])
        answer = slow.recv(65536)
    try:
        assert status_of(answer) == 201, answer
    finally:
        api(daemon, "DELETE", "/containers/trickled?force=1")


def test_a_client_that_stops_reading_a_stream_does_not_block_others(daemon):
    with container(daemon, "chatty", ["sh", "-c", "while :; do echo 0123456789abcdef; done"]), \
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as reader:
        reader.connect(daemon.socket)
        reader.sendall(b"GET /containers/chatty/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: d\r\n\r\n")
        time.sleep(2)  # the socket buffers fill: berthd's writes to this client now wait
        for _ in range(5):
            assert ping_time(daemon) < 2


def test_clients_that_drop_their_streams_leave_no_error_in_the_log(daemon):
    with container(daemon, "watched", ["sleep", "60"]), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as watcher:
        watcher.connect(daemon.socket)
        watcher.sendall(b"GET /containers/watched/stats HTTP/1.1\r\nHost: d\r\n\r\n")
        assert watcher.recv(65536).startswith(b"HTTP/1.1 200")
        watcher.close()
        time.sleep(2.5)  # the next sample is written to the closed connection
        assert ping_time(daemon) < 2
    assert "Traceback" not in daemon.log()  # nor did the logs stream dropped by the test above


def test_a_missing_path_with_control_characters_is_a_404_whose_header_escapes_them(daemon):
    with container(daemon, "stat-me", ["true"], start=False):
        answer = raw_exchange(daemon, b"HEAD /containers/stat-me/archive?path=/a%0D%0Ab%11 HTTP/1.1\r\nHost: d\r\n"
                                      b"Connection: close\r\n\r\n")
    assert status_of(answer) == 404, answer
    assert b"/a\\x0d\\x0ab\\x11" in answer


def test_the_api_socket_queues_as_many_connections_as_the_kernel_allows(daemon):
    # as Go's net.Listen (dockerd): a burst of clients waits in the accept queue instead of failing
    listening = subprocess.run(["ss", "-xlH"], capture_output=True, text=True, check=True).stdout
    queue = next(line.split()[3] for line in listening.splitlines() if f" {daemon.socket} " in line)
    with open("/proc/sys/net/core/somaxconn") as f:
        assert int(queue) == max(int(f.read()), socket.SOMAXCONN)
