"""Docker's log drivers through berthd and the berth CLI: json-file (rotated, compressed), local, none, defaults."""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.helpers import api

LINES = "i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); done"


def ok(daemon, *args: str) -> str:
    result = daemon.cli(*args)
    assert result.returncode == 0, f"berth {' '.join(args)}: {result.stderr.decode()}\n{daemon.log()}"
    return result.stdout.decode()


def fails(daemon, *args: str) -> tuple[int, str]:
    result = daemon.cli(*args)
    assert result.returncode != 0, f"berth {' '.join(args)} succeeded: {result.stdout.decode()}"
    return result.returncode, result.stderr.decode().strip()


def inspect(daemon, name: str) -> dict:
    return json.loads(ok(daemon, "inspect", name))[0]


def container_files(daemon, name: str) -> list[str]:
    cid = inspect(daemon, name)["Id"]
    directory = os.path.join(daemon.data_root, "containers", cid)
    return sorted(os.path.relpath(os.path.join(d, f), directory) for d, _, files in os.walk(directory) for f in files
                  if "log" in f)


@pytest.fixture
def named(daemon):
    names: list[str] = []

    def name(n: str) -> str:
        names.append(n)
        return n

    yield name
    if names:
        daemon.cli("rm", "-f", *names)


def test_the_default_driver_is_json_file_and_inspect_says_so(daemon, named):
    ok(daemon, "create", "--name", named("dflt"), "busybox", "echo", "hi")
    info = inspect(daemon, "dflt")
    assert info["HostConfig"]["LogConfig"] == {"Type": "json-file", "Config": {}}
    assert info["LogPath"] == ""  # as dockerd: no log until it starts
    ok(daemon, "start", "-a", "dflt")
    info = inspect(daemon, "dflt")
    assert info["LogPath"].endswith(f"{info['Id']}-json.log") and os.path.exists(info["LogPath"])
    assert ok(daemon, "logs", "dflt") == "hi\n"


def test_an_unknown_driver_is_refused_at_create_with_dockers_message(daemon):
    status, body = api(daemon, "POST", "/containers/create", {"Image": "busybox",
                                                              "HostConfig": {"LogConfig": {"Type": "bogus"}}})
    assert (status, body) == (400, {"message": 'error looking up logging plugin bogus: plugin "bogus" not found'})
    code, err = fails(daemon, "run", "--log-driver", "journald", "busybox", "true")
    assert code == 125 and 'error looking up logging plugin journald: plugin "journald" not found' in err


def test_an_unknown_option_is_refused_at_create(daemon):
    code, err = fails(daemon, "run", "--log-opt", "bogus=1", "busybox", "true")
    assert code == 125 and "unknown log opt 'bogus' for json-file log driver" in err
    code, err = fails(daemon, "run", "--log-driver", "local", "--log-opt", "labels=a", "busybox", "true")
    assert "unknown log opt 'labels' for log driver local" in err


def test_options_for_none_are_refused_by_the_cli(daemon):
    code, err = fails(daemon, "run", "--log-driver", "none", "--log-opt", "max-size=1k", "busybox", "true")
    assert code == 125 and "invalid logging opts for driver none" in err


def test_a_bad_value_fails_the_start_and_leaves_the_container_created(daemon, named):
    code, err = fails(daemon, "run", "--name", named("badsize"), "--log-opt", "max-size=abc", "busybox", "true")
    assert code == 125 and "failed to initialize logging driver: invalid size: 'abc'" in err
    state = inspect(daemon, "badsize")["State"]
    assert (state["Status"], state["ExitCode"], state["Error"]) == \
        ("created", 128, "failed to initialize logging driver: invalid size: 'abc'")
    status, body = api(daemon, "POST", "/containers/badsize/start")
    assert (status, body) == (400, {"message": "failed to initialize logging driver: invalid size: 'abc'"})


def test_json_file_rotates_and_logs_reads_across_the_files(daemon, named):
    ok(daemon, "run", "--name", named("rot"), "--log-opt", "max-size=2k", "--log-opt", "max-file=3", "busybox",
       "sh", "-c", LINES)
    cid = inspect(daemon, "rot")["Id"]
    assert container_files(daemon, "rot") == [f"{cid}-json.log", f"{cid}-json.log.1", f"{cid}-json.log.2"]
    lines = ok(daemon, "logs", "rot").splitlines()
    first = int(lines[0].split()[1])
    assert 0 < first and lines == [f"line {i}" for i in range(first, 300)]
    current = len(open(inspect(daemon, "rot")["LogPath"]).readlines())
    tail = ok(daemon, "logs", "--tail", str(current + 5), "rot").splitlines()
    assert tail == [f"line {i}" for i in range(300 - current - 5, 300)]


