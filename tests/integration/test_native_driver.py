"""The native exec driver end to end: real namespaces, mounts, cgroups and monitors (run as root).

Each test builds a busybox rootfs in a temp dir and an OCI spec by hand (Docker's
defaults), and leaves no process, mount or cgroup behind.
"""

from __future__ import annotations

import json
import os
import sys
import shutil
import signal
import socket
import struct
import subprocess
import uuid

import pytest

from berth.errors import Conflict, ExecError, NotFound
from berth.hookspecs.types import IOConfig, RuntimeStatus
from berth.testing.exec_kit import build_busybox_rootfs, remove_cgroup_parent
from tests.peers import missing_peer

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the native driver needs root")

DOCKER_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
]
CGROUP_PARENT = "berth-test"


def _mountinfo() -> str:
    with open("/proc/self/mountinfo") as f:
        return f.read()


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory):
    """A rootfs template: the exec kit's busybox rootfs, plus a script without the executable bit."""
    root = build_busybox_rootfs(tmp_path_factory.mktemp("rootfs-template"))
    (root / "etc" / "not-executable").write_text("#!/bin/sh\necho hi\n")
    return root


@pytest.fixture
def rootfs(busybox_rootfs, tmp_path):
    target = tmp_path / "rootfs"
    shutil.copytree(busybox_rootfs, target, symlinks=True)
    return target


def make_spec(rootfs, args, *, hostname="berthbox", tty=False, env=None, user=None, cwd="/", readonly=False,
              resources=None, container_id="c", annotations=None):
    """An OCI runtime spec shaped like the one Docker generates for `docker run`."""
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": tty,
            "user": user or {"uid": 0, "gid": 0, "additionalGids": [0, 1, 2, 3, 4, 6, 10]},
            "args": args,
            "env": env or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=berthbox"],
            "cwd": cwd,
            "capabilities": {k: list(DOCKER_CAPS) for k in ("bounding", "effective", "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": False,
        },
        "root": {"path": str(rootfs), "readonly": readonly},
        "hostname": hostname,
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["ro", "nosuid", "noexec", "nodev"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]},
        ],
        "linux": {
            "resources": resources or {
                # Docker's default device allowlist.
                "devices": [{"allow": False, "access": "rwm"},
                            {"allow": True, "type": "c", "access": "m"},
                            {"allow": True, "type": "b", "access": "m"}]
                + [{"allow": True, "type": "c", "major": major, "minor": minor, "access": "rwm"}
                   for major, minor in ((1, 3), (1, 8), (1, 7), (5, 0), (1, 5), (1, 9), (5, 1), (136, None),
                                        (5, 2), (10, 200))],
            },
            "cgroupsPath": f"/{CGROUP_PARENT}/{container_id}",
            "namespaces": [{"type": t} for t in ("mount", "network", "uts", "pid", "ipc", "cgroup")],
            "maskedPaths": ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                            "/sys/firmware", "/sys/devices/virtual/powercap"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
        "annotations": annotations or {},
    }


class Harness:
    """A driver over a temp root, plus what each test needs to create and clean up containers."""

    def __init__(self, tmp_path, rootfs):
        from berth.plugins.execdrivers.native.driver import NativeDriver

        self.tmp = tmp_path
        self.rootfs = rootfs
        self.root = str(tmp_path / "exec-root")
        self.driver = NativeDriver(self.root, {})
        self.created: list[str] = []

    def new_driver(self):
        """What a restarted daemon does: a fresh driver over the same root."""
        from berth.plugins.execdrivers.native.driver import NativeDriver

        self.driver.exec_cleanup()
        self.driver = NativeDriver(self.root, {})
        return self.driver

    def create(self, args, io=None, **kw):
        cid = "t" + uuid.uuid4().hex[:12]
        spec = make_spec(self.rootfs, args, container_id=cid, **kw)
        bundle = self.tmp / f"bundle-{cid}"
        bundle.mkdir()
        (bundle / "config.json").write_text(json.dumps(spec))
        io = io or IOConfig(log_path=str(self.tmp / f"{cid}-json.log"), tty=kw.get("tty", False))
        self.created.append(cid)
        state = self.driver.exec_create(container_id=cid, bundle=str(bundle), spec=spec, io=io)
        return cid, state

    def run(self, args, **kw):
        """create + start + wait; returns (id, final state, log entries)."""
        cid, _ = self.create(args, **kw)
        self.driver.exec_start(container_id=cid)
        final = self.driver.exec_wait(container_id=cid, timeout=30)
        return cid, final, self.log(cid)

    def log(self, cid):
        path = self.tmp / f"{cid}-json.log"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def output(self, cid, stream="stdout"):
        return "".join(e["log"] for e in self.log(cid) if e["stream"] == stream)

    def cleanup(self):
        for cid in self.created:
            self.driver.exec_delete(container_id=cid, force=True)
        self.driver.exec_cleanup()


