"""The real docker CLI's `run --log-driver/--log-opt` and `logs` against berthd, driver by driver; and berthd's
answers to log-driver requests side by side with the real dockerd's (the lab peer)."""

from __future__ import annotations

import os
import uuid

import pytest

from tests.helpers import api
from tests.peers import missing_peer

LINES = "i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); done"
LAB_DOCKER = "/run/lab-docker.sock"


@pytest.fixture
def name(docker_cli):
    made = []

    def make() -> str:
        made.append(f"logs-{uuid.uuid4().hex[:8]}")
        return made[-1]

    yield make
    if made:
        docker_cli("rm", "-f", *made, check=False)


def test_docker_logs_reads_a_rotated_json_file_log(docker_cli, name):
    n = name()
    docker_cli("run", "--name", n, "--log-opt", "max-size=2k", "--log-opt", "max-file=3", "busybox", "sh", "-c", LINES)
    lines = docker_cli.out("logs", n).splitlines()
    first = int(lines[0].split()[1])
    assert first > 0 and lines == [f"line {i}" for i in range(first, 300)]
    assert docker_cli.out("logs", "--tail", "3", n).splitlines() == ["line 297", "line 298", "line 299"]


def test_docker_logs_reads_a_compressed_rotation(docker_cli, name):
    n = name()
    docker_cli("run", "--name", n, "--log-opt", "max-size=1k", "--log-opt", "max-file=4", "--log-opt",
               "compress=true", "busybox", "sh", "-c", LINES)
    assert docker_cli.out("logs", "--tail", "40", n).splitlines() == [f"line {i}" for i in range(260, 300)]


def test_docker_logs_follows_across_rotations(docker_cli, name):
    import subprocess

    from tests.e2e.conftest import DOCKER
    from tests.integration.test_log_drivers import READY_THEN_LINES

    n = name()
    docker_cli("run", "-d", "--name", n, "--log-opt", "max-size=1k", "--log-opt", "max-file=3", "busybox", "sh",
               "-c", READY_THEN_LINES)
    follow = subprocess.Popen([DOCKER, "logs", "-f", n], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=docker_cli.env)
    try:
        assert follow.stdout.readline() == b"ready\n"
        docker_cli("exec", n, "touch", "/tmp/go")
        out, err = follow.communicate(timeout=120)
    finally:
        follow.kill()
    assert follow.returncode == 0, err.decode()
    assert out.decode().splitlines() == [f"line {i}" for i in range(200)]


def test_docker_logs_reads_the_local_driver_with_streams_and_timestamps(docker_cli, name):
    n = name()
    docker_cli("run", "--name", n, "--log-driver", "local", "busybox", "sh", "-c", "echo out; echo err >&2")
    result = docker_cli("logs", "-t", n)
    assert result.stdout.decode().endswith("Z out\n") and result.stderr.decode().endswith("Z err\n")
    assert docker_cli.out("inspect", "-f", "{{json .HostConfig.LogConfig}}", n) == '{"Type":"local","Config":{}}'


def test_docker_logs_of_a_none_container_fails_as_with_dockerd(docker_cli, name):
    n = name()
    assert docker_cli.out("run", "--name", n, "--log-driver", "none", "busybox", "echo", "hi") == "hi"
    result = docker_cli("logs", n, check=False)
    assert result.returncode == 1
    assert result.stderr.decode().strip() == \
        "Error response from daemon: configured logging driver does not support reading"


def test_docker_run_with_an_unknown_driver_fails_at_create(docker_cli):
    result = docker_cli("run", "--rm", "--log-driver", "gelf", "busybox", "true", check=False)
    assert result.returncode == 125
    assert 'Error response from daemon: error looking up logging plugin gelf: plugin "gelf" not found' in \
        result.stderr.decode()


def test_docker_logs_details(docker_cli, name):
    n = name()
    docker_cli("run", "--name", n, "-l", "app=web", "--log-opt", "labels=app", "--log-opt", "tag={{.ID}}",
               "busybox", "echo", "hi")
    cid = docker_cli.out("inspect", "-f", "{{.Id}}", n)
    assert docker_cli.out("logs", "--details", n) == f"app=web,tag={cid[:12]} hi"


# ---------------------------------------------------------------------------
# side by side with the real dockerd
# ---------------------------------------------------------------------------


class _Peer:
    socket = LAB_DOCKER


@pytest.fixture(scope="module")
def dockerd():
    if not os.path.exists(LAB_DOCKER):
        missing_peer(f"the real dockerd is not running: no socket at {LAB_DOCKER}",
                     "start it with bash .ci/peers (or /work/shared/peers/start-dockerd.sh overlay2)")
    try:
        status, _ = api(_Peer, "GET", "/_ping")
    except OSError as exc:
        missing_peer(f"the real dockerd at {LAB_DOCKER} does not answer: {exc}", "restart it with bash .ci/peers")
    assert status == 200
    return _Peer


