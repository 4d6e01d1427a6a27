"""exec with and without a terminal, as docker-py and the docker CLI use it, answered as dockerd does."""

from __future__ import annotations

import json
import socket
import subprocess
import time

import docker
import pytest

from tests.e2e.conftest import DOCKER

SCRIPT = ["sh", "-c", "echo out; echo err >&2; exit 3"]


@pytest.fixture(scope="module")
def box(sdk):
    container = sdk.containers.run("busybox", ["sleep", "1000"], detach=True)
    yield container
    container.remove(force=True)


def test_a_terminal_merges_both_streams_and_the_exit_code_is_kept(box):
    result = box.exec_run(SCRIPT, tty=True)
    assert (result.exit_code, result.output) == (3, b"out\r\nerr\r\n")


def test_a_terminal_demuxed_is_all_stdout(box):
    assert box.exec_run(SCRIPT, tty=True, demux=True).output == (b"out\r\nerr\r\n", None)


def test_a_terminal_streamed_yields_the_raw_output(box):
    result = box.exec_run(SCRIPT, tty=True, stream=True)
    assert b"".join(result.output) == b"out\r\nerr\r\n"


def test_a_terminal_streamed_and_demuxed_yields_stdout_pairs(box):
    chunks = list(box.exec_run(SCRIPT, tty=True, stream=True, demux=True).output)
    assert b"".join(out for out, _ in chunks) == b"out\r\nerr\r\n" and all(err is None for _, err in chunks)


def test_without_a_terminal_demux_separates_the_streams(box):
    result = box.exec_run(SCRIPT, demux=True)
    assert (result.exit_code, result.output) == (3, (b"out\n", b"err\n"))


