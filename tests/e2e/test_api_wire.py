"""The Engine API on the wire, as Docker's clients see it: raw HTTP over the unix socket."""

from __future__ import annotations

import json
import socket
import struct
import time
import urllib.parse

import pytest


def raw(daemon, request: bytes, read_until_close: bool = True, timeout: float = 20) -> bytes:
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(timeout)
    sock.connect(daemon.socket)
    sock.sendall(request)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
            if not read_until_close and b"\r\n\r\n" in data:
                break
    finally:
        sock.close()
    return data


def http(daemon, method: str, path: str, body: dict | None = None) -> tuple[int, dict, bytes]:
    payload = json.dumps(body).encode() if body is not None else b""
    data = raw(daemon, f"{method} {path} HTTP/1.1\r\nHost: d\r\nConnection: close\r\n"
                       f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode() + payload)
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if headers.get("transfer-encoding") == "chunked":
        body_bytes, buf = b"", rest
        while buf:
            size_line, _, buf = buf.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0:
                break
            body_bytes, buf = body_bytes + buf[:size], buf[size + 2:]
        rest = body_bytes
    return int(lines[0].split()[1]), headers, rest


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_ping_advertises_api_builder_and_os(daemon, method):
    status, headers, body = http(daemon, method, "/_ping")
    assert status == 200
    assert headers["api-version"] == "1.45" and headers["ostype"] == "linux" and "builder-version" in headers
    assert body == (b"OK" if method == "GET" else b"")


@pytest.mark.parametrize("prefix", ["", "/v1.24", "/v1.41", "/v1.45"])
def test_versioned_and_unversioned_paths(daemon, prefix):
    status, _, body = http(daemon, "GET", prefix + "/version")
    assert status == 200 and json.loads(body)["ApiVersion"] == "1.45"


def test_version_outside_the_supported_range_is_refused(daemon):
    status, _, body = http(daemon, "GET", "/v1.99/version")
    assert status == 400 and "too new" in json.loads(body)["message"]
    status, _, body = http(daemon, "GET", "/v1.12/version")
    assert status == 400 and "too old" in json.loads(body)["message"]


def test_unknown_route_is_page_not_found(daemon):
    status, _, body = http(daemon, "GET", "/v1.45/nothing/here")
    assert status == 404 and json.loads(body) == {"message": "page not found"}


def test_a_method_a_route_does_not_take_is_page_not_found_as_in_dockerd(daemon):
    status, _, body = http(daemon, "PUT", "/v1.45/containers/json")
    assert status == 404 and json.loads(body) == {"message": "page not found"}


def test_updating_a_volume_needs_a_swarm(daemon):
    status, _, body = http(daemon, "PUT", "/v1.45/volumes/anything?version=1", {})
    assert (status, json.loads(body)["message"]) == (
        503, "volume update only valid for cluster volumes, but swarm is unavailable")


def test_missing_objects_use_dockers_messages(daemon):
    status, _, body = http(daemon, "GET", "/containers/nope/json")
    assert status == 404 and json.loads(body)["message"] == "No such container: nope"
    status, _, body = http(daemon, "POST", "/containers/create", {"Image": "no-such-image:1"})
    assert status == 404 and json.loads(body)["message"].startswith("No such image: no-such-image:1")