@pytest.fixture
def harness(tmp_path, rootfs):
    h = Harness(tmp_path, rootfs)
    mounts_before = _mountinfo().count("\n")
    try:
        yield h
    finally:
        h.cleanup()
        for cid in h.created:
            for hierarchy in os.listdir("/sys/fs/cgroup"):
                assert not os.path.exists(f"/sys/fs/cgroup/{hierarchy}/{CGROUP_PARENT}/{cid}")
        remove_cgroup_parent(CGROUP_PARENT)
        assert _mountinfo().count("\n") == mounts_before
        assert str(tmp_path) not in _mountinfo()


# ---------------------------------------------------------------------------
# create / start / wait / exit codes / logs
# ---------------------------------------------------------------------------


def test_create_leaves_a_waiting_init_and_start_runs_it(harness):
    cid, state = harness.create(["sh", "-c", "echo started"])
    assert state.status == RuntimeStatus.CREATED and state.pid > 0
    assert os.path.exists(f"/proc/{state.pid}/ns/net")
    assert os.readlink(f"/proc/{state.pid}/ns/net") != os.readlink("/proc/self/ns/net")
    assert harness.output(cid) == ""
    running = harness.driver.exec_start(container_id=cid)
    assert running.status in (RuntimeStatus.RUNNING,) and running.started_at
    final = harness.driver.exec_wait(container_id=cid, timeout=30)
    assert final.status == RuntimeStatus.STOPPED and final.exit_code == 0 and final.finished_at
    assert harness.output(cid) == "started\n"


def test_container_process_is_pid_1_with_its_own_hostname(harness):
    cid, final, _ = harness.run(["sh", "-c", "echo pid=$$; hostname; cat /etc/hello.txt"])
    assert final.exit_code == 0
    assert harness.output(cid).splitlines() == ["pid=1", "berthbox", "from the rootfs"]
    assert socket.gethostname() != "berthbox"


def test_sees_only_its_own_processes(harness):
    cid, final, _ = harness.run(["sh", "-c", "ls /proc | grep '^[0-9]'"])
    pids = sorted(int(p) for p in harness.output(cid).split())
    assert pids[0] == 1 and len(pids) <= 3 and pids[-1] < 10  # sh, ls and grep: nothing of the host


def test_env_cwd_and_user(harness):
    cid, final, _ = harness.run(["sh", "-c", "echo $GREETING; pwd; id -u; id -g"],
                                env=["PATH=/bin", "GREETING=hello"], cwd="/tmp",
                                user={"uid": 65534, "gid": 65534})
    assert final.exit_code == 0, harness.log(cid)
    assert harness.output(cid).splitlines() == ["hello", "/tmp", "65534", "65534"]


@pytest.mark.parametrize("code", [0, 3])
def test_exit_code_is_recorded(harness, code):
    _, final, _ = harness.run(["sh", "-c", f"exit {code}"])
    assert final.status == RuntimeStatus.STOPPED and final.exit_code == code


def test_missing_command_is_127_with_dockers_message(harness):
    cid, _ = harness.create(["no-such-command"])
    with pytest.raises(ExecError) as info:
        harness.driver.exec_start(container_id=cid)
    assert info.value.exit_code == 127
    assert info.value.message == 'exec: "no-such-command": executable file not found in $PATH'
    state = harness.driver.exec_state(container_id=cid)
    assert state.status == RuntimeStatus.STOPPED and state.exit_code == 127


def test_non_executable_file_is_126(harness):
    cid, _ = harness.create(["/etc/not-executable"])
    with pytest.raises(ExecError) as info:
        harness.driver.exec_start(container_id=cid)
    assert info.value.exit_code == 126
    assert "permission denied" in info.value.message
    assert harness.driver.exec_wait(container_id=cid, timeout=10).exit_code == 126


