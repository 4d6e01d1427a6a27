"""``kill -9`` of berthd inside an operation (``BERTH_CRASH_AT``, see ``berth.crashpoints``): after a restart
the store and the containers are consistent — no half layer, no orphan mount, cgroup or veth, every container
re-adopted or recorded as exited with the reason — and the operation can be repeated.

Each test arms one point, runs the operation until berthd kills itself, starts a fresh berthd on the same
data-root, checks what the operation's object became and repeats the operation, then removes everything
and scans the host for anything still held (``tests/leakscan.py``). The module's daemons run on overlay,
so a leaked mount shows; the one with the default bridge runs in a network namespace of its own.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess

import pytest

from berth.containers.restore import INTERRUPTED_REMOVAL, INTERRUPTED_START
from tests import leakscan
from tests.crashing import assert_nothing_left, assert_store_consistent, crash_at, crash_daemon, ok, state_of


@pytest.fixture(scope="module")
def hostd(suite_tmp, busybox_path):
    """A berthd without networks of its own (``--bridge none``)."""
    with crash_daemon(suite_tmp) as d:
        yield d


@pytest.fixture(scope="module")
def netd(suite_tmp, busybox_path):
    """A berthd with the default bridge, in a network namespace this fixture made."""
    netns = "berth-test-" + secrets.token_hex(4)
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        subprocess.run(["nsenter", f"--net=/run/netns/{netns}", "ip", "link", "set", "lo", "up"], check=True)
        with crash_daemon(suite_tmp, netns) as d:
            yield d
    finally:
        subprocess.run(["ip", "netns", "delete", netns], check=False)


# ---------------------------------------------------------------------------
# create, start, stop, rm
# ---------------------------------------------------------------------------


def test_a_create_cut_short_leaves_no_container_and_no_layers(hostd):
    ids = crash_at(hostd, "create.after_layers", "create", "--name", "half", "busybox", "true")
    assert ok(hostd.cli("ps", "-aq")) == ""
    assert_store_consistent(hostd)
    ok(hostd.cli("create", "--name", "half", "busybox", "true"))
    assert_nothing_left(hostd, ids)


def test_a_start_cut_short_before_the_runtime_leaves_the_container_created_and_unmounted(hostd):
    ok(hostd.cli("create", "--name", "mounted", "busybox", "sleep", "60"))
    ids = crash_at(hostd, "start.after_mount", "start", "mounted")
    assert state_of(hostd, "mounted")["Status"] == "created"
    assert leakscan.mounts_under(hostd.base) == []
    ok(hostd.cli("start", "mounted"))
    assert state_of(hostd, "mounted")["Status"] == "running"
    assert_nothing_left(hostd, ids)


@pytest.mark.parametrize("point", ["start.after_runtime", "start.after_process"])
def test_a_start_cut_short_after_the_runtime_is_undone_and_recorded_as_exited(hostd, point):
    ok(hostd.cli("create", "--name", "started", "busybox", "sleep", "60"))
    ids = crash_at(hostd, point, "start", "started")
    state = state_of(hostd, "started")
    assert (state["Status"], state["ExitCode"], state["Error"]) == ("exited", 128, INTERRUPTED_START)
    assert leakscan.runtime_leftovers(hostd.base, hostd.exec_root, ids) == []
    ok(hostd.cli("start", "started"))
    assert state_of(hostd, "started")["Running"]
    assert_nothing_left(hostd, ids)


def test_a_start_cut_short_after_joining_the_bridge_releases_the_endpoint_and_the_port(netd):
    ok(netd.cli("create", "--name", "joined", "-p", "8080:80", "busybox", "sleep", "60"))
    ids = crash_at(netd, "start.after_join", "start", "joined")
    assert state_of(netd, "joined")["Error"] == INTERRUPTED_START
    assert leakscan.runtime_leftovers(netd.base, netd.exec_root, ids, netns=netd.netns) == []
    ok(netd.cli("start", "joined"))
    assert ok(netd.cli("port", "joined")) == "80/tcp -> 0.0.0.0:8080"
    cid = ok(netd.cli("inspect", "-f", "{{.Id}}", "joined"))
    assert leakscan.runtime_leftovers(netd.base, netd.exec_root, ids, running={cid}, netns=netd.netns) == []
    assert_nothing_left(netd, ids)


def test_a_stop_cut_short_after_the_signal_readopts_a_container_that_ignored_it(hostd):
    ok(hostd.cli("run", "-d", "--name", "stubborn", "busybox", "sleep", "600"))  # pid 1 ignores SIGTERM
    ids = crash_at(hostd, "stop.after_signal", "stop", "-t", "30", "stubborn")
    assert state_of(hostd, "stubborn")["Status"] == "running"
    ok(hostd.cli("stop", "-t", "1", "stubborn"))
    state = state_of(hostd, "stubborn")
    assert (state["Status"], state["ExitCode"]) == ("exited", 137)
    assert_nothing_left(hostd, ids)


def test_a_stop_cut_short_records_the_exit_that_happened_meanwhile(hostd):
    ok(hostd.cli("run", "-d", "--name", "obliging", "--restart", "always", "busybox", "sh", "-c",
                 "trap 'exit 3' TERM; while :; do sleep 0.1; done"))
    ids = crash_at(hostd, "stop.after_signal", "stop", "obliging")
    state = state_of(hostd, "obliging")
    assert (state["Status"], state["ExitCode"]) == ("exited", 3)  # stopped by hand: no restart at boot
    assert_nothing_left(hostd, ids)


@pytest.mark.parametrize("point", ["rm.after_teardown", "rm.after_layers"])
def test_a_removal_cut_short_leaves_a_dead_container_that_rm_removes(hostd, point):
    ok(hostd.cli("run", "-d", "--name", "doomed", "-v", "/data", "busybox", "sleep", "600"))
    ids = crash_at(hostd, point, "rm", "-fv", "doomed")
    state = state_of(hostd, "doomed")
    assert (state["Status"], state["Error"]) == ("dead", INTERRUPTED_REMOVAL)
    assert leakscan.runtime_leftovers(hostd.base, hostd.exec_root, ids) == []
    ok(hostd.cli("rm", "-v", "doomed"))
    assert ok(hostd.cli("ps", "-aq")) == "" and ok(hostd.cli("volume", "ls", "-q")) == ""
    assert_nothing_left(hostd, ids)


# ---------------------------------------------------------------------------
# commit, build, network connect, volume rm
# ---------------------------------------------------------------------------


def test_a_commit_cut_short_stores_no_image_and_no_layer(hostd):
    ok(hostd.cli("run", "--name", "changed", "busybox", "sh", "-c", "echo new > /file"))
    images = ok(hostd.cli("images", "-aq"))
    ids = crash_at(hostd, "commit.after_layer", "commit", "changed", "committed:1")
    assert ok(hostd.cli("images", "-aq")) == images
    assert_store_consistent(hostd)
    ok(hostd.cli("commit", "changed", "committed:1"))
    assert ok(hostd.cli("run", "--rm", "committed:1", "cat", "/file")) == "new"
    ok(hostd.cli("rmi", "committed:1"))
    assert_nothing_left(hostd, ids)


@pytest.mark.parametrize("point, step", [("build.after_run", "RUN echo built > /built"),
                                         ("build.mid_copy", "COPY built /built")])
def test_a_build_cut_short_in_a_step_stores_no_half_image_and_can_run_again(hostd, tmp_path, point, step):
    (tmp_path / "Dockerfile").write_text(f"FROM busybox\n{step}\n")
    (tmp_path / "built").write_text("built\n")
    images = ok(hostd.cli("images", "-aq"))
    ids = crash_at(hostd, point, "build", "-t", "half-built", str(tmp_path))
    assert ok(hostd.cli("images", "-aq")) == images
    assert_store_consistent(hostd)
    hostd.remove_everything()  # a RUN step's container stays, exited, as dockerd's does
    ok(hostd.cli("build", "-t", "half-built", str(tmp_path)))
    assert ok(hostd.cli("run", "--rm", "half-built", "cat", "/built")) == "built"
    ok(hostd.cli("rmi", "half-built"))
    assert_nothing_left(hostd, ids)


def test_a_connect_cut_short_is_undone_and_can_be_repeated(netd):
    ok(netd.cli("network", "create", "late"))
    cid = ok(netd.cli("run", "-d", "--name", "connected", "busybox", "sleep", "600"))
    try:
        ids = crash_at(netd, "connect.after_join", "network", "connect", "late", "connected")
        state = json.loads(ok(netd.cli("inspect", "connected")))[0]
        assert state["State"]["Running"]
        assert sorted(state["NetworkSettings"]["Networks"]) == ["bridge"]
        assert leakscan.bridge_endpoint_records(netd.data_root)["late"]["endpoints"] == {}
        assert leakscan.runtime_leftovers(netd.base, netd.exec_root, ids, running={cid}, netns=netd.netns) == []
        ok(netd.cli("network", "connect", "late", "connected"))
        assert "late" in ok(netd.cli("inspect", "-f", "{{json .NetworkSettings.Networks}}", "connected"))
        assert_nothing_left(netd, ids)
    finally:
        netd.remove_everything()
        netd.cli("network", "rm", "late")


def test_a_volume_removal_cut_short_leaves_no_half_removed_volume(hostd):
    ok(hostd.cli("run", "--rm", "-v", "precious:/data", "busybox", "sh", "-c", "echo x > /data/file"))
    ids = crash_at(hostd, "volume_rm.mid_remove", "volume", "rm", "precious")
    assert ok(hostd.cli("volume", "ls", "-q")) == ""
    assert not [e for e in os.listdir(os.path.join(hostd.data_root, "volumes")) if e.startswith(".")]
    ok(hostd.cli("volume", "create", "precious"))
    assert ok(hostd.cli("run", "--rm", "-v", "precious:/data", "busybox", "ls", "/data")) == ""
    assert_nothing_left(hostd, ids)

