"""Every ``docker run`` option berthd honours, refuses or warns about, seen from inside the container.

The real docker CLI runs each case against berthd, and the same command against the real
dockerd: the table below is what both must answer (test_berthd_* checks berth, test_dockerd_*
checks that the expectation is Docker's own behaviour, so a case cannot drift from Docker).
A few cases are berth's alone, where berth does more than dockerd here (named in their ids).
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import uuid
from dataclasses import dataclass

import pytest

from tests.e2e.conftest import DOCKER
from tests.peers import missing_peer

LAB_DOCKER = "unix:///run/lab-docker.sock"
CGROUP_V2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
MEMCG = "/sys/fs/cgroup" if CGROUP_V2 else "/sys/fs/cgroup/memory"
CPUCG = "/sys/fs/cgroup" if CGROUP_V2 else "/sys/fs/cgroup/cpu"
SU_AS_NOBODY = ("mkdir /tmp/s; cp /bin/busybox /tmp/s/busybox; chmod 4755 /tmp/s/busybox; "
                "su nobody -s /bin/sh -c '/tmp/s/busybox su -c id root </dev/null' 2>&1 | tail -1")


def _root_block_device() -> str:
    """The host block device of the filesystem at / (for the per-device blkio options)."""
    dev = os.stat("/").st_dev
    for numbers in (f"{os.major(dev)}:{os.minor(dev)}", f"{os.major(dev)}:0"):
        try:
            with open(f"/sys/dev/block/{numbers}/uevent") as f:
                name = dict(line.strip().split("=", 1) for line in f if "=" in line)["DEVNAME"]
            return "/dev/" + name
        except (OSError, KeyError):
            continue
    return "/dev/null"


BLOCK = _root_block_device()
BLOCK_NUMBERS = f"{os.major(os.stat(BLOCK).st_rdev)}:{os.minor(os.stat(BLOCK).st_rdev)}"


@dataclass
class Case:
    """``docker run --rm --network none ARGS busybox sh -c SCRIPT``: its stdout, or its error, or a warning."""

    id: str
    args: list[str]
    script: str = "true"
    out: str | None = None          # the whole stdout (stripped)
    error: str | None = None        # a failure (exit 125) whose stderr contains this
    warning: str | None = None      # stderr's "WARNING: ..." line contains this, and the run succeeds


CASES = [
    Case("ulimit", ["--ulimit", "nofile=100:200", "--ulimit", "nproc=50"], "ulimit -n; ulimit -Hn; ulimit -u",
         out="100\n200\n50"),
    Case("no-ulimit-inherits-the-daemons", [], "ulimit -Hn", out=str(resource.getrlimit(resource.RLIMIT_NOFILE)[1])),
    Case("device-read-only", ["--device", "/dev/loop0:/dev/xloop:r"],
         "stat -c '%F %t:%T' /dev/xloop; head -c1 /dev/xloop >/dev/null && echo read; echo x >/dev/xloop || echo no",
         out="block special file 7:0\nread\nno"),
    Case("device-cgroup-rule", ["--device-cgroup-rule", "b 7:* rm"],
         "mknod /dev/l1 b 7 1 && head -c1 /dev/l1 >/dev/null && echo read", out="read"),
    Case("device-not-in-the-allowlist", [], "mknod /dev/l1 b 7 1; head -c1 /dev/l1 2>&1 >/dev/null; true",
         out="head: /dev/l1: Operation not permitted"),
    Case("device-missing", ["--device", "/dev/nonexist:/dev/x"],
         error='error gathering device information while adding custom device "/dev/nonexist"'),
    Case("pid-host", ["--pid", "host"], "cat /proc/1/comm; true", out=open("/proc/1/comm").read().strip()),
    Case("pid-private", [], "cat /proc/1/comm; true", out="sh"),
    Case("uts-host", ["--uts", "host"], "hostname", out=socket.gethostname()),
    Case("ipc-none", ["--ipc", "none"], "ls /dev/shm 2>&1; true", out="ls: /dev/shm: No such file or directory"),
    Case("shm-size-default", [], "df -k /dev/shm | tail -1 | awk '{print $2}'", out="65536"),
    Case("shm-size", ["--shm-size", "1m"], "df -k /dev/shm | tail -1 | awk '{print $2}'", out="1024"),
    Case("sysctls", ["--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.shmmax=1000000",
                     "--sysctl", "fs.mqueue.msg_max=20"],
         "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax /proc/sys/fs/mqueue/msg_max",
         out="1\n1000000\n20"),
    Case("default-sysctls", [], "cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/net/ipv4/ping_group_range",
         out="0\n0\t2147483647"),
    Case("sysctl-net-on-host-network", ["--network", "host", "--sysctl", "net.ipv4.ip_forward=1"],
         error='sysctl "net.ipv4.ip_forward" not allowed in host network namespace'),
    Case("sysctl-ipc-on-host-ipc", ["--ipc", "host", "--sysctl", "kernel.shmmax=1"],
         error='sysctl "kernel.shmmax" is not allowed in the hosts ipc namespace'),
    Case("group-add", ["--group-add", "nogroup", "--group-add", "1234"],
         "id -G | tr ' ' '\\n' | grep -E '^(1234|65534)$'", out="1234\n65534"),
    Case("group-add-unknown", ["--group-add", "nosuch"],
         error="Unable to find group nosuch: no matching entries in group file"),
    Case("oom-score-adj", ["--oom-score-adj", "500"], "cat /proc/self/oom_score_adj", out="500"),
    Case("no-new-privileges-off-by-default", [], "grep NoNewPrivs /proc/self/status", out="NoNewPrivs:\t0"),
    Case("setuid-works-by-default", [], SU_AS_NOBODY, out="su: incorrect password"),
    Case("no-new-privileges", ["--security-opt", "no-new-privileges"], SU_AS_NOBODY,
         out="su: must be suid to work properly"),
    Case("no-new-privileges-false", ["--security-opt", "no-new-privileges=false"],
         "grep NoNewPrivs /proc/self/status", out="NoNewPrivs:\t0"),
    Case("no-new-privileges-bad", ["--security-opt", "no-new-privileges=maybe"],
         error='invalid --security-opt 2: "no-new-privileges=maybe"'),
    Case("security-opt-unknown", ["--security-opt", "bogus=1"], error='invalid --security-opt 2: "bogus=1"'),
    Case("seccomp-unconfined", ["--security-opt", "seccomp=unconfined"], "grep Seccomp: /proc/self/status",
         out="Seccomp:\t0"),
    Case("systempaths-unconfined", ["--security-opt", "systempaths=unconfined"],
         "mount | grep -c ' /proc/sys ' || true", out="0"),
    Case("label-disable", ["--security-opt", "label=disable"], "echo ok", out="ok"),
    Case("oom-kill-disable-without-memory", ["--oom-kill-disable"],
         warning="OOM killer is disabled for the container, but no memory limit is set"),
    Case("cpu-period-quota", ["--cpu-period", "50000", "--cpu-quota", "25000"],
         f"cat {CPUCG}/cpu.max" if CGROUP_V2 else f"cat {CPUCG}/cpu.cfs_period_us {CPUCG}/cpu.cfs_quota_us",
         out="25000 50000" if CGROUP_V2 else "50000\n25000"),
    Case("cpuset-mems", ["--cpuset-mems", "0"], "cat /sys/fs/cgroup/cpuset.mems" if CGROUP_V2
         else "cat /sys/fs/cgroup/cpuset/cpuset.mems", out="0"),
    Case("cpuset-mems-unavailable", ["--cpuset-mems", "64"],
         error="Requested memory nodes are not available - requested 64"),
    Case("memory-reservation", ["--memory-reservation", "50m"],
         f"cat {MEMCG}/memory.low" if CGROUP_V2 else f"cat {MEMCG}/memory.soft_limit_in_bytes", out="52428800"),
    Case("memory-swap-defaults-to-twice-memory", ["-m", "100m"],
         f"cat {MEMCG}/memory.swap.max" if CGROUP_V2 else f"cat {MEMCG}/memory.memsw.limit_in_bytes",
         out="104857600" if CGROUP_V2 else "209715200"),
    Case("device-read-bps", ["--device-read-bps", f"{BLOCK}:1mb", "--device-write-iops", f"{BLOCK}:100"],
         "cat /sys/fs/cgroup/io.max" if CGROUP_V2 else
         "cat /sys/fs/cgroup/blkio/blkio.throttle.read_bps_device /sys/fs/cgroup/blkio/blkio.throttle.write_iops_device",
         out=f"{BLOCK_NUMBERS} rbps=1048576 wbps=max riops=max wiops=100" if CGROUP_V2 else
         f"{BLOCK_NUMBERS} 1048576\n{BLOCK_NUMBERS} 100"),
    Case("storage-opt-unknown", ["--storage-opt", "foo=1"], error="Unknown option foo"),
    Case("runtime-unknown", ["--runtime", "nope"], error="Unknown runtime specified nope"),
    Case("isolation", ["--isolation", "hyperv"], error="Invalid isolation: \"hyperv\" - linux only supports 'default'"),
    Case("gpus", ["--gpus", "all"], error='could not select device driver "" with capabilities: [[gpu]]'),
    Case("uts-host-with-hostname", ["--uts", "host", "-h", "x"], error="conflicting options: hostname and the UTS mode"),
    Case("domainname", ["--domainname", "example.org", "-h", "myhost"],
         "cat /proc/sys/kernel/domainname; hostname; cat /etc/hostname", out="example.org\nmyhost\nmyhost"),
    Case("no-domainname", [], "cat /proc/sys/kernel/domainname", out="(none)"),
    Case("domainname-with-uts-host", ["--uts", "host", "--domainname", "example.org"],
         error='sysctl "kernel.domainname" is not in a separate kernel namespace'),
]
if not CGROUP_V2:
    CASES += [
        Case("memory-swappiness", ["--memory-swappiness", "10"], f"cat {MEMCG}/memory.swappiness", out="10"),
        Case("oom-kill-disable", ["--oom-kill-disable", "-m", "64m"], f"head -1 {MEMCG}/memory.oom_control",
             out="oom_kill_disable 1"),
    ]
if not os.path.exists("/sys/fs/cgroup/blkio/blkio.weight") and not CGROUP_V2:
    CASES.append(Case("blkio-weight-without-a-weight-scheduler", ["--blkio-weight", "300"],
                      warning="Your kernel does not support Block I/O weight or the cgroup is not mounted. "
                              "Weight discarded."))


def _docker(host_env: dict, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([DOCKER, *args], capture_output=True, timeout=timeout, env=host_env)


@pytest.fixture(scope="module")
def real_docker(tmp_path_factory) -> dict:
    """The environment in which ``docker`` talks to the lab's real dockerd."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update({"DOCKER_HOST": LAB_DOCKER, "DOCKER_CONFIG": str(tmp_path_factory.mktemp("docker-config")),
                "DOCKER_CLI_HINTS": "false"})
    fix = "start it with bash .ci/peers"
    try:
        probe = _docker(env, ["image", "inspect", "busybox"], timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        missing_peer(f"the real dockerd at {LAB_DOCKER} did not answer: {exc}", fix)
    if probe.returncode != 0:
        missing_peer(f"the real dockerd at {LAB_DOCKER} has no busybox image or is down: "
                     f"{probe.stderr.decode(errors='replace').strip()}", fix)
    return env


def run_case(env: dict, case: Case) -> subprocess.CompletedProcess:
    network = [] if "--network" in case.args else ["--network", "none"]
    return _docker(env, ["run", "--rm", *network, *case.args, "busybox", "sh", "-c", case.script])


def check(case: Case, result: subprocess.CompletedProcess) -> None:
    out = result.stdout.decode(errors="replace").strip()
    err = "\n".join(line for line in result.stderr.decode(errors="replace").splitlines()
                    if "IPv4 forwarding" not in line)
    if case.error is not None:
        assert result.returncode != 0 and case.error in err, f"exit {result.returncode}, stderr: {err}"
        return
    assert result.returncode == 0, f"exit {result.returncode}, stderr: {err}"
    if case.out is not None:
        assert out == case.out, f"stderr: {err}"
    if case.warning is not None:
        assert f"WARNING: {case.warning}" in err
    else:
        assert "WARNING" not in err


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_berthd_answers(docker_cli, case):
    check(case, run_case(docker_cli.env, case))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_dockerd_answers_the_same(real_docker, case):
    check(case, run_case(real_docker, case))


# ---------------------------------------------------------------------------
# options that name another container, or that need more than one run
# ---------------------------------------------------------------------------


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _shared_namespaces(env: dict) -> tuple[str, str, str, str]:
    """(what a --ipc/--pid container:X joiner sees, the refusal for a private donor, for a stopped one,
    and for one that does not exist)."""
    donor, private, stopped = _name("donor"), _name("private"), _name("stopped")
    try:
        for args in (["--ipc", "shareable", "--name", donor, "busybox", "sh", "-c", "echo hi >/dev/shm/m; sleep 60"],
                     ["--name", private, "busybox", "sleep", "60"]):
            assert _docker(env, ["run", "-d", "--network", "none", *args]).returncode == 0
        assert _docker(env, ["create", "--name", stopped, "busybox", "true"]).returncode == 0
        joined = _docker(env, ["run", "--rm", "--network", "none", "--ipc", f"container:{donor}", "--pid",
                               f"container:{donor}", "busybox", "sh", "-c",
                               "sleep 0.5; cat /dev/shm/m; cat /proc/1/comm; echo back >/dev/shm/b"])
        assert _docker(env, ["exec", donor, "cat", "/dev/shm/b"]).stdout.strip() == b"back"
        refusals = [_docker(env, ["run", "--rm", "--network", "none", mode, f"container:{ref}", "busybox", "true"])
                    .stderr.decode() for mode, ref in (("--ipc", private), ("--pid", stopped), ("--pid", "nonexist"))]
        return (joined.stdout.decode(), *refusals)
    finally:
        _docker(env, ["rm", "-f", donor, private, stopped])


def _check_shared_namespaces(seen: tuple[str, str, str, str]) -> None:
    joined, private, stopped, missing = seen
    assert joined == "hi\nsleep\n"
    assert "non-shareable IPC (hint: use IpcMode:shareable for the donor container)" in private
    assert "is not running" in stopped
    assert "No such container: nonexist" in missing


def test_berthd_joins_another_containers_ipc_and_pid_namespaces(docker_cli):
    _check_shared_namespaces(_shared_namespaces(docker_cli.env))


def test_dockerd_joins_another_containers_ipc_and_pid_namespaces(real_docker):
    _check_shared_namespaces(_shared_namespaces(real_docker))


def _volumes_from(env: dict) -> tuple[str, str, str, str]:
    src = _name("src")
    try:
        assert _docker(env, ["create", "--name", src, "-v", "/data", "busybox", "true"]).returncode == 0
        rw = _docker(env, ["run", "--rm", "--network", "none", "--volumes-from", src, "busybox", "sh", "-c",
                           "echo x >/data/f && cat /data/f"]).stdout.decode()
        ro = _docker(env, ["run", "--rm", "--network", "none", "--volumes-from", f"{src}:ro", "busybox", "sh", "-c",
                           "cat /data/f; touch /data/g 2>&1; true"]).stdout.decode()
        missing = _docker(env, ["run", "--rm", "--volumes-from", "nonexist", "busybox", "true"]).stderr.decode()
        bad = _docker(env, ["run", "--rm", "--volumes-from", f"{src}:rx", "busybox", "true"]).stderr.decode()
        return rw, ro, missing, bad
    finally:
        _docker(env, ["rm", "-v", src])


def _check_volumes_from(seen: tuple[str, str, str, str]) -> None:
    rw, ro, missing, bad = seen
    assert rw == "x\n"
    assert ro == "x\ntouch: /data/g: Read-only file system\n"
    assert "No such container: nonexist" in missing and "invalid mode: rx" in bad


def test_berthd_shares_volumes_from_another_container(docker_cli):
    _check_volumes_from(_volumes_from(docker_cli.env))


def test_dockerd_shares_volumes_from_another_container(real_docker):
    _check_volumes_from(_volumes_from(real_docker))


def _cgroup_parent(env: dict) -> str:
    parent = _name("berth-parent")  # berth* so the suite's leak check would see a parent berth left behind
    try:
        return _docker(env, ["run", "--rm", "--network", "none", "--cgroup-parent", parent, "busybox", "sh", "-c",
                             "grep -c /%s/ /proc/self/cgroup" % parent]).stdout.decode().strip()
    finally:
        for hierarchy in os.listdir("/sys/fs/cgroup"):  # dockerd leaves the parents it made
            for found in _find_dirs(f"/sys/fs/cgroup/{hierarchy}", parent):
                os.rmdir(found)


def _find_dirs(root: str, name: str) -> list[str]:
    out = []
    for dirpath, dirnames, _ in os.walk(root):
        if name in dirnames:
            out.append(os.path.join(dirpath, name))
            dirnames.remove(name)
        if dirpath.count("/") > root.count("/") + 2:
            dirnames[:] = []
    return out


def test_berthd_puts_the_container_under_its_cgroup_parent(docker_cli):
    assert int(_cgroup_parent(docker_cli.env)) >= 1


def test_dockerd_puts_the_container_under_its_cgroup_parent(real_docker):
    assert int(_cgroup_parent(real_docker)) >= 1


# ---------------------------------------------------------------------------
# where berth does more than (or words differently from) the lab's dockerd
# ---------------------------------------------------------------------------


def test_berthd_gives_real_time_slices_without_a_daemon_budget(docker_cli):
    """dockerd needs ``--cpu-rt-runtime`` on the daemon; berth raises its own parent's budget instead."""
    if CGROUP_V2:
        result = docker_cli("run", "--rm", "--cpu-rt-runtime", "10000", "busybox", "true", check=False)
        assert result.returncode == 125 and b"Your kernel does not support CPU real-time scheduler" in result.stderr
        return
    assert docker_cli.out("run", "--rm", "--network", "none", "--cpu-rt-runtime", "10000", "busybox",
                          "cat", f"{CPUCG}/cpu.rt_runtime_us") == "10000"


def test_berthd_refuses_an_rlimit_above_its_own_hard_limit(docker_cli):
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    result = docker_cli("run", "--rm", "--ulimit", f"nofile={hard + 1}", "busybox", "true", check=False)
    assert result.returncode == 125 and b"RLIMIT_NOFILE" in result.stderr and b"CAP_SYS_RESOURCE" in result.stderr
    assert docker_cli.out("ps", "-aq") == ""  # --rm removed it, as dockerd does after a failed start


def test_berthd_warns_where_an_lsm_option_cannot_be_applied(docker_cli):
    result = docker_cli("run", "--rm", "--security-opt", "apparmor=foo", "busybox", "true")
    assert b"WARNING: AppArmor is not enabled on this host or not supported by its exec driver: " \
           b"--security-opt apparmor=foo discarded." in result.stderr


def test_berthd_refuses_a_size_its_graph_driver_cannot_enforce(docker_cli):
    result = docker_cli("run", "--rm", "--storage-opt", "size=10G", "busybox", "true", check=False)
    assert result.returncode == 125
    assert b"--storage-opt size is not supported by the vfs storage driver: it has no per-container disk quota" \
        in result.stderr


def _exec_inherits(env: dict) -> str:
    name = _name("execd")
    try:
        assert _docker(env, ["run", "-d", "--network", "none", "--name", name, "--oom-score-adj", "300",
                             "--group-add", "1234", "--ulimit", "nofile=100:200", "busybox", "sleep", "60"]
                       ).returncode == 0
        return _docker(env, ["exec", name, "sh", "-c", "cat /proc/self/oom_score_adj; id -G | tr ' ' '\\n' | "
                                                       "grep -x 1234; ulimit -Hn"]).stdout.decode()
    finally:
        _docker(env, ["rm", "-f", name])


def test_berthd_execs_get_the_containers_oom_score_groups_and_ulimits(docker_cli):
    assert _exec_inherits(docker_cli.env) == "300\n1234\n200\n"


def test_dockerd_execs_get_the_containers_oom_score_groups_and_ulimits(real_docker):
    # the hard limit: dockerd's execs sometimes get the soft limit raised to it (runc exec), sometimes not
    assert _exec_inherits(real_docker) == "300\n1234\n200\n"