def test_log_is_docker_json_file_with_both_streams(harness):
    cid, final, entries = harness.run(["sh", "-c", "echo out; echo err >&2; printf partial"])
    assert final.exit_code == 0
    assert {(e["stream"], e["log"]) for e in entries} == {("stdout", "out\n"), ("stderr", "err\n"), ("stdout", "partial")}
    for e in entries:
        assert e["time"].endswith("Z") and "T" in e["time"]


def test_tty_output_goes_to_stdout_through_a_pty(harness):
    cid, final, _ = harness.run(["sh", "-c", "tty; echo err >&2"], tty=True)
    assert final.exit_code == 0
    out = harness.output(cid)
    assert "/dev/pts/0" in out and "err" in out
    assert harness.output(cid, "stderr") == ""


# ---------------------------------------------------------------------------
# kill / wait / delete / restore
# ---------------------------------------------------------------------------


def test_kill_stops_a_running_container_with_128_plus_signal(harness):
    cid, _ = harness.create(["sleep", "1000"])
    harness.driver.exec_start(container_id=cid)
    assert harness.driver.exec_wait(container_id=cid, timeout=0.2).status == RuntimeStatus.RUNNING
    harness.driver.exec_kill(container_id=cid, signal=signal.SIGKILL, all_processes=False)
    final = harness.driver.exec_wait(container_id=cid, timeout=30)
    assert final.status == RuntimeStatus.STOPPED and final.exit_code == 137
    with pytest.raises(Conflict):
        harness.driver.exec_kill(container_id=cid, signal=signal.SIGKILL, all_processes=False)


def test_delete_leaves_no_process_cgroup_or_state(harness):
    cid, state = harness.create(["sleep", "1000"])
    harness.driver.exec_start(container_id=cid)
    monitor_pid = json.loads(open(os.path.join(harness.root, cid, "state.json")).read())["monitor_pid"]
    with pytest.raises(Conflict):
        harness.driver.exec_delete(container_id=cid, force=False)
    harness.driver.exec_delete(container_id=cid, force=True)
    from berth.plugins.execdrivers.monitoring.state import start_time

    assert start_time(state.pid) is None and start_time(monitor_pid) is None  # gone (or a zombie being reaped)
    assert not os.path.exists(os.path.join(harness.root, cid))
    for hierarchy in os.listdir("/sys/fs/cgroup"):
        assert not os.path.exists(f"/sys/fs/cgroup/{hierarchy}/{CGROUP_PARENT}/{cid}")
    with pytest.raises(NotFound):
        harness.driver.exec_state(container_id=cid)
    harness.driver.exec_delete(container_id=cid, force=False)  # idempotent


def test_duplicate_create_is_a_conflict(harness):
    cid, _ = harness.create(["true"])
    spec = make_spec(harness.rootfs, ["true"], container_id=cid)
    with pytest.raises(Conflict):
        harness.driver.exec_create(container_id=cid, bundle=str(harness.tmp), spec=spec, io=IOConfig())


def test_containers_survive_a_new_driver_and_are_restored(harness):
    running, _ = harness.create(["sh", "-c", "echo before; exec sleep 1000"])
    harness.driver.exec_start(container_id=running)
    finished, _ = harness.create(["sh", "-c", "exit 5"])
    harness.driver.exec_start(container_id=finished)
    harness.driver.exec_wait(container_id=finished, timeout=30)
    created, _ = harness.create(["sh", "-c", "echo late start"])

    forkserver_pid = harness.driver.forkserver.pid
    driver = harness.new_driver()  # the old driver (and its fork server) are gone
    assert not os.path.exists(f"/proc/{forkserver_pid}/stat") or forkserver_pid == 0
    assert set(driver.exec_list()) == {running, finished, created}
    assert driver.exec_restore(container_id=running).status == RuntimeStatus.RUNNING
    stopped = driver.exec_restore(container_id=finished)
    assert stopped.status == RuntimeStatus.STOPPED and stopped.exit_code == 5
    assert driver.exec_restore(container_id=created).status == RuntimeStatus.CREATED
    driver.exec_start(container_id=created)
    assert driver.exec_wait(container_id=created, timeout=30).exit_code == 0
    assert harness.output(created) == "late start\n"
    driver.exec_kill(container_id=running, signal=signal.SIGKILL, all_processes=True)
    assert driver.exec_wait(container_id=running, timeout=30).exit_code == 137
    assert harness.output(running) == "before\n"


