"""Device control and freezing on cgroup v2, in the kernel.

This host is hybrid: its v1 device controller lets everything through at the
root, and its unified hierarchy (cgroup2 without controllers) still runs
cgroup-device eBPF programs and has ``cgroup.freeze``. Each test makes its own
cgroup there, puts a forked process in it and watches what the kernel lets that
process do; the cgroup is removed afterwards.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import time

import pytest

from berth.containers.spec import DEFAULT_DEVICE_RULES
from berth.errors import DriverError
from berth.plugins.execdrivers.native import bpf, devicefilter
from berth.plugins.execdrivers.native.cgroups2 import CgroupsV2
from berth.plugins.execdrivers.native.devicefilter import DeviceControlError

pytestmark = pytest.mark.integration


def _unified_mount() -> str | None:
    with open("/proc/self/mountinfo") as f:
        for line in f:
            head, _, tail = line.partition(" - ")
            if tail.split()[0] == "cgroup2":
                return head.split()[4]
    return None


UNIFIED = _unified_mount()


def _usable_block_device(scratch: str) -> tuple[int, int]:
    """(major, minor) of a block device this test process may open: a disk or a loop device.

    The sandbox a test runs in may itself forbid some (this one forbids its disk), so each
    candidate is tried through a node made in ``scratch``.
    """
    with open("/proc/partitions") as f:
        listed = [(int(line.split()[0]), int(line.split()[1])) for line in f.read().splitlines()[2:] if line.strip()]
    for major, minor in listed + [(7, n) for n in range(8)]:
        node = os.path.join(scratch, f"probe-{major}-{minor}")
        os.mknod(node, 0o60600, os.makedev(major, minor))
        try:
            os.close(os.open(node, os.O_RDONLY | os.O_CLOEXEC))
            return major, minor
        except OSError:
            continue
        finally:
            os.unlink(node)
    pytest.fail("no block device can be opened here (none in /proc/partitions, no loop device)")


@pytest.fixture
def cgroup():
    """A fresh cgroup in the unified hierarchy, with nothing attached; removed (killing its processes) afterwards."""
    if UNIFIED is None:
        pytest.fail("no cgroup2 hierarchy is mounted on this host")
    cg = CgroupsV2(f"/berth-devtest-{os.getpid()}-{time.monotonic_ns()}", root=UNIFIED)
    os.mkdir(cg.directory)
    yield cg
    for pid in cg.procs():
        os.kill(pid, signal.SIGKILL)
    cg.destroy()


def in_cgroup(cg: CgroupsV2, action) -> object:
    """Run ``action()`` in a child process that first joins ``cg``; return what it returned (JSON)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            cg.join(0)
            os.write(write, json.dumps(action()).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        out = f.read()
    os.waitpid(pid, 0)
    return json.loads(out)


def open_node(directory: str, name: str, kind: str, major: int, minor: int, flags: int = os.O_RDONLY):
    """mknod then open (and read a block) as the kernel allows: "ok" or the errno's name for each step."""
    def action():
        path = os.path.join(directory, name)
        mode = (0o60600 if kind == "b" else 0o20600)
        try:
            os.mknod(path, mode, os.makedev(major, minor))
        except OSError as exc:
            return ["mknod " + errno.errorcode[exc.errno]]
        try:
            fd = os.open(path, flags | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as exc:
            return ["mknod ok", "open " + errno.errorcode[exc.errno]]
        try:
            if kind == "b":
                os.read(fd, 512)
            return ["mknod ok", "open ok"]
        finally:
            os.close(fd)
    return action


# -- the program in the kernel ------------------------------------------------------------------


def test_a_block_device_node_is_usable_without_the_program(cgroup, tmp_path):
    major, minor = _usable_block_device(str(tmp_path))
    assert in_cgroup(cgroup, open_node(str(tmp_path), "disk", "b", major, minor)) == ["mknod ok", "open ok"]


def test_under_the_default_allowlist_a_block_device_can_be_made_but_not_opened(cgroup, tmp_path):
    major, minor = _usable_block_device(str(tmp_path))
    cgroup.apply({"devices": DEFAULT_DEVICE_RULES})
    assert in_cgroup(cgroup, open_node(str(tmp_path), "disk", "b", major, minor)) == ["mknod ok", "open EPERM"]


def test_under_the_default_allowlist_a_char_device_outside_it_cannot_be_opened(cgroup, tmp_path):
    cgroup.apply({"devices": DEFAULT_DEVICE_RULES})
    assert in_cgroup(cgroup, open_node(str(tmp_path), "mem", "c", 1, 1)) == ["mknod ok", "open EPERM"]
    assert in_cgroup(cgroup, open_node(str(tmp_path), "kmsg", "c", 1, 11)) == ["mknod ok", "open EPERM"]


def test_under_the_default_allowlist_dev_null_opens(cgroup, tmp_path):
    cgroup.apply({"devices": DEFAULT_DEVICE_RULES})
    assert in_cgroup(cgroup, lambda: os.close(os.open("/dev/null", os.O_RDWR))) is None
    assert in_cgroup(cgroup, open_node(str(tmp_path), "null", "c", 1, 3, os.O_RDWR)) == ["mknod ok", "open ok"]


def test_a_device_rule_adds_exactly_what_it_names(cgroup, tmp_path):
    major, minor = _usable_block_device(str(tmp_path))
    cgroup.apply({"devices": [*DEFAULT_DEVICE_RULES,
                              {"allow": True, "type": "b", "major": major, "minor": minor, "access": "r"}]})
    assert in_cgroup(cgroup, open_node(str(tmp_path), "disk", "b", major, minor)) == ["mknod ok", "open ok"]
    # not the write access it did not name, not the next minor, not the char device of the same numbers
    assert in_cgroup(cgroup, open_node(str(tmp_path), "disk-rw", "b", major, minor, os.O_RDWR)) == \
        ["mknod ok", "open EPERM"]
    assert in_cgroup(cgroup, open_node(str(tmp_path), "next", "b", major, minor + 1)) == ["mknod ok", "open EPERM"]
    assert in_cgroup(cgroup, open_node(str(tmp_path), "chr", "c", major, minor)) == ["mknod ok", "open EPERM"]


def test_without_mknod_access_no_node_can_be_made(cgroup, tmp_path):
    cgroup.apply({"devices": [{"allow": False, "access": "rwm"}]})
    assert in_cgroup(cgroup, open_node(str(tmp_path), "null", "c", 1, 3)) == ["mknod EPERM"]


# -- attaching, finding, replacing, removing ---------------------------------------------------------


def test_the_program_is_found_on_the_cgroup_by_name(cgroup):
    assert cgroup.device_programs() == []
    cgroup.apply({"devices": DEFAULT_DEVICE_RULES})
    [program] = cgroup.device_programs()
    assert program["name"] == devicefilter.PROGRAM_NAME


def test_applying_again_replaces_the_program(cgroup, tmp_path):
    cgroup.apply({"devices": DEFAULT_DEVICE_RULES})
    [first] = cgroup.device_programs()
    cgroup.apply({"devices": [{"allow": False, "access": "rwm"}]})
    [second] = cgroup.device_programs()
    assert second["id"] != first["id"]
    assert in_cgroup(cgroup, open_node(str(tmp_path), "null", "c", 1, 3)) == ["mknod EPERM"]


def test_applying_without_device_rules_leaves_the_program(cgroup):
    cgroup.apply({"devices": DEFAULT_DEVICE_RULES})
    before = cgroup.device_programs()
    cgroup.apply({"pids": {}})
    assert cgroup.device_programs() == before


def test_destroy_detaches_and_frees_the_program(cgroup):
    cgroup.apply({"devices": DEFAULT_DEVICE_RULES})
    [program] = cgroup.device_programs()
    cgroup.destroy()
    assert not cgroup.exists()
    with pytest.raises(OSError) as failed:
        os.close(bpf.program_fd(program["id"]))
    assert failed.value.errno == errno.ENOENT


def test_attaching_to_a_directory_that_is_no_cgroup_fails_closed(tmp_path):
    with pytest.raises(DeviceControlError, match="cannot attach the device-control eBPF program"):
        devicefilter.install(str(tmp_path), DEFAULT_DEVICE_RULES)


# -- re-adoption ----------------------------------------------------------------------------------


@pytest.fixture
def native(tmp_path, cgroup, monkeypatch):
    """A native driver whose containers' cgroups are ``cgroup`` (a v2 one), with a record for a live process."""
    from berth.plugins.execdrivers.native import driver as native_driver

    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps({"linux": {"resources": {"devices": DEFAULT_DEVICE_RULES}}}))
    monkeypatch.setattr(native_driver.NativeDriver, "_cgroups", staticmethod(lambda record: cgroup))
    drv = native_driver.NativeDriver.__new__(native_driver.NativeDriver)
    drv.root = str(tmp_path / "exec")
    joined_r, joined_w = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            cgroup.join(0)
            os.write(joined_w, b"j")
            time.sleep(60)
        finally:
            os._exit(0)  # never back into pytest
    os.close(joined_w)
    assert os.read(joined_r, 1) == b"j", "the child died before joining its cgroup"  # else a kill could miss it
    os.close(joined_r)
    record = {"bundle": str(bundle), "pid": child, "cgroup_path": cgroup.path, "status": "running"}
    yield drv, record, child
    try:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    except (ProcessLookupError, ChildProcessError):
        pass  # killed and reaped by the test


def test_readoption_keeps_the_program_it_finds(native, cgroup):
    drv, record, _ = native
    cgroup.apply({"devices": DEFAULT_DEVICE_RULES})
    before = cgroup.device_programs()
    drv._recheck_devices("c1", record)
    assert cgroup.device_programs() == before


def test_readoption_puts_a_missing_program_back_from_the_spec(native, cgroup, tmp_path):
    drv, record, _ = native
    drv._recheck_devices("c1", record)
    [program] = cgroup.device_programs()
    assert program["name"] == devicefilter.PROGRAM_NAME
    assert in_cgroup(cgroup, open_node(str(tmp_path), "mem", "c", 1, 1)) == ["mknod ok", "open EPERM"]


def test_readoption_kills_a_container_whose_program_cannot_be_restored(native, monkeypatch):
    drv, record, child = native

    def refuse(*args):
        raise DeviceControlError(errno.EPERM, "cannot attach (test)")

    monkeypatch.setattr(devicefilter, "install", refuse)
    with pytest.raises(DriverError, match="lost its device control"):
        drv._recheck_devices("c1", record)
    _, status = os.waitpid(child, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


# -- freezing ---------------------------------------------------------------------------------------


def test_freeze_and_thaw_through_cgroup_freeze(cgroup, tmp_path):
    counter = tmp_path / "counter"
    child = os.fork()
    if child == 0:
        cgroup.join(0)
        n = 0
        while True:
            n += 1
            counter.write_text(str(n))
            time.sleep(0.01)
    try:
        while not counter.exists():
            time.sleep(0.01)
        cgroup.freeze()
        assert "frozen 1" in open(os.path.join(cgroup.directory, "cgroup.events")).read()
        frozen_at = counter.read_text()
        time.sleep(0.2)
        assert counter.read_text() == frozen_at
        cgroup.thaw()
        assert not cgroup.frozen()
        time.sleep(0.2)
        assert counter.read_text() != frozen_at
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
