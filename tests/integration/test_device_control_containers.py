"""Real containers under the cgroup v2 device program: run, --device, pause, re-adoption, fail closed.

This host is hybrid (its v1 devices controller serves the native driver), so the
daemon here runs with ``BERTH_NATIVE_CGROUP2_ROOT`` pointing at the controller-less
unified hierarchy: its containers live only there, under the eBPF program, exactly
as on a pure cgroup v2 host (minus the resource controllers, which no test here asks for).
"""

from __future__ import annotations

import os
import secrets
import signal
import time

import pytest

from berth.plugins.execdrivers.native import bpf, devicefilter
from berth.plugins.execdrivers.native.cgroups2 import NATIVE_ROOT_ENV
from tests.integration.test_device_control import UNIFIED, _usable_block_device

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def block(tmp_path_factory):
    """(major, minor) of a block device the host lets this process open."""
    return _usable_block_device(str(tmp_path_factory.mktemp("probe")))


@pytest.fixture
def v2(make_daemon):
    """A berthd whose containers' cgroups are in the unified hierarchy only."""
    if UNIFIED is None:
        pytest.fail("no cgroup2 hierarchy is mounted on this host")
    d = make_daemon(["-s", "vfs"], env={NATIVE_ROOT_ENV: UNIFIED}).start()
    assert d.cli("image", "bootstrap", "busybox").returncode == 0, d.log()
    return d


def run(daemon, *args: str):
    result = daemon.cli("run", "--rm", *args)
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def test_a_container_can_make_a_block_device_node_but_not_open_it(v2, block):
    code, out, err = run(v2, "busybox", "sh", "-c", f"mknod /b b {block[0]} {block[1]} && echo made && head -c1 /b")
    assert "made" in out and "Operation not permitted" in err and code != 0


def test_a_container_cannot_open_a_char_device_outside_the_allowlist(v2):
    code, out, err = run(v2, "busybox", "sh", "-c", "mknod /mem c 1 1 && head -c1 /mem")
    assert "Operation not permitted" in err and code != 0


def test_the_default_devices_open(v2):
    code, out, err = run(v2, "busybox", "sh", "-c", "echo x > /dev/null && head -c4 /dev/zero | wc -c && echo ok")
    assert code == 0 and out.split() == ["4", "ok"], err


def test_the_device_flag_adds_exactly_the_device_it_names(v2, block):
    major, minor = block
    host = f"/dev/berth-test-{secrets.token_hex(3)}"
    os.mknod(host, 0o60600, os.makedev(major, minor))
    try:
        code, out, err = run(v2, "--device", f"{host}:/dev/disk:r", "busybox", "sh", "-c",
                             f"head -c1 /dev/disk >/dev/null && echo read-ok; "
                             f"echo x > /dev/disk || echo write-refused; "
                             f"mknod /other b {major} {minor + 1}; head -c1 /other >/dev/null || echo other-refused")
    finally:
        os.unlink(host)
    assert out.split() == ["read-ok", "write-refused", "other-refused"], err


def test_a_device_cgroup_rule_grants_what_it_says(v2, block):
    major, minor = block
    code, out, err = run(v2, "--device-cgroup-rule", f"b {major}:{minor} r", "busybox", "sh", "-c",
                         f"mknod /d b {major} {minor} && head -c1 /d >/dev/null && echo read-ok")
    assert code == 0 and out.strip() == "read-ok", err


def _cgroup_dir(container_id: str) -> str:
    return os.path.join(UNIFIED, "berth", container_id)


def test_pause_and_unpause_go_through_cgroup_freeze(v2):
    cid = v2.cli("run", "-d", "busybox", "sleep", "60").stdout.decode().strip()
    events = os.path.join(_cgroup_dir(cid), "cgroup.events")
    assert v2.cli("pause", cid).returncode == 0
    assert "frozen 1" in open(events).read()
    assert v2.cli("inspect", "-f", "{{.State.Status}}", cid).stdout.decode().strip() == "paused"
    assert v2.cli("unpause", cid).returncode == 0
    assert "frozen 0" in open(events).read()
    assert v2.cli("rm", "-f", cid).returncode == 0


def test_removal_detaches_the_program_and_the_cgroup_goes(v2):
    cid = v2.cli("run", "-d", "busybox", "sleep", "60").stdout.decode().strip()
    [program] = devicefilter.attached(_cgroup_dir(cid))
    assert program["name"] == devicefilter.PROGRAM_NAME
    assert v2.cli("rm", "-f", cid).returncode == 0
    assert not os.path.exists(_cgroup_dir(cid))
    with pytest.raises(OSError):
        os.close(bpf.program_fd(program["id"]))  # freed


def test_a_restarted_daemon_finds_the_program_and_puts_back_a_lost_one(v2):
    cid = v2.cli("run", "-d", "busybox", "sleep", "60").stdout.decode().strip()
    before = devicefilter.attached(_cgroup_dir(cid))
    v2.stop(signal.SIGKILL)
    v2.start()
    assert devicefilter.attached(_cgroup_dir(cid)) == before  # re-adopted as it was
    v2.stop(signal.SIGKILL)
    devicefilter.remove(_cgroup_dir(cid))  # someone detaches it while berthd is away
    v2.start()
    [program] = devicefilter.attached(_cgroup_dir(cid))
    assert program["name"] == devicefilter.PROGRAM_NAME and program["id"] != before[0]["id"]
    assert v2.cli("inspect", "-f", "{{.State.Running}}", cid).stdout.decode().strip() == "true"
    assert v2.cli("rm", "-f", cid).returncode == 0


@pytest.fixture
def exclusive_parent():
    """A parent cgroup holding a device program attached exclusively: the kernel refuses any below it."""
    name = f"berth-failclosed-{secrets.token_hex(3)}"
    directory = os.path.join(UNIFIED, name)
    os.mkdir(directory)
    prog = bpf.load_program(devicefilter.compile_rules([{"allow": True, "access": "rwm"}]), "berth_test_excl")
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        bpf.attach(fd, prog, flags=0)
    finally:
        os.close(fd)
        os.close(prog)
    yield name
    if os.path.isdir(directory):
        devicefilter.remove(directory)
        for _ in range(100):
            try:
                os.rmdir(directory)
                break
            except OSError:
                time.sleep(0.05)


def test_a_container_whose_program_cannot_be_attached_does_not_start(v2, exclusive_parent, tmp_path):
    code, out, err = run(v2, "--cgroup-parent", exclusive_parent, "-v", f"{tmp_path}:/mark", "busybox",
                         "touch", "/mark/ran")
    assert code != 0 and "cannot attach the device-control eBPF program" in err, (out, err)
    assert not (tmp_path / "ran").exists()
    assert v2.cli("ps", "-aq").stdout.decode().split() == []