def test_attach_upgrades_and_multiplexes_without_tty(daemon):
    status, _, body = http(daemon, "POST", "/containers/create",
                           {"Image": "busybox", "Cmd": ["sh", "-c", "echo out; echo err >&2"]})
    assert status == 201
    cid = json.loads(body)["Id"]
    try:
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(20)
        sock.connect(daemon.socket)
        sock.sendall(f"POST /v1.45/containers/{cid}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: d\r\n"
                     "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(4096)
        head, _, stream = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        assert b"application/vnd.docker.multiplexed-stream" in head
        assert http(daemon, "POST", f"/containers/{cid}/start")[0] == 204
        while chunk := sock.recv(65536):
            stream += chunk
        sock.close()
        frames = {}
        while stream:
            kind, length = stream[0], struct.unpack(">L", stream[4:8])[0]
            assert stream[1:4] == b"\0\0\0"
            frames.setdefault(kind, b"")
            frames[kind] += stream[8:8 + length]
            stream = stream[8 + length:]
        assert frames == {1: b"out\n", 2: b"err\n"}
    finally:
        http(daemon, "DELETE", f"/containers/{cid}?force=1")


def test_wait_sends_its_headers_before_the_container_exits(daemon):
    status, _, body = http(daemon, "POST", "/containers/create", {"Image": "busybox", "Cmd": ["sleep", "30"]})
    cid = json.loads(body)["Id"]
    try:
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(10)
        sock.connect(daemon.socket)
        sock.sendall(f"POST /containers/{cid}/wait?condition=next-exit HTTP/1.1\r\nHost: d\r\n"
                     "Content-Length: 0\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)  # would time out if the daemon held the headers back
        assert head.startswith(b"HTTP/1.1 200")
        http(daemon, "POST", f"/containers/{cid}/start")
        http(daemon, "POST", f"/containers/{cid}/kill")
        rest = b""
        while b"StatusCode" not in rest:
            rest += sock.recv(4096)
        sock.close()
        assert b'"StatusCode": 137' in rest
    finally:
        http(daemon, "DELETE", f"/containers/{cid}?force=1")


def test_build_prune_answers_for_system_prune(daemon):
    status, _, body = http(daemon, "POST", "/build/prune")
    assert status == 200 and json.loads(body)["SpaceReclaimed"] == 0


def test_streams_are_raw_for_clients_older_than_api_1_42(daemon):
    """dockerd 23+: multiplexed-stream is announced from API 1.42; older clients are told raw-stream."""
    status, _, body = http(daemon, "POST", "/containers/create", {"Image": "busybox", "Cmd": ["echo", "hi"]})
    cid = json.loads(body)["Id"]
    try:
        http(daemon, "POST", f"/containers/{cid}/start")
        http(daemon, "POST", f"/containers/{cid}/wait")
        for version, expected in (("1.41", "application/vnd.docker.raw-stream"),
                                  ("1.42", "application/vnd.docker.multiplexed-stream")):
            status, headers, _ = http(daemon, "GET", f"/v{version}/containers/{cid}/logs?stdout=1")
            assert (status, headers["content-type"]) == (200, expected)
    finally:
        http(daemon, "DELETE", f"/containers/{cid}?force=1")


def events_of(daemon, since: str, until: str, filters: dict) -> list[dict]:
    query = f"since={since}&until={until}&filters={urllib.parse.quote(json.dumps(filters))}"
    _, _, body = http(daemon, "GET", f"/events?{query}")
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def test_resizing_a_container_without_a_tty_succeeds_and_is_an_event(daemon):
    """As dockerd (containerd's shim has nothing to resize and says so with success)."""
    since = str(int(time.time()) - 1)
    status, _, body = http(daemon, "POST", "/containers/create", {"Image": "busybox", "Cmd": ["sleep", "30"]})
    cid = json.loads(body)["Id"]
    try:
        http(daemon, "POST", f"/containers/{cid}/start")
        assert http(daemon, "POST", f"/containers/{cid}/resize?h=30&w=100")[0] == 200
        events = events_of(daemon, since, str(int(time.time()) + 1), {"container": [cid], "event": ["resize"]})
        assert [e["Actor"]["Attributes"]["height"] for e in events] == ["30"]
    finally:
        http(daemon, "DELETE", f"/containers/{cid}?force=1")


def test_config_keeps_onbuild_argsescaped_and_mac_address_as_sent(daemon):
    body = {"Image": "busybox", "Cmd": ["true"], "OnBuild": ["RUN true"], "ArgsEscaped": True,
            "MacAddress": "02:42:ac:11:00:99"}
    status, _, reply = http(daemon, "POST", "/v1.41/containers/create", body)
    cid = json.loads(reply)["Id"]
    try:
        config = json.loads(http(daemon, "GET", f"/v1.41/containers/{cid}/json")[2])["Config"]
        assert (config["OnBuild"], config["ArgsEscaped"], config["MacAddress"]) == (
            ["RUN true"], True, "02:42:ac:11:00:99")
    finally:
        http(daemon, "DELETE", f"/containers/{cid}?force=1")
