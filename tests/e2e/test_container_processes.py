"""A container's processes are its own: ``top``, ``ps`` inside it and its pids cgroup show nothing of berth's.

dockerd's containers hold their processes and running execs, nothing of the engine
(runc's and tini's work ends in an execve). berth's monitors and fork server live
outside the container's cgroups and pid namespace, and ``--init`` is dockerd's:
a static tini bound at /sbin/docker-init. Healthcheck probes are execs; while one
runs it shows as itself, as in dockerd.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from tests import peers

#: one shell, no forks: the pids cgroup's count and the pid namespace's processes at the same moment
COUNT = ("f=/sys/fs/cgroup/pids/pids.current; [ -e $f ] || f=/sys/fs/cgroup/pids.current; "
         "read n < $f; echo $n /proc/[0-9]*")
#: a probe that is running whenever we look, so what we see is not a probe caught half-started
SLOW_PROBE = ["--health-cmd", "sleep 5", "--health-interval", "1s"]


def top_commands(docker, container: str) -> list[str]:
    """The COMMAND column of ``docker top CONTAINER -o pid,args`` (``docker`` returns a command's stdout)."""
    return [line.split(None, 1)[1] for line in docker("top", container, "-o", "pid,args").splitlines()[1:]]


def wait_for_probe(docker, container: str) -> None:
    """Until the slow probe runs (it then runs for seconds: no exec is starting meanwhile)."""
    deadline = time.monotonic() + 20
    while "sleep 5" not in top_commands(docker, container):
        assert time.monotonic() < deadline, "the healthcheck probe never ran"
        time.sleep(0.1)


@pytest.fixture
def berth(docker_cli):
    made = []

    def run(*args: str) -> str:
        cid = docker_cli.out("run", "-d", *args)
        made.append(cid)
        return cid

    yield lambda *args: docker_cli.out(*args), run
    if made:
        docker_cli("rm", "-f", *made)


def test_top_of_an_init_container_is_docker_init_and_the_process(berth):
    docker, run = berth
    cid = run("--init", "busybox", "sleep", "1000")
    assert top_commands(docker, cid) == ["/sbin/docker-init -- sleep 1000", "sleep 1000"]


@pytest.mark.parametrize("init", [[], ["--init"]], ids=["plain", "init"])
def test_ps_inside_a_container_with_a_healthcheck_shows_only_its_processes(berth, init):
    docker, run = berth
    cid = run(*init, *SLOW_PROBE, "busybox", "sleep", "1000")
    wait_for_probe(docker, cid)
    seen = docker("exec", cid, "ps", "-o", "args").splitlines()[1:]
    own = ["/sbin/docker-init -- sleep 1000"] if init else []
    assert sorted(seen) == sorted([*own, "sleep 1000", "sleep 5", "ps -o args"])
    assert sorted(top_commands(docker, cid)) == sorted([*own, "sleep 1000", "sleep 5"])


def test_top_without_a_healthcheck_shows_only_the_process(berth):
    docker, run = berth
    cid = run("busybox", "sleep", "1000")
    assert top_commands(docker, cid) == ["sleep 1000"]
    assert docker("exec", cid, "ps", "-o", "args").splitlines()[1:] == ["sleep 1000", "ps -o args"]


@pytest.mark.parametrize("init", [[], ["--init"]], ids=["plain", "init"])
def test_the_pids_limit_counts_only_the_containers_processes(berth, init):
    docker, run = berth
    # the init (if any), sleep and the exec's shell: exactly the limit, so anything more would fail the exec
    limit = 3 if init else 2
    cid = run("--pids-limit", str(limit), *init, "busybox", "sleep", "1000")
    count, *pids = docker("exec", cid, "sh", "-c", COUNT).split()
    assert int(count) == len(pids) == limit


def test_the_same_processes_as_dockerd_with_init_and_a_probe(berth):
    """Side by side: the commands ``top`` shows for an --init container whose probe is running."""
    docker, run = berth
    real = peers.real_docker()
    cid = run("--init", *SLOW_PROBE, "busybox", "sleep", "1000")
    wait_for_probe(docker, cid)
    ours = sorted(top_commands(docker, cid))
    name = f"berth-processes-{int(time.time() * 1000)}"
    started = subprocess.run([*real, "run", "-d", "--name", name, "--network", "none", "--init", *SLOW_PROBE,
                              "busybox", "sleep", "1000"], capture_output=True, timeout=60)
    assert started.returncode == 0, started.stderr.decode()

    def theirs_top(*args):
        out = subprocess.run([*real, *args], capture_output=True, timeout=60)
        assert out.returncode == 0, out.stderr.decode()
        return out.stdout.decode().strip()

    try:
        wait_for_probe(theirs_top, name)
        assert sorted(top_commands(theirs_top, name)) == ours
    finally:
        subprocess.run([*real, "rm", "-f", name], capture_output=True, timeout=60)