def _create(daemon, log_config) -> tuple[int, object]:
    status, body = api(daemon, "POST", "/v1.41/containers/create",
                       {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"LogConfig": log_config}})
    if status == 201:
        api(daemon, "DELETE", f"/v1.41/containers/{body['Id']}?force=1")
        body = "created"
    return status, body


LOG_CONFIGS = [
    {"Type": "bogus"},
    {"Type": "syslog-ng"},
    {"Type": "JSON-FILE"},
    {"Type": "bogus", "Config": {"mode": "x"}},
    {"Type": "json-file", "Config": {"bogus": "1"}},
    {"Type": "local", "Config": {"bogus": "1"}},
    {"Type": "local", "Config": {"labels": "a"}},
    {"Type": "json-file", "Config": {"mode": "bogus"}},
    {"Type": "json-file", "Config": {"mode": "blocking", "max-buffer-size": "1m"}},
    {"Type": "json-file", "Config": {"mode": "non-blocking", "max-buffer-size": "x"}},
    {"Type": "json-file", "Config": {"cache-disabled": "x"}},
    {"Type": "json-file", "Config": {"max-size": "abc", "labels": "a", "tag": "x", "mode": "non-blocking"}},
    {"Type": "local", "Config": {"max-size": "abc", "compress": "maybe"}},
    {"Type": "none", "Config": {"bogus": "x"}},
    {"Type": "", "Config": {"max-size": "1k"}},
    {"Type": "json-file", "Config": None},
    {"Type": "syslog", "Config": {"bogus": "1"}},
    {"Type": "syslog", "Config": {"syslog-address": "nope"}},
    {"Type": "syslog", "Config": {"syslog-address": "unix:///no/such/socket"}},
    {"Type": "syslog", "Config": {"syslog-address": "udp://127.0.0.1:1:2"}},
    {"Type": "syslog", "Config": {"syslog-facility": "24"}},
    {"Type": "syslog", "Config": {"syslog-format": "json"}},
]


@pytest.mark.parametrize("log_config", LOG_CONFIGS, ids=lambda c: str(c))
def test_create_answers_as_dockerd(daemon, dockerd, log_config):
    assert _create(daemon, log_config) == _create(dockerd, log_config)


@pytest.mark.parametrize("options", [
    {"max-size": "abc"}, {"max-size": "1k", "max-file": "0"}, {"compress": "maybe"}, {"compress": "true"},
    {"max-size": "1k", "max-file": "x"}, {"tag": "{{.Nope}}"},
])
def test_a_bad_value_fails_the_start_with_dockerds_message(daemon, dockerd, options):
    """dockerd answers 500 for these; berthd 400 (bad input is never a 500 in berth). The message is the same."""
    answers = []
    for peer in (daemon, dockerd):
        status, body = api(peer, "POST", "/v1.41/containers/create",
                           {"Image": "busybox", "Cmd": ["true"],
                            "HostConfig": {"LogConfig": {"Type": "json-file", "Config": options}}})
        assert status == 201, body
        try:
            answers.append(api(peer, "POST", f"/v1.41/containers/{body['Id']}/start")[1])
            state = api(peer, "GET", f"/v1.41/containers/{body['Id']}/json")[1]["State"]
            answers.append((state["Status"], state["ExitCode"], state["Error"]))
        finally:
            api(peer, "DELETE", f"/v1.41/containers/{body['Id']}?force=1")
    assert answers[:2] == answers[2:]


def test_logs_of_a_none_container_answers_as_dockerd(daemon, dockerd):
    answers = []
    for peer in (daemon, dockerd):
        status, body = api(peer, "POST", "/v1.41/containers/create",
                           {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"LogConfig": {"Type": "none"}}})
        assert status == 201, body
        try:
            answers.append(api(peer, "GET", f"/v1.41/containers/{body['Id']}/logs?stdout=1&stderr=1"))
            answers.append(api(peer, "GET", f"/v1.41/containers/{body['Id']}/logs?stdout=1&follow=1"))
            answers.append(api(peer, "GET", f"/v1.41/containers/{body['Id']}/json")[1]["LogPath"])
        finally:
            api(peer, "DELETE", f"/v1.41/containers/{body['Id']}?force=1")
    assert answers[:3] == answers[3:]
    assert answers[0] == (501, {"message": "configured logging driver does not support reading"})