def test_compressed_rotation_is_gzip_and_still_read(daemon, named):
    ok(daemon, "run", "--name", named("gz"), "--log-opt", "max-size=2k", "--log-opt", "max-file=3",
       "--log-opt", "compress=true", "busybox", "sh", "-c", LINES)
    cid = inspect(daemon, "gz")["Id"]
    assert container_files(daemon, "gz") == [f"{cid}-json.log", f"{cid}-json.log.1.gz", f"{cid}-json.log.2.gz"]
    lines = ok(daemon, "logs", "gz").splitlines()
    assert lines[-1] == "line 299" and len(lines) > 40


def test_max_file_1_keeps_one_bounded_file(daemon, named):
    ok(daemon, "run", "--name", named("one"), "--log-opt", "max-size=1k", "busybox", "sh", "-c", LINES)
    info = inspect(daemon, "one")
    assert container_files(daemon, "one") == [f"{info['Id']}-json.log"]
    assert os.path.getsize(info["LogPath"]) < 1100
    assert ok(daemon, "logs", "one").splitlines()[-1] == "line 299"


#: says "ready", waits for /tmp/go (made once a follower saw "ready"), then writes 200 lines over ~1 s
READY_THEN_LINES = ("echo ready; until [ -e /tmp/go ]; do usleep 10000; done; "
                    "i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); usleep 5000; done")


