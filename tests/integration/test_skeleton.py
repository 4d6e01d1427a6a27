"""The walking skeleton end to end: berthd, the berth CLI, vfs and native, busybox bootstrapped offline."""

import json
import os
import re
import socket
import stat



def out(result) -> str:
    return result.stdout.decode()


def err(result) -> str:
    return result.stderr.decode()


def test_container_is_pid_1_with_its_own_hostname(daemon):
    result = daemon.cli("run", "--rm", "busybox", "sh", "-c", "echo $$; hostname")
    assert result.returncode == 0, err(result) + daemon.log()
    pid, hostname = out(result).split()
    assert pid == "1"
    assert re.fullmatch(r"[0-9a-f]{12}", hostname)
    assert hostname != socket.gethostname()


def test_exit_code_becomes_berths(daemon):
    assert daemon.cli("run", "--rm", "busybox", "sh", "-c", "exit 3").returncode == 3


def test_failing_command_reports_busybox_error_on_stderr(daemon):
    result = daemon.cli("run", "--rm", "busybox", "ls", "/nonexistent")
    assert result.returncode != 0
    assert "No such file or directory" in err(result)
    assert out(result) == ""


def test_container_sees_its_image_files_and_not_the_hosts(daemon, tmp_path):
    marker = tmp_path / "host-only-marker"
    marker.write_text("host")
    result = daemon.cli("run", "--rm", "busybox", "sh", "-c", f"cat /etc/passwd; ls {marker} 2>&1; ls /bin | wc -l")
    lines = out(result).splitlines()
    assert lines[0].startswith("root:x:0:0:")
    assert any("No such file or directory" in line for line in lines)
    assert int(lines[-1]) > 100  # busybox applets


def test_missing_executable_exits_127_with_docker_message(daemon):
    result = daemon.cli("run", "--rm", "busybox", "no-such-command")
    assert result.returncode == 127
    assert "no-such-command" in err(result) and "not found" in err(result)


def test_env_workdir_and_entrypoint_options(daemon):
    result = daemon.cli("run", "--rm", "-e", "GREETING=hi there", "-w", "/tmp", "--entrypoint", "sh",
                        "busybox", "-c", 'echo "$GREETING"; pwd; echo $PATH')
    assert out(result).splitlines() == ["hi there", "/tmp", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]


def test_stdout_and_stderr_stay_separate(daemon):
    result = daemon.cli("run", "--rm", "busybox", "sh", "-c", "echo to-out; echo to-err >&2")
    assert out(result) == "to-out\n"
    assert err(result) == "to-err\n"


def test_named_container_lifecycle_ps_logs_rm(daemon):
    result = daemon.cli("run", "--name", "skeleton-named", "busybox", "echo", "logged line")
    assert result.returncode == 0
    ps = out(daemon.cli("ps", "-a"))
    assert "skeleton-named" in ps and "Exited (0)" in ps
    assert "skeleton-named" not in out(daemon.cli("ps"))  # not running
    assert out(daemon.cli("logs", "skeleton-named")) == "logged line\n"
    inspect = json.loads(out(daemon.cli("inspect", "skeleton-named")))[0]
    assert inspect["State"]["Status"] == "exited" and inspect["State"]["ExitCode"] == 0
    assert inspect["GraphDriver"]["Name"] == "vfs"
    assert daemon.cli("rm", "skeleton-named").returncode == 0
    assert "skeleton-named" not in out(daemon.cli("ps", "-a"))
    assert daemon.cli("logs", "skeleton-named").returncode != 0


def test_rm_refuses_a_running_container_unless_forced(daemon):
    cid = out(daemon.cli("run", "-d", "busybox", "sleep", "300")).strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    result = daemon.cli("rm", cid)
    assert result.returncode == 1 and "cannot remove a running container" in err(result)
    assert cid[:12] in out(daemon.cli("ps"))
    assert daemon.cli("rm", "-f", cid).returncode == 0
    assert cid[:12] not in out(daemon.cli("ps", "-a"))


def test_rm_removes_the_containers_layer(daemon):
    daemon.cli("create", "--name", "layer-check", "busybox", "true")
    info = json.loads(out(daemon.cli("inspect", "layer-check")))[0]
    layer_dir = os.path.join(daemon.data_root, "vfs", "dir", info["Id"])
    # the init layer under it (placeholders for the bind-mounted /etc files) is the image layer's, shared
    init_dir = _init_layer_dir(daemon, info["Id"])
    assert os.path.isdir(layer_dir) and os.path.isfile(os.path.join(init_dir, "etc", "hostname"))
    daemon.cli("rm", "layer-check")
    assert not os.path.exists(layer_dir) and os.path.isdir(init_dir)  # the init stays for the next container


def _init_layer_dir(daemon, container_id: str) -> str:
    import sqlite3

    db = sqlite3.connect(os.path.join(daemon.data_root, "image", "metadata.db"))
    try:
        (init_id,) = db.execute("SELECT init_id FROM mounts WHERE container_id = ?", (container_id,)).fetchone()
    finally:
        db.close()
    return os.path.join(daemon.data_root, "vfs", "dir", init_id)


def test_images_lists_the_bootstrapped_busybox(daemon):
    lines = out(daemon.cli("images")).splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert any(line.split()[:2] == ["busybox", "latest"] for line in lines[1:])


def test_unknown_image_is_pulled_and_a_failed_pull_is_a_clear_error(daemon):
    # a registry on a closed loopback port: the pull fails without any traffic leaving the machine
    result = daemon.cli("run", "--rm", "127.0.0.1:9/no-such-image:1.0", "true")
    assert result.returncode == 125
    assert "Unable to find image '127.0.0.1:9/no-such-image:1.0' locally" in err(result)
    # as docker run reports it: "berth: Error response from daemon: ...", then the --help hint
    (failure,) = [line for line in err(result).splitlines() if line.startswith("berth: Error response from daemon:")]
    assert "127.0.0.1:9" in failure


def test_info_reports_every_driver_kind(daemon):
    info = out(daemon.cli("info"))
    assert "Storage Driver: vfs" in info
    assert "Exec Driver: native" in info


def test_api_socket_is_not_world_accessible(daemon):
    mode = stat.S_IMODE(os.stat(daemon.socket).st_mode)
    assert mode & 0o007 == 0, oct(mode)


def _http(daemon, request: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(daemon.socket)
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        return data


def test_ping_advertises_the_api_version(daemon):
    reply = _http(daemon, b"HEAD /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").decode()
    assert reply.startswith("HTTP/1.1 200") and "Api-Version: 1.45" in reply and "Ostype: linux" in reply


def test_unknown_route_is_docker_404(daemon):
    reply = _http(daemon, b"GET /v1.45/no/such/route HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").decode()
    assert reply.startswith("HTTP/1.1 404")
    assert reply.rstrip().endswith('{"message": "page not found"}')


def test_too_new_api_version_is_refused(daemon):
    reply = _http(daemon, b"GET /v9.99/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").decode()
    assert reply.startswith("HTTP/1.1 400") and "Maximum supported API version is 1.45" in reply