def _read_all(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def _wait_for(predicate, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_terminal_over_a_hijacked_socket_and_the_exit_code_in_inspect(sdk, box):
    exec_id = sdk.api.exec_create(box.id, ["sh", "-c", "read x; echo got $x; exit 4"], stdin=True, tty=True)["Id"]
    sock = sdk.api.exec_start(exec_id, socket=True, tty=True)._sock
    sock.sendall(b"hello\n")
    assert _read_all(sock) == b"hello\r\ngot hello\r\n"  # the terminal echoes
    sock.close()
    _wait_for(lambda: not sdk.api.exec_inspect(exec_id)["Running"])
    assert sdk.api.exec_inspect(exec_id)["ExitCode"] == 4


def test_exec_inspect_has_dockers_shape_while_created_running_and_done(sdk, box):
    exec_id = sdk.api.exec_create(box.id, ["sleep", "1"], tty=True)["Id"]
    created = sdk.api.exec_inspect(exec_id)
    assert (created["Running"], created["ExitCode"], created["Pid"]) == (False, None, 0)
    assert created["ProcessConfig"] == {"tty": True, "entrypoint": "sleep", "arguments": ["1"], "privileged": False}
    assert (created["OpenStdin"], created["OpenStdout"], created["OpenStderr"]) == (False, True, True)
    assert (created["CanRemove"], created["DetachKeys"], created["ContainerID"]) == (False, "", box.id)
    sdk.api.exec_start(exec_id, detach=True)
    running = sdk.api.exec_inspect(exec_id)
    assert (running["Running"], running["ExitCode"]) == (True, None) and running["Pid"] > 0
    _wait_for(lambda: not sdk.api.exec_inspect(exec_id)["Running"])
    done = sdk.api.exec_inspect(exec_id)
    assert (done["Running"], done["ExitCode"], done["Pid"]) == (False, 0, running["Pid"])


def test_exec_inspect_names_the_user_and_the_detach_keys_as_bytes(sdk, box):
    exec_id = sdk.api.exec_create(box.id, ["id"], user="nobody", privileged=True, detach_keys="ctrl-x,x")["Id"]
    inspected = sdk.api.exec_inspect(exec_id)
    assert inspected["ProcessConfig"]["user"] == "nobody" and inspected["ProcessConfig"]["privileged"] is True
    assert inspected["DetachKeys"] == "GHg="  # base64 of ctrl-x, x (Go marshals the []byte)


def test_an_exec_that_runs_or_ran_cannot_start_again(sdk, box):
    exec_id = sdk.api.exec_create(box.id, ["sleep", "2"])["Id"]
    sdk.api.exec_start(exec_id, detach=True)
    with pytest.raises(docker.errors.APIError) as err:
        sdk.api.exec_start(exec_id, detach=True)
    assert (err.value.status_code, err.value.explanation) == (409, f"Error: Exec command {exec_id} is already running")
    _wait_for(lambda: not sdk.api.exec_inspect(exec_id)["Running"])
    with pytest.raises(docker.errors.APIError) as err:
        sdk.api.exec_start(exec_id, detach=True)
    assert (err.value.status_code, err.value.explanation) == (409, f"Error: Exec command {exec_id} has already run")


def test_detach_keys_from_the_clients_config_end_the_session_and_the_process_goes_on(daemon, box, tmp_path,
                                                                                       monkeypatch):
    (tmp_path / "config.json").write_text(json.dumps({"detachKeys": "ctrl-x,x"}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    client = docker.APIClient(base_url=daemon.host, version="auto", timeout=30)  # reads detachKeys from the config
    try:
        since = time.time()
        exec_id = client.exec_create(box.id, ["sh", "-c", "read x; echo never"], stdin=True, tty=True)["Id"]
        sock = client.exec_start(exec_id, socket=True, tty=True)._sock
        sock.sendall(b"ab\x18x")
        assert b"never" not in _read_all(sock)  # the session ended with the keys; the input before them stays
        assert client.exec_inspect(exec_id)["Running"] is True
        events = client.events(since=since, until=time.time() + 1, decode=True,
                               filters={"container": box.id, "event": "exec_detach"})
        assert [e["Actor"]["Attributes"]["execID"] for e in events] == [exec_id]
    finally:
        client.close()


def test_without_a_terminal_detach_keys_are_plain_input(docker_cli, box, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"detachKeys": "ctrl-x,x"}))
    env = {**docker_cli.env, "DOCKER_CONFIG": str(tmp_path)}
    result = subprocess.run([DOCKER, "exec", "-i", box.id, "sh", "-c", "cat; echo ended"], input=b"abc\n\x18x",
                            capture_output=True, env=env, timeout=30)
    assert result.stdout == b"abc\n\x18xended\n"


def _start_raw(daemon, exec_id: str, start_tty: bool, version: str = "v1.45") -> tuple[str, bytes]:
    """(Content-Type, stream) of an upgraded exec start whose body asks for ``Tty: start_tty``."""
    body = json.dumps({"Detach": False, "Tty": start_tty}).encode()
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(daemon.host[len("unix://"):])
    sock.sendall(f"POST /{version}/exec/{exec_id}/start HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\n"
                 f"Upgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                 + body)
    head, _, stream = _read_all(sock).partition(b"\r\n\r\n")
    content_type = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-type"))
    return content_type.decode(), stream


def test_the_start_decides_the_framing_whatever_the_exec_was_created_with(sdk, daemon, box):
    with_tty = sdk.api.exec_create(box.id, ["echo", "hi"], tty=True)["Id"]
    assert _start_raw(daemon, with_tty, False)[1] == b"\x01\x00\x00\x00\x00\x00\x00\x04hi\r\n"  # a pty's, framed
    without = sdk.api.exec_create(box.id, ["echo", "hi"])["Id"]
    assert _start_raw(daemon, without, True)[1] == b"hi\n"  # no pty, raw


def test_hijacked_streams_are_named_raw_before_api_1_42(sdk, daemon, box):
    old = sdk.api.exec_create(box.id, ["true"])["Id"]
    assert _start_raw(daemon, old, False, "v1.41")[0] == "application/vnd.docker.raw-stream"
    new = sdk.api.exec_create(box.id, ["true"])["Id"]
    assert _start_raw(daemon, new, False, "v1.42")[0] == "application/vnd.docker.multiplexed-stream"


def test_an_exec_that_cannot_start_exits_126_and_says_why_on_stdout(sdk, box):
    result = box.exec_run(["no-such-command"])
    assert result.exit_code == 126  # dockerd's, for a missing command too
    assert b"no-such-command" in result.output and result.output.endswith(b"\r\n")
    framed = sdk.api.exec_create(box.id, ["no-such-command"])["Id"]
    assert sdk.api.exec_start(framed, demux=True)[1] is None  # the reason is on stdout, not stderr


def test_a_detached_exec_that_cannot_start_is_a_400(sdk, box):
    exec_id = sdk.api.exec_create(box.id, ["/etc/passwd"])["Id"]
    with pytest.raises(docker.errors.APIError) as err:
        sdk.api.exec_start(exec_id, detach=True)
    assert err.value.status_code == 400 and "permission denied" in err.value.explanation
    assert sdk.api.exec_inspect(exec_id)["ExitCode"] == 126