def test_logs_follow_goes_on_across_rotations(daemon, named):
    import subprocess
    import sys

    ok(daemon, "run", "-d", "--name", named("slow"), "--log-opt", "max-size=1k", "--log-opt", "max-file=4",
       "busybox", "sh", "-c", READY_THEN_LINES)
    follow = subprocess.Popen([sys.executable, "-m", "berth.cli.main", "-H", daemon.host, "logs", "-f", "slow"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert follow.stdout.readline() == b"ready\n"
        ok(daemon, "exec", "slow", "touch", "/tmp/go")
        out, err = follow.communicate(timeout=120)
    finally:
        follow.kill()
    assert follow.returncode == 0, err.decode()
    assert out.decode().splitlines() == [f"line {i}" for i in range(200)]


def test_since_reads_only_newer_entries_across_rotated_files(daemon, named):
    ok(daemon, "run", "--name", named("since"), "--log-opt", "max-size=1k", "--log-opt", "max-file=5", "busybox",
       "sh", "-c", "echo early; sleep 2; i=0; while [ $i -lt 60 ]; do echo late $i; i=$((i+1)); done")
    stamped = ok(daemon, "logs", "-t", "since").splitlines()
    assert stamped[0].endswith(" early")
    second = stamped[1].split()[0]
    assert ok(daemon, "logs", "--since", second, "since").splitlines() == [f"late {i}" for i in range(60)]


def test_the_local_driver_keeps_streams_and_times(daemon, named):
    ok(daemon, "run", "--name", named("loc"), "--log-driver", "local", "busybox", "sh", "-c",
       "echo out; echo err >&2")
    info = inspect(daemon, "loc")
    assert info["HostConfig"]["LogConfig"] == {"Type": "local", "Config": {}}
    assert info["LogPath"] == ""  # as dockerd shows it for local
    assert container_files(daemon, "loc") == [os.path.join("local-logs", "container.log")]
    result = daemon.cli("logs", "-t", "loc")
    assert result.stdout.decode().endswith(" out\n") and result.stderr.decode().endswith(" err\n")
    assert ok(daemon, "logs", "--tail", "1", "loc") == ""  # the last entry went to stderr


def test_the_local_driver_rotates_with_its_options(daemon, named):
    ok(daemon, "run", "--name", named("locrot"), "--log-driver", "local", "--log-opt", "max-size=1k",
       "--log-opt", "max-file=3", "busybox", "sh", "-c", LINES)
    assert container_files(daemon, "locrot") == [os.path.join("local-logs", name) for name in
                                                 ("container.log", "container.log.1.gz", "container.log.2.gz")]
    assert ok(daemon, "logs", "--tail", "80", "locrot").splitlines() == [f"line {i}" for i in range(220, 300)]


def test_none_keeps_nothing_and_logs_answers_as_dockerd(daemon, named):
    assert ok(daemon, "run", "--name", named("quiet"), "--log-driver", "none", "busybox", "echo", "hi") == "hi\n"
    assert container_files(daemon, "quiet") == []
    status, body = api(daemon, "GET", "/containers/quiet/logs?stdout=1&stderr=1")
    assert (status, body) == (501, {"message": "configured logging driver does not support reading"})
    code, err = fails(daemon, "logs", "quiet")
    assert code == 1 and err == "Error response from daemon: configured logging driver does not support reading"


def test_logs_without_a_stream_is_a_400_before_the_lookup(daemon):
    status, body = api(daemon, "GET", "/containers/no-such-thing/logs")
    assert (status, body) == (400, {"message": "Bad parameters: you must choose at least one stream"})


def test_details_show_labels_env_and_tag(daemon, named):
    ok(daemon, "run", "--name", named("det"), "-l", "app=web", "-e", "FOO=b r", "--log-opt", "labels=app",
       "--log-opt", "env=FOO", "--log-opt", "tag={{.Name}}/{{.ImageName}}", "busybox", "echo", "hi")
    assert ok(daemon, "logs", "--details", "det") == "FOO=b+r,app=web,tag=det%2Fbusybox hi\n"
    assert ok(daemon, "logs", "det") == "hi\n"


def test_daemon_defaults_come_from_daemon_json(make_daemon, busybox_path):
    d = make_daemon(["-s", "vfs"])
    os.makedirs(d.base, exist_ok=True)
    with open(os.path.join(d.base, "daemon.json"), "w") as f:
        json.dump({"log-driver": "local", "log-opts": {"max-size": "1k", "max-file": "2"}}, f)
    d.start()
    ok(d, "image", "bootstrap", "busybox")
    assert json.loads(ok(d, "info", "--format", "{{json .}}"))["LoggingDriver"] == "local"
    ok(d, "run", "--name", "deflt", "busybox", "sh", "-c", LINES)
    assert inspect(d, "deflt")["HostConfig"]["LogConfig"] == {"Type": "local", "Config": {"max-size": "1k",
                                                                                          "max-file": "2"}}
    assert container_files(d, "deflt") == [os.path.join("local-logs", n) for n in ("container.log",
                                                                                   "container.log.1.gz")]
    ok(d, "run", "--name", "own", "--log-driver", "json-file", "busybox", "true")
    assert inspect(d, "own")["HostConfig"]["LogConfig"] == {"Type": "json-file", "Config": {}}


def test_a_bad_daemon_default_stops_berthd_with_the_reason(make_daemon):
    d = make_daemon(["-s", "vfs", "--log-driver", "local", "--log-opt", "labels=x"])
    with pytest.raises(RuntimeError, match="unknown log opt 'labels' for log driver local"):
        d.start(timeout=10)


def test_non_blocking_mode_logs_what_fits_its_buffer(daemon, named):
    ok(daemon, "run", "--name", named("nb"), "--log-opt", "mode=non-blocking", "--log-opt", "max-buffer-size=4m",
       "busybox", "sh", "-c", LINES)
    assert ok(daemon, "logs", "nb").splitlines() == [f"line {i}" for i in range(300)]


def test_rotation_goes_on_while_berthd_is_down(make_daemon, busybox_path):
    """The monitor, not berthd, writes the log: a container keeps rotating its log across a berthd crash."""
    import signal

    d = make_daemon(["-s", "vfs"]).start()
    ok(d, "image", "bootstrap", "busybox")
    ok(d, "run", "-d", "--name", "survivor", "--log-opt", "max-size=1k", "--log-opt", "max-file=3", "busybox", "sh",
       "-c", "i=0; while [ $i -lt 150 ]; do echo line $i; i=$((i+1)); usleep 20000; done")
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait()
    d.logfile.close()
    time.sleep(1.5)  # lines written and files rotated with no berthd
    d.start()
    ok(d, "wait", "survivor")
    cid = inspect(d, "survivor")["Id"]
    assert container_files(d, "survivor") == [f"{cid}-json.log", f"{cid}-json.log.1", f"{cid}-json.log.2"]
    lines = ok(d, "logs", "survivor").splitlines()
    first = int(lines[0].split()[1])
    assert first > 0 and lines == [f"line {i}" for i in range(first, 150)]


def test_the_oci_exec_driver_honours_the_log_config(make_daemon, busybox_path):
    from berth.plugins.execdrivers.oci import runtime as runtimes
    from tests.peers import missing_peer

    if not runtimes.find("runc"):
        missing_peer("runc is not installed", "apt-get install runc (bash .ci/peers does)")
    d = make_daemon(["-s", "vfs", "--exec-driver", "oci"]).start()
    ok(d, "image", "bootstrap", "busybox")
    ok(d, "run", "--name", "oci-local", "--log-driver", "local", "--log-opt", "max-size=1k", "--log-opt",
       "max-file=2", "busybox", "sh", "-c", LINES)
    assert container_files(d, "oci-local") == [os.path.join("local-logs", n) for n in ("container.log",
                                                                                      "container.log.1.gz")]
    assert ok(d, "logs", "--tail", "2", "oci-local") == "line 298\nline 299\n"


# ---------------------------------------------------------------------------
# syslog (to sockets this test opens on loopback or in its temp dir)
# ---------------------------------------------------------------------------


def _udp_listener():
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    return sock


def test_syslog_over_udp_sends_every_line_and_logs_reads_the_cache(daemon, named):
    sock = _udp_listener()
    with sock:
        port = sock.getsockname()[1]
        ok(daemon, "run", "--name", named("sl"), "--log-driver", "syslog", "--log-opt",
           f"syslog-address=udp://127.0.0.1:{port}", "--log-opt", "syslog-facility=local3", "--log-opt",
           "tag={{.Name}}", "busybox", "sh", "-c", "echo out; echo err >&2")
        got = sorted(sock.recv(4096) for _ in range(2))
    assert got[0].startswith(b"<155>") and b" sl[" in got[0] and got[0].endswith(b"]: err\n")  # local3.err
    assert got[1].startswith(b"<158>") and b" sl[" in got[1] and got[1].endswith(b"]: out\n")  # local3.info
    info = inspect(daemon, "sl")
    assert info["LogPath"] == "" and container_files(daemon, "sl") == ["container-cached.log"]
    result = daemon.cli("logs", "sl")
    assert (result.stdout, result.stderr) == (b"out\n", b"err\n")


def test_syslog_over_a_unix_stream_socket(daemon, named, tmp_path):
    import socket

    path = str(tmp_path / "syslog.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(4)
    server.settimeout(10)
    with server:
        ok(daemon, "run", "-d", "--name", named("slu"), "--log-driver", "syslog", "--log-opt",
           f"syslog-address=unix://{path}", "--log-opt", "syslog-format=rfc5424", "busybox", "sh", "-c",
           "sleep 0.5; echo one; echo two")
        server.accept()[0].close()  # the daemon's trial connection at start
        conn, _ = server.accept()  # the monitor's
        conn.settimeout(10)
        data = b""
        while data.count(b"\n") < 2 and (chunk := conn.recv(4096)):
            data += chunk
        conn.close()
    lines = data.splitlines()
    assert [line.split(b" - ", 1)[1] for line in lines] == [b"one", b"two"]
    assert all(line.startswith(b"<30>1 ") for line in lines)


def test_syslog_without_a_cache_cannot_be_read(daemon, named):
    sock = _udp_listener()
    with sock:
        ok(daemon, "run", "--name", named("slnc"), "--log-driver", "syslog", "--log-opt",
           f"syslog-address=udp://127.0.0.1:{sock.getsockname()[1]}", "--log-opt", "cache-disabled=true", "busybox",
           "echo", "hi")
        assert sock.recv(4096).endswith(b"]: hi\n")
    assert container_files(daemon, "slnc") == []
    code, err = fails(daemon, "logs", "slnc")
    assert err == "Error response from daemon: configured logging driver does not support reading"


def test_an_unreachable_syslog_fails_the_start(daemon, named):
    code, err = fails(daemon, "run", "--name", named("slbad"), "--log-driver", "syslog", "--log-opt",
                      "syslog-address=tcp://127.0.0.1:1", "busybox", "true")
    assert code == 125 and \
        "failed to initialize logging driver: dial tcp 127.0.0.1:1: connect: connection refused" in err
