"""Healthchecks seen through the real docker CLI, on berthd and side by side with the real dockerd."""

from __future__ import annotations

import json
import subprocess
import time

from tests import peers
from tests.e2e.conftest import DOCKER

RUN_FLAGS = ["--health-interval", "1s", "--health-retries", "2"]


def poll(read, want: str, deadline: float = 20) -> str:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        got = read()
        if got == want:
            return got
        time.sleep(0.1)
    raise AssertionError(f"wanted {want!r}, last saw {got!r}")


def test_docker_ps_and_inspect_follow_a_containers_health(docker_cli):
    cid = docker_cli.out("run", "-d", "--health-cmd", "test -e /tmp/ok", "--health-interval", "200ms",
                         "--health-retries", "1", "busybox", "sleep", "1000")

    def status():
        return docker_cli.out("inspect", "--format", "{{.State.Health.Status}}", cid)

    def ps_status():
        return docker_cli.out("ps", "--filter", f"id={cid}", "--format", "{{.Status}}").rpartition(" (")[2]

    poll(status, "unhealthy")
    assert ps_status() == "unhealthy)"
    assert docker_cli.out("ps", "-q", "--no-trunc", "--filter", "health=unhealthy").splitlines().count(cid) == 1
    docker_cli("exec", cid, "touch", "/tmp/ok")
    poll(status, "healthy")
    assert ps_status() == "healthy)"
    assert cid in docker_cli.out("ps", "-q", "--no-trunc", "--filter", "health=healthy").splitlines()
    docker_cli("rm", "-f", cid)


def test_docker_run_with_no_healthcheck_leaves_no_health(docker_cli):
    cid = docker_cli.out("run", "-d", "--no-healthcheck", "busybox", "sleep", "1000")
    assert docker_cli.out("inspect", "--format", "{{json .Config.Healthcheck}} {{json .State.Health}}", cid) == \
        '{"Test":["NONE"]} null'
    docker_cli("rm", "-f", cid)


def _trace(docker: list[str], name: str) -> dict:
    """Run a failing healthcheck with ``docker``; what inspect, ps and events show once it is unhealthy."""
    since = str(int(time.time()))
    run = subprocess.run([*docker, "run", "-d", "--name", name, "--network", "none", "--health-cmd", "echo hi; exit 1",
                          *RUN_FLAGS, "busybox", "sleep", "1000"], capture_output=True, timeout=60)
    assert run.returncode == 0, run.stderr.decode()
    try:
        def status():
            out = subprocess.run([*docker, "inspect", "--format", "{{.State.Health.Status}}", name],
                                 capture_output=True, timeout=30)
            return out.stdout.decode().strip()

        poll(status, "unhealthy", deadline=60)
        inspect = json.loads(subprocess.run([*docker, "inspect", name], capture_output=True, timeout=30).stdout)[0]
        ps = subprocess.run([*docker, "ps", "--filter", f"name={name}", "--format", "{{.Status}}"],
                            capture_output=True, timeout=30).stdout.decode().strip()
        events = subprocess.run([*docker, "events", "--since", since, "--until", str(int(time.time()) + 1),
                                 "--filter", f"container={name}", "--filter", "event=health_status",
                                 "--format", "{{json .}}"], capture_output=True, timeout=30).stdout.decode()
    finally:
        subprocess.run([*docker, "rm", "-f", name], capture_output=True, timeout=60)
    health = inspect["State"]["Health"]
    return {
        "config": inspect["Config"]["Healthcheck"], "health_keys": sorted(health),
        "log_keys": sorted(health["Log"][0]), "status": health["Status"], "output": health["Log"][0]["Output"],
        "exit_code": health["Log"][0]["ExitCode"], "ps_suffix": ps.rpartition(" ")[2],
        "events": [(e["Action"], sorted(e["Actor"]["Attributes"])) for e in map(json.loads, events.splitlines())],
    }


def test_health_looks_as_on_the_real_dockerd(docker_cli):
    dockerd = _trace(peers.real_docker(), f"berth-health-peer-{int(time.time())}")
    berthd = _trace([DOCKER, "-H", docker_cli.daemon.host], "berth-health")
    assert berthd == dockerd
    assert berthd["events"] == [("health_status: unhealthy", ["image", "name"])]
