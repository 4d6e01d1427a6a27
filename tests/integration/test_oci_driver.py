"""The oci exec driver's own behaviour (the shared contract is in tests/integration/test_exec_kit.py).

Runs runc (and crun where this host lets it) for real; containers go under the
cgroup parent ``berth-kit`` and are force-deleted by the kit's harness.
"""

from __future__ import annotations

import json
import os
import signal
import socket

import pytest

from berth.errors import DriverError, ExecError, NotFound
from berth.hookspecs.types import IOConfig, RuntimeStatus
from berth.plugins.execdrivers.oci import runtime as runtimes
from berth.testing.exec_kit import ExecHarness, build_busybox_rootfs, remove_cgroup_parent

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not runtimes.find("runc"), reason="needs root and runc")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return build_busybox_rootfs(tmp_path_factory.mktemp("oci-rootfs"))


@pytest.fixture
def oci(tmp_path, template, request):
    harness = ExecHarness("oci", tmp_path, template, request.config)
    try:
        yield harness
    finally:
        harness.cleanup()
        remove_cgroup_parent()


# ---------------------------------------------------------------------------
# runtime choice and crun's hybrid-cgroup problem
# ---------------------------------------------------------------------------


def test_error_messages_become_dockers_exit_codes():
    runc_missing = 'runc create failed: unable to start container process: exec: "nope": executable file not found in $PATH'
    assert runtimes.exec_failure(runc_missing) == ('exec: "nope": executable file not found in $PATH', 127)
    runc_denied = 'runc create failed: unable to start container process: exec: "/etc/x": permission denied'
    assert runtimes.exec_failure(runc_denied) == ('exec: "/etc/x": permission denied', 126)
    crun_missing = "executable file `nope` not found in $PATH: No such file or directory"
    assert runtimes.exec_failure(crun_missing)[1] == 127
    assert runtimes.exec_failure("cgroups in hybrid mode not supported") is None
    log = '{"level":"warning","msg":"x"}\n{"level":"error","msg":"the real one"}\n'
    assert runtimes.error_text(log) == "the real one"


def test_crun_problem_matches_this_hosts_cgroup_layout():
    held = runtimes.hybrid_v2_controllers()
    problem = runtimes.crun_problem()
    assert (problem is None) == (not held)
    if held:
        assert "mount_hugetlb=true" in problem and held[0] in problem


def test_automatic_choice_explains_itself(tmp_path):
    runtime, note = runtimes.choose({}, str(tmp_path))
    if runtimes.find("crun") and runtimes.crun_problem():
        assert runtime.name == "runc" and "crun refuses" in note
    else:
        assert runtime.name in ("crun", "runc")


def test_asking_for_a_refused_crun_fails_with_the_fix(tmp_path, monkeypatch):
    # the hybrid layout crun refuses (v2 holding hugetlb, no v1 for it), whatever this host's layout is now
    monkeypatch.setattr(runtimes, "hybrid_v2_controllers", lambda: ["hugetlb"])
    monkeypatch.setattr(runtimes, "find", lambda name: f"/usr/bin/{name}")
    with pytest.raises(DriverError, match="mount_hugetlb=true"):
        runtimes.choose({"runtime": "crun"}, str(tmp_path))
    runtime, note = runtimes.choose({}, str(tmp_path))  # chosen automatically: runc, saying why
    assert runtime.name == "runc" and "crun refuses" in note


def test_unknown_runtime_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("BERTH_OCI_RUNTIME", "no-such-runtime")
    with pytest.raises(DriverError, match="not installed"):
        runtimes.choose({}, str(tmp_path))
    assert "not installed" in runtimes.usable_here()


def test_option_beats_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("BERTH_OCI_RUNTIME", "no-such-runtime")
    runtime, note = runtimes.choose({"runtime": "runc"}, str(tmp_path))
    assert runtime.name == "runc" and note == "chosen by option"


# ---------------------------------------------------------------------------
# the driver
# ---------------------------------------------------------------------------


def test_status_names_the_runtime(oci):
    status = dict(oci.exec.status())
    assert status["Runtime"].startswith(oci.driver.runtime.name)
    assert status["Runtime version"] != "unknown"


def test_failed_create_leaves_nothing(oci):
    with pytest.raises(ExecError) as info:
        oci.create(["/etc/hello.txt"])
    assert info.value.exit_code == 126 and "permission denied" in info.value.message
    cid = oci.created[-1]
    with pytest.raises(NotFound):
        oci.exec.state(cid)
    assert not os.path.exists(os.path.join(oci.driver.runtime.state_root, cid))


def test_bundle_is_our_copy_and_runtime_state_is_private(oci):
    cid, _ = oci.create(["true"])
    config = os.path.join(oci.root, cid, "bundle", "config.json")
    assert json.load(open(config))["hostname"] == "kitbox"
    assert os.path.isdir(os.path.join(oci.driver.runtime.state_root, cid))


def test_tty_comes_through_the_console_socket(oci, tmp_path):
    path = str(tmp_path / "tty.sock")
    cid, _ = oci.create(["sh", "-c", "read line; stty size; tty; echo got $line"], tty=True,
                        io=IOConfig(log_path=str(tmp_path / "tty.log"), attach_socket=path, tty=True, open_stdin=True))
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(path)
        oci.exec.start(cid)
        oci.exec.resize(cid, 33, 101)
        client.sendall(b"hi\n")
        data = b""
        while chunk := client.recv(65536):
            data += chunk
    finally:
        client.close()
    assert b"33 101" in data and b"/dev/pts/0" in data and b"got hi" in data
    assert oci.exec.wait(cid, 60).exit_code == 0


def test_top_update_and_stats(oci):
    cid, state = oci.create(["sh", "-c", "sleep 1000 & wait"])
    oci.exec.start(cid)
    pids = oci.exec.top(cid)
    assert state.pid in pids and len(pids) == 2
    oci.exec.update(cid, {"pids": {"limit": 40}})
    assert open(f"/sys/fs/cgroup/pids/berth-kit/{cid}/pids.max").read().strip() == "40"
    stats = oci.exec.stats(cid)
    assert stats["pids_stats"]["current"] == 2 and stats["pids_stats"]["limit"] == 40


def test_container_outlives_the_driver_instance(oci):
    cid, state = oci.create(["sh", "-c", "echo alive; exec sleep 1000"])
    oci.exec.start(cid)
    monitor = json.load(open(os.path.join(oci.root, cid, "state.json")))["monitor_pid"]
    fresh = oci.new_instance()
    assert fresh.restore(cid).status == RuntimeStatus.RUNNING and fresh.restore(cid).pid == state.pid
    fresh.kill(cid, signal.SIGTERM)  # pid 1 ignores TERM
    assert fresh.wait(cid, 0.3).status == RuntimeStatus.RUNNING
    fresh.kill(cid, signal.SIGKILL)
    assert fresh.wait(cid, 60).exit_code == 137
    assert oci.output(cid) == "alive\n"
    fresh.delete(cid)
    assert not os.path.exists(f"/proc/{monitor}/cmdline") or not open(f"/proc/{monitor}/cmdline").read()