# ---------------------------------------------------------------------------
# security: capabilities, masked and read-only paths
# ---------------------------------------------------------------------------


def _docker_cap_mask():
    from berth.plugins.execdrivers.native.caps import mask

    return mask(DOCKER_CAPS)


def test_capabilities_are_dockers_default_set(harness):
    cid, final, _ = harness.run(["sh", "-c", "grep -E '^Cap(Eff|Bnd|Prm)' /proc/self/status"])
    assert final.exit_code == 0
    values = dict(line.split(":\t") for line in harness.output(cid).splitlines())
    assert int(values["CapEff"], 16) == _docker_cap_mask() == 0xA80425FB
    assert int(values["CapBnd"], 16) == _docker_cap_mask()


def test_kcore_is_masked_and_proc_sys_readonly(harness):
    # Some kernels (this VM's) have no /proc/kcore; /proc/keys is masked the same way.
    masked = "/proc/kcore" if os.path.exists("/proc/kcore") else "/proc/keys"
    assert os.path.getsize(masked) > 0 or open(masked, "rb").read(1)
    cid, final, _ = harness.run(["sh", "-c", f"wc -c < {masked}; echo 1 > /proc/sys/kernel/sysrq || echo ro"])
    assert harness.output(cid).split() == ["0", "ro"]


def test_sys_is_read_only(harness):
    cid, final, _ = harness.run(["sh", "-c", "touch /sys/x 2>/dev/null && echo writable || echo readonly; "
                                             "grep ' /sys ' /proc/mounts"])
    lines = harness.output(cid).splitlines()
    assert lines[0] == "readonly"
    assert " ro," in lines[1] or lines[1].split()[3].startswith("ro")


def test_readonly_root(harness):
    cid, final, _ = harness.run(["sh", "-c", "touch /x 2>/dev/null && echo writable || echo readonly; touch /dev/shm/ok && echo shm"],
                                readonly=True)
    assert harness.output(cid).splitlines() == ["readonly", "shm"]


