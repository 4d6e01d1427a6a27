"""``POST /containers/{id}/attach`` with ``logs`` and ``stream`` as dockerd answers them."""

from __future__ import annotations

import socket
import threading
import time

import docker
import pytest


def _attach_raw(daemon, container_id: str, query: str, timeout: float = 5.0) -> tuple[str, bytes, bool]:
    """(status line, raw stream, whether it was still open at ``timeout``) of an upgraded attach."""
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(daemon.host[len("unix://"):])
    sock.settimeout(timeout)
    sock.sendall(f"POST /containers/{container_id}/attach?{query} HTTP/1.1\r\nHost: berth\r\n"
                 "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n".encode())
    data, still_open = b"", False
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except socket.timeout:
        still_open = True
    finally:
        sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(), body, still_open


def _frames(raw: bytes) -> list[tuple[int, bytes]]:
    out = []
    while raw:
        size = int.from_bytes(raw[4:8], "big")
        out.append((raw[0], raw[8:8 + size]))
        raw = raw[8 + size:]
    return out


@pytest.fixture
def exited(sdk):
    container = sdk.containers.run("busybox", ["sh", "-c", "echo one; echo two >&2"], detach=True)
    container.wait(timeout=30)
    yield container
    container.remove(force=True)


# The replays are read from the raw socket: docker-py reads the 101 response through a buffer that
# can swallow bytes sent right after it (it does with dockerd), which would make these tests flaky.


def test_logs_without_stream_replays_what_was_logged_and_ends(daemon, exited):
    status, raw, still_open = _attach_raw(daemon, exited.id, "logs=1&stream=0&stdout=1&stderr=1")
    assert status == "HTTP/1.1 101 UPGRADED" and not still_open
    assert sorted(_frames(raw)) == [(1, b"one\n"), (2, b"two\n")]


def test_logs_replay_only_the_wanted_streams(daemon, exited):
    assert _frames(_attach_raw(daemon, exited.id, "logs=1&stdout=1")[1]) == [(1, b"one\n")]


def test_logs_without_stream_on_a_running_container_ends_without_waiting(sdk, daemon):
    container = sdk.containers.run("busybox", ["sh", "-c", "echo early; sleep 1000"], detach=True)
    try:
        time.sleep(0.5)
        status, raw, still_open = _attach_raw(daemon, container.id, "logs=1&stream=0&stdout=1&stderr=1")
        assert status.startswith("HTTP/1.1 101") and not still_open
        assert _frames(raw) == [(1, b"early\n")]
    finally:
        container.remove(force=True)


def test_logs_with_stream_replays_then_follows_until_the_exit(sdk, daemon):
    container = sdk.containers.run("busybox", ["sh", "-c", "echo before; sleep 1; echo after"], detach=True)
    try:
        time.sleep(0.5)
        _, raw, still_open = _attach_raw(daemon, container.id, "logs=1&stream=1&stdout=1", timeout=15)
        assert _frames(raw) == [(1, b"before\n"), (1, b"after\n")] and not still_open
    finally:
        container.remove(force=True)


def test_neither_logs_nor_stream_ends_at_once(daemon, exited):
    status, raw, still_open = _attach_raw(daemon, exited.id, "stdout=1&stderr=1")
    assert status.startswith("HTTP/1.1 101") and raw == b"" and not still_open


def test_a_terminals_replay_is_raw(sdk, daemon):
    container = sdk.containers.run("busybox", ["sh", "-c", "echo term; sleep 1000"], detach=True, tty=True)
    try:
        time.sleep(0.5)
        assert _attach_raw(daemon, container.id, "logs=1&stream=0&stdout=1")[1] == b"term\r\n"
    finally:
        container.remove(force=True)


def test_streaming_from_a_stopped_container_waits_for_its_next_start(sdk, daemon, exited):
    result: list = []
    reader = threading.Thread(target=lambda: result.append(
        _attach_raw(daemon, exited.id, "stream=1&stdout=1&stderr=1", timeout=15)))
    reader.start()
    time.sleep(1)
    assert reader.is_alive()  # nothing to stream yet: the attach waits
    exited.start()
    reader.join(20)
    assert sorted(_frames(result[0][1])) == [(1, b"one\n"), (2, b"two\n")]


def test_attaching_to_a_paused_container_is_dockers_409(sdk):
    container = sdk.containers.run("busybox", ["sleep", "1000"], detach=True)
    try:
        container.pause()
        with pytest.raises(docker.errors.APIError) as err:
            container.attach(logs=True, stream=False)
        assert err.value.status_code == 409
        assert err.value.explanation == f"container {container.id} is paused, unpause the container before attach"
    finally:
        container.remove(force=True)


def test_docker_start_a_prints_the_output(docker_cli):
    docker_cli("create", "--name", "started-attached", "busybox", "echo", "attached")
    try:
        assert docker_cli.out("start", "-a", "started-attached") == "attached"
    finally:
        docker_cli("rm", "-f", "started-attached")


def test_detach_keys_end_an_attach_to_a_terminal_and_the_container_goes_on(sdk, daemon):
    container = sdk.containers.run("busybox", ["cat"], detach=True, tty=True, stdin_open=True)
    try:
        since = time.time()
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(daemon.host[len("unix://"):])
        sock.settimeout(10)
        sock.sendall(f"POST /containers/{container.id}/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-x,x "
                     "HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:  # input goes once the stream is upgraded
            data += sock.recv(65536)
        sock.sendall(b"typed\n\x18x")
        while chunk := sock.recv(65536):  # the daemon ends the session
            data += chunk
        sock.close()
        container.reload()
        assert container.status == "running"
        time.sleep(0.05)
        events = sdk.api.events(since=since, until=time.time(), decode=True, filters={"container": container.id})
        assert [e["Action"] for e in events] == ["attach", "detach"]
    finally:
        container.remove(force=True)


def test_resizing_a_terminal_is_a_resize_event(sdk):
    container = sdk.containers.run("busybox", ["sleep", "1000"], detach=True, tty=True)
    try:
        since = time.time()
        container.resize(height=30, width=100)
        time.sleep(0.05)
        [event] = sdk.api.events(since=since, until=time.time(), decode=True, filters={"container": container.id})
        assert event["Action"] == "resize"
        assert {k: event["Actor"]["Attributes"][k] for k in ("height", "width")} == {"height": "30", "width": "100"}
    finally:
        container.remove(force=True)
