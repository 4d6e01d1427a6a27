"""Live restore: containers outlive berthd, a new berthd takes them back with every log line; a container whose
monitor dies is reported exited with the reason and can be removed."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import time

import pytest

from berth.containers.exits import MONITOR_DIED
from tests import leakscan
from tests.crashing import ok

COUNTER = "i=0; while :; do echo line-$i; i=$((i+1)); usleep 200000; done"


@pytest.fixture
def berthd(make_daemon, busybox_path):
    d = make_daemon(args=["-s", "overlay"]).start()
    ok(d.cli("image", "bootstrap", "busybox"))
    return d


def monitor_pid(d, cid: str) -> int:
    with open(os.path.join(d.exec_root, "native", cid, "state.json")) as f:
        return json.load(f)["monitor_pid"]


def wait_for(predicate, timeout: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def assert_counted_without_gaps(log: str) -> int:
    numbers = [int(line.split("-", 1)[1]) for line in log.split()]
    assert numbers == list(range(len(numbers)))
    return len(numbers)


def test_sigterm_with_50_running_containers_leaves_them_running_and_a_new_daemon_readopts_every_one(berthd):
    d = berthd
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda i: ok(d.cli("run", "-d", "--name", f"c{i}", "busybox", "sh", "-c", COUNTER)),
                            range(50)))
    pids = {cid: int(ok(d.cli("inspect", "-f", "{{.State.Pid}}", cid))) for cid in ids}
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(15) == 0  # promptly, and cleanly
    d.logfile.close()
    assert all(os.path.exists(f"/proc/{pid}") for pid in pids.values())
    time.sleep(1.5)  # the containers write on while no daemon runs
    d.start()
    states = json.loads(ok(d.cli("inspect", *ids)))
    assert [(s["State"]["Status"], s["State"]["Pid"]) for s in states] == [("running", pids[s["Id"]]) for s in states]
    before = {cid: assert_counted_without_gaps(ok(d.cli("logs", cid))) for cid in ids}
    time.sleep(1)
    for cid in ids:  # still logging, through the new daemon's eyes too, and nothing was lost
        assert assert_counted_without_gaps(ok(d.cli("logs", cid))) > before[cid]
    d.remove_everything()
    assert leakscan.runtime_leftovers(d.base, d.exec_root, set(ids)) == []


def test_a_container_whose_monitor_is_killed_is_reported_exited_with_the_reason_and_removable(berthd):
    d = berthd
    cid = ok(d.cli("run", "-d", "--name", "orphaned", "busybox", "sh", "-c", COUNTER))
    pid = int(ok(d.cli("inspect", "-f", "{{.State.Pid}}", cid)))
    os.kill(monitor_pid(d, cid), signal.SIGKILL)
    state = wait_for(lambda: (s := json.loads(ok(d.cli("inspect", cid)))[0]["State"])["Status"] == "exited" and s,
                     what="the exit to be recorded")
    assert (state["ExitCode"], state["Error"]) == (137, MONITOR_DIED)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), what="the container's process to go")
    ok(d.cli("rm", cid))
    assert leakscan.runtime_leftovers(d.base, d.exec_root, {cid}) == []


def test_a_container_whose_monitor_died_while_no_daemon_ran_is_reported_exited_with_the_reason(berthd):
    d = berthd
    cid = ok(d.cli("run", "-d", "--name", "unwatched", "busybox", "sleep", "600"))
    pid = int(ok(d.cli("inspect", "-f", "{{.State.Pid}}", cid)))
    d.stop()
    os.kill(monitor_pid(d, cid), signal.SIGKILL)
    d.start()
    state = json.loads(ok(d.cli("inspect", cid)))[0]["State"]
    assert (state["Status"], state["ExitCode"], state["Error"]) == ("exited", 137, MONITOR_DIED)
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    ok(d.cli("rm", cid))
    assert leakscan.runtime_leftovers(d.base, d.exec_root, {cid}) == []