def test_devices_exist_and_rlimits_apply(harness):
    cid, final, _ = harness.run(["sh", "-c", "ls /dev; ulimit -n; echo x > /dev/null && echo null-ok"])
    out = harness.output(cid)
    for name in ("null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "mqueue", "fd"):
        assert name in out.split()
    assert "1024" in out.split()  # the spec's RLIMIT_NOFILE
    assert "null-ok" in out


# ---------------------------------------------------------------------------
# attach socket, cgroups, exec
# ---------------------------------------------------------------------------


def _read_frames(sock):
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    frames = []
    while data:
        stream, length = struct.unpack(">BxxxI", data[:8])
        frames.append((stream, data[8 : 8 + length]))
        data = data[8 + length :]
    return frames


def test_attach_socket_multiplexes_output_and_feeds_stdin(harness, tmp_path):
    attach_path = str(tmp_path / "attach.sock")
    cid, _ = harness.create(["sh", "-c", "read line; echo got $line; echo oops >&2"],
                            io=IOConfig(log_path=str(tmp_path / "x.log"), attach_socket=attach_path, open_stdin=True))
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(attach_path)
    harness.driver.exec_start(container_id=cid)
    client.sendall(b"hello\n")
    client.shutdown(socket.SHUT_WR)
    frames = _read_frames(client)
    client.close()
    assert (1, b"got hello\n") in frames and (2, b"oops\n") in frames
    assert harness.driver.exec_wait(container_id=cid, timeout=30).exit_code == 0


def test_memory_and_pids_limits_pause_resume_and_stats(harness):
    resources = {"memory": {"limit": 64 * 1024 * 1024}, "pids": {"limit": 50}, "cpu": {"shares": 512}}
    cid, state = harness.create(["sleep", "1000"], resources=resources)
    harness.driver.exec_start(container_id=cid)
    base = f"/{CGROUP_PARENT}/{cid}"
    assert open(f"/sys/fs/cgroup/memory{base}/memory.limit_in_bytes").read().strip() == str(64 * 1024 * 1024)
    assert open(f"/sys/fs/cgroup/pids{base}/pids.max").read().strip() == "50"
    assert open(f"/sys/fs/cgroup/cpu{base}/cpu.shares").read().strip() == "512"
    assert harness.driver.exec_top(container_id=cid) == [state.pid]
    harness.driver.exec_pause(container_id=cid)
    assert harness.driver.exec_state(container_id=cid).status == RuntimeStatus.PAUSED
    harness.driver.exec_resume(container_id=cid)
    assert harness.driver.exec_state(container_id=cid).status == RuntimeStatus.RUNNING
    stats = harness.driver.exec_stats(container_id=cid)
    assert stats["memory_stats"]["limit"] == 64 * 1024 * 1024 and stats["pids_stats"]["current"] == 1


def test_exec_runs_in_the_containers_namespaces(harness, tmp_path):
    cid, _ = harness.create(["sleep", "1000"])
    harness.driver.exec_start(container_id=cid)
    log = tmp_path / "exec.log"
    proc = harness.driver.exec_exec(
        container_id=cid, exec_id="e1",
        process={"args": ["sh", "-c", "hostname; echo $$; cat /etc/hello.txt; exit 4"], "env": ["PATH=/bin"],
                 "cwd": "/", "user": {"uid": 0, "gid": 0}},
        io=IOConfig(log_path=str(log)))
    assert proc.pid > 0
    assert harness.driver.exec_exec_wait(container_id=cid, exec_id="e1", timeout=30) == 4
    lines = [json.loads(line)["log"] for line in log.read_text().splitlines()]
    assert lines[0] == "berthbox\n" and lines[1] != "1\n" and lines[2] == "from the rootfs\n"
    with pytest.raises(ExecError) as info:
        harness.driver.exec_exec(container_id=cid, exec_id="e2", process={"args": ["nope"], "env": ["PATH=/bin"]},
                                 io=IOConfig())
    assert info.value.exit_code == 127


def test_tty_attach_and_resize(harness, tmp_path):
    attach_path = str(tmp_path / "tty.sock")
    cid, _ = harness.create(["sh", "-c", "read line; stty size; echo got $line"], tty=True,
                            io=IOConfig(log_path=str(tmp_path / "tty.log"), attach_socket=attach_path,
                                        open_stdin=True, tty=True))
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(attach_path)
    harness.driver.exec_start(container_id=cid)
    harness.driver.exec_resize(container_id=cid, exec_id=None, height=33, width=101)
    client.sendall(b"hi\n")
    data = b""
    while chunk := client.recv(65536):
        data += chunk
    client.close()
    assert b"33 101" in data and b"got hi" in data  # raw bytes, no multiplexing headers
    assert harness.driver.exec_wait(container_id=cid, timeout=30).exit_code == 0


def test_seccomp_profile_and_no_new_privileges(harness, rootfs, tmp_path):
    cid = "tseccomp" + os.urandom(3).hex()
    harness.created.append(cid)
    spec = make_spec(rootfs, ["sh", "-c", "grep NoNewPrivs /proc/self/status; mkdir /tmp/x || echo denied"],
                     container_id=cid)
    spec["process"]["noNewPrivileges"] = True
    spec["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }
    log = tmp_path / "seccomp.log"
    harness.driver.exec_create(container_id=cid, bundle=str(tmp_path), spec=spec, io=IOConfig(log_path=str(log)))
    harness.driver.exec_start(container_id=cid)
    assert harness.driver.exec_wait(container_id=cid, timeout=30).exit_code == 0
    out = "".join(json.loads(line)["log"] for line in log.read_text().splitlines())
    assert "NoNewPrivs:\t1" in out and "denied" in out and "Operation not permitted" in out


def test_container_survives_the_daemon_being_killed(harness, tmp_path):
    cid = "tkilled" + os.urandom(3).hex()
    harness.created.append(cid)
    spec = make_spec(harness.rootfs, ["sh", "-c", "echo alive; exec sleep 1000"], container_id=cid)
    (tmp_path / "config.json").write_text(json.dumps(spec))
    log = tmp_path / "killed.log"
    script = (
        "import json, os, signal, sys\n"
        "from berth.plugins.execdrivers.native.driver import NativeDriver\n"
        "from berth.hookspecs.types import IOConfig\n"
        f"d = NativeDriver({harness.root!r}, {{}})\n"
        f"spec = json.load(open({str(tmp_path / 'config.json')!r}))\n"
        f"d.exec_create(container_id={cid!r}, bundle={str(tmp_path)!r}, spec=spec, io=IOConfig(log_path={str(log)!r}))\n"
        f"d.exec_start(container_id={cid!r})\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    daemon = subprocess.run([sys.executable, "-c", script])
    assert daemon.returncode == -signal.SIGKILL
    driver = harness.new_driver()
    state = driver.exec_restore(container_id=cid)
    assert state.status == RuntimeStatus.RUNNING and os.path.exists(f"/proc/{state.pid}")
    driver.exec_kill(container_id=cid, signal=signal.SIGTERM, all_processes=False)  # pid 1 ignores TERM
    assert driver.exec_wait(container_id=cid, timeout=0.3).status == RuntimeStatus.RUNNING
    driver.exec_kill(container_id=cid, signal=signal.SIGKILL, all_processes=False)
    final = driver.exec_wait(container_id=cid, timeout=30)
    assert final.status == RuntimeStatus.STOPPED and final.exit_code == 137
    assert [json.loads(line)["log"] for line in log.read_text().splitlines()] == ["alive\n"]


def test_the_created_init_is_already_inside_its_cgroups_and_limits(harness):
    """The monitor moves the init into its cgroups while it sets up; create returns only once that is done."""
    cid, state = harness.create(["sh", "-c", "cat /proc/self/cgroup; cat /sys/fs/cgroup/pids/pids.max"],
                                resources={"pids": {"limit": 7}})
    procs = open(f"/sys/fs/cgroup/pids/{CGROUP_PARENT}/{cid}/cgroup.procs").read().split()
    assert procs == [str(state.pid)]  # before start: the user's process will begin inside the limits
    harness.driver.exec_start(container_id=cid)
    assert harness.driver.exec_wait(container_id=cid, timeout=30).exit_code == 0
    lines = harness.output(cid).splitlines()
    assert any(line.endswith(":pids:/") for line in lines)  # the cgroup namespace is rooted at its cgroup
    assert lines[-1] == "7"


def test_an_init_that_fails_set_up_reports_why_and_leaves_no_cgroup(harness, tmp_path):
    cid = "tbadmount"
    spec = make_spec(harness.rootfs, ["true"], container_id=cid)
    spec["mounts"].append({"destination": "/data", "type": "bind", "source": str(tmp_path / "no-such-dir"),
                           "options": ["rbind"]})
    bundle = tmp_path / "bundle-bad"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps(spec))
    harness.created.append(cid)
    with pytest.raises(Exception, match="no-such-dir|No such file"):
        harness.driver.exec_create(container_id=cid, bundle=str(bundle), spec=spec, io=IOConfig())
    for hierarchy in ("pids", "memory", "cpu"):
        assert not os.path.exists(f"/sys/fs/cgroup/{hierarchy}/{CGROUP_PARENT}/{cid}")


def test_the_last_container_takes_the_parent_cgroup_with_it(harness):
    first, _ = harness.create(["true"])
    second, _ = harness.create(["true"])
    parent = f"/sys/fs/cgroup/pids/{CGROUP_PARENT}"
    harness.driver.exec_delete(container_id=first, force=True)
    assert os.path.isdir(parent)  # still holds the second container
    harness.driver.exec_delete(container_id=second, force=True)
    assert not os.path.exists(parent)


# ---------------------------------------------------------------------------
# --init
# ---------------------------------------------------------------------------

INIT = {"io.berth.init": "true"}
SHOW_PID_1 = ["sh", "-c", "echo pid=$$; tr '\\0' ' ' < /proc/1/cmdline; echo; exit 7"]


def test_init_is_a_static_tini_mounted_as_docker_init_as_dockerd_does(harness):
    from berth.plugins.execdrivers import initbinary

    if initbinary.find() is None:
        missing_peer("no static init (tini) on this host", "apt-get install tini (.ci/install does)")
    cid, final, _ = harness.run(SHOW_PID_1, annotations=INIT)
    assert final.exit_code == 7
    assert harness.output(cid).splitlines()[:2] == ["pid=2", f"/sbin/docker-init -- {' '.join(SHOW_PID_1)} "]


def test_without_a_static_init_the_drivers_reaper_is_pid_1(harness, monkeypatch):
    from berth.plugins.execdrivers import initbinary

    monkeypatch.setattr(initbinary, "CANDIDATES", ())
    cid, final, _ = harness.run(SHOW_PID_1, annotations=INIT)
    assert final.exit_code == 7
    pid, pid_1 = harness.output(cid).splitlines()[:2]
    assert pid == "pid=2" and "docker-init" not in pid_1 and not pid_1.startswith("sh ")