def test_inspect_log_config_and_path_match_dockerd(daemon, dockerd):
    """Type filled in at create; LogPath empty until the first start, then the json-file's (local: always empty)."""
    seen = []
    for peer in (daemon, dockerd):
        for driver in ("", "json-file", "local"):
            status, body = api(peer, "POST", "/v1.41/containers/create",
                               {"Image": "busybox", "Cmd": ["true"],
                                "HostConfig": {"LogConfig": {"Type": driver, "Config": {}}}})
            assert status == 201, body
            cid = body["Id"]
            try:
                before = api(peer, "GET", f"/v1.41/containers/{cid}/json")[1]
                api(peer, "POST", f"/v1.41/containers/{cid}/start")
                api(peer, "POST", f"/v1.41/containers/{cid}/wait")
                after = api(peer, "GET", f"/v1.41/containers/{cid}/json")[1]
                seen.append((before["HostConfig"]["LogConfig"], before["LogPath"],
                             after["LogPath"].endswith(f"/{cid}/{cid}-json.log") or after["LogPath"]))
            finally:
                api(peer, "DELETE", f"/v1.41/containers/{cid}?force=1")
    assert seen[:3] == seen[3:]



def _attach_logs(peer, cid: str) -> bytes:
    """``attach?logs=1&stream=0`` over an upgraded connection: the bytes after the 101 head, to the end."""
    import socket

    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(30)
        s.connect(peer.socket)
        s.sendall(f"POST /v1.41/containers/{cid}/attach?logs=1&stream=0&stdout=1&stderr=1 HTTP/1.1\r\n"
                  "Host: d\r\nUpgrade: tcp\r\nConnection: Upgrade\r\nContent-Length: 0\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return body


@pytest.mark.parametrize("driver", ["json-file", "local", "none"])
def test_attach_with_logs_replays_as_dockerd(daemon, dockerd, driver):
    answers = []
    for peer in (daemon, dockerd):
        status, body = api(peer, "POST", "/v1.41/containers/create",
                           {"Image": "busybox", "Cmd": ["sh", "-c", "echo out; sleep 0.2; echo err >&2"],
                            "HostConfig": {"LogConfig": {"Type": driver}}})
        assert status == 201, body
        try:
            api(peer, "POST", f"/v1.41/containers/{body['Id']}/start")
            api(peer, "POST", f"/v1.41/containers/{body['Id']}/wait")
            answers.append(_attach_logs(peer, body["Id"]))
        finally:
            api(peer, "DELETE", f"/v1.41/containers/{body['Id']}?force=1")
    assert answers[0] == answers[1]


@pytest.fixture
def syslog_socket(tmp_path):
    """A unixgram socket both daemons can send to (a path socket is reachable from dockerd's netns too)."""
    import socket

    path = str(tmp_path / "syslog.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    os.chmod(path, 0o666)
    sock.settimeout(15)
    yield path, sock
    sock.close()


@pytest.mark.parametrize("fmt", ["", "rfc3164", "rfc5424", "rfc5424micro"])
def test_syslog_messages_have_dockerds_shape(daemon, dockerd, syslog_socket, fmt):
    """The same container on both daemons: the same messages but for the time and the sender's pid."""
    import re

    path, sock = syslog_socket
    messages = []
    for peer in (daemon, dockerd):
        status, body = api(peer, "POST", "/v1.41/containers/create", {
            "Image": "busybox", "Cmd": ["sh", "-c", "echo out; echo; printf partial"],
            "HostConfig": {"LogConfig": {"Type": "syslog", "Config": {
                "syslog-address": f"unixgram://{path}", "syslog-format": fmt, "syslog-facility": "local3",
                "tag": "{{.ImageName}}"}}}})
        assert status == 201, body
        try:
            api(peer, "POST", f"/v1.41/containers/{body['Id']}/start")
            api(peer, "POST", f"/v1.41/containers/{body['Id']}/wait")
            messages.append(sorted(sock.recv(65536) for _ in range(2)))
        finally:
            api(peer, "DELETE", f"/v1.41/containers/{body['Id']}?force=1")

    def normal(msg: bytes) -> bytes:
        msg = re.sub(rb"\w{3} [ \d]\d \d\d:\d\d:\d\d", b"STAMP", msg)
        msg = re.sub(rb"\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)", b"TIME", msg)
        return re.sub(rb"\[\d+\]|(?<= busybox )\d+(?= busybox)", b"PID", msg)

    assert [normal(m) for m in messages[0]] == [normal(m) for m in messages[1]]


def test_docker_logs_reads_a_syslog_containers_cache(docker_cli, name, syslog_socket):
    path, sock = syslog_socket
    n = name()
    docker_cli("run", "--name", n, "--log-driver", "syslog", "--log-opt", f"syslog-address=unixgram://{path}",
               "busybox", "sh", "-c", "echo out; echo err >&2")
    result = docker_cli("logs", n)
    assert (result.stdout, result.stderr) == (b"out\n", b"err\n")
