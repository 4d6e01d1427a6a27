"""The native driver's cgroup v2 writer against a fake cgroupfs tree (this host is v1, so no kernel is involved)."""

from __future__ import annotations

import pytest

from berth.plugins.execdrivers.native.cgroups2 import CgroupsV2, blkio_to_io_weight, shares_to_weight


@pytest.fixture
def fake_root(tmp_path):
    """A unified hierarchy root offering every controller, with the files the kernel would create."""
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    return tmp_path


def _populate(directory, controllers="cpuset cpu io memory pids"):
    """What the kernel would put in a new cgroup directory (a plain mkdir here creates nothing)."""
    (directory / "cgroup.controllers").write_text(controllers + "\n")
    for name in ("cgroup.subtree_control", "cgroup.procs", "cgroup.freeze", "memory.max", "memory.swap.max",
                 "memory.low", "cpu.max", "cpu.weight", "cpuset.cpus", "cpuset.mems", "pids.max", "io.weight"):
        (directory / name).write_text("")


def test_create_delegates_controllers_down_the_path(fake_root):
    cg = CgroupsV2("/berth/c1", root=str(fake_root))
    cg.create()
    assert (fake_root / "berth" / "c1").is_dir()
    # Only the controllers the parent offers, never hugetlb/rdma which the container does not use.
    assert (fake_root / "cgroup.subtree_control").read_text() == "+cpuset +cpu +io +memory +pids"


def test_nested_create_writes_every_ancestor(fake_root):
    (fake_root / "berth").mkdir()
    _populate(fake_root / "berth", "cpu memory pids")
    CgroupsV2("/berth/c2", root=str(fake_root)).create()
    assert (fake_root / "berth" / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"


def test_resources_map_to_v2_files(fake_root):
    cg = CgroupsV2("/berth/c3", root=str(fake_root))
    cg.create()
    d = fake_root / "berth" / "c3"
    _populate(d)
    cg.apply({
        "memory": {"limit": 64 << 20, "swap": 96 << 20, "reservation": 16 << 20},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"},
        "pids": {"limit": 50},
        "blockIO": {"weight": 500},
    })
    assert (d / "memory.max").read_text() == str(64 << 20)
    assert (d / "memory.swap.max").read_text() == str(32 << 20)  # OCI swap is memory+swap
    assert (d / "memory.low").read_text() == str(16 << 20)
    assert (d / "cpu.weight").read_text() == str(shares_to_weight(512))
    assert (d / "cpu.max").read_text() == "50000 100000"
    assert (d / "cpuset.cpus").read_text() == "0-1" and (d / "cpuset.mems").read_text() == "0"
    assert (d / "pids.max").read_text() == "50"
    assert (d / "io.weight").read_text() == f"default {blkio_to_io_weight(500)}"


def test_device_rules_on_a_tree_the_kernel_does_not_run_fail_closed(fake_root):
    # No eBPF program can attach to a plain directory: the container must not start without one.
    from berth.plugins.execdrivers.native.devicefilter import DeviceControlError

    cg = CgroupsV2("/berth/c9", root=str(fake_root))
    cg.create()
    _populate(fake_root / "berth" / "c9")
    with pytest.raises(DeviceControlError, match="cannot attach the device-control eBPF program"):
        cg.apply({"devices": [{"allow": False, "access": "rwm"}], "pids": {"limit": 5}})


def test_unlimited_values_are_max(fake_root):
    cg = CgroupsV2("/c4", root=str(fake_root))
    cg.create()
    _populate(fake_root / "c4")
    cg.apply({"pids": {"limit": 0}, "cpu": {"quota": -1, "period": 100000}, "memory": {"swap": -1}})
    assert (fake_root / "c4" / "pids.max").read_text() == "max"
    assert (fake_root / "c4" / "cpu.max").read_text() == "max 100000"
    assert (fake_root / "c4" / "memory.swap.max").read_text() == "max"


def test_conversions_match_runc():
    assert shares_to_weight(2) == 1 and shares_to_weight(262144) == 10000 and shares_to_weight(1024) == 39
    assert blkio_to_io_weight(10) == 1 and blkio_to_io_weight(1000) == 10000


def test_freeze_reads_cgroup_events(fake_root):
    cg = CgroupsV2("/c5", root=str(fake_root))
    cg.create()
    d = fake_root / "c5"
    _populate(d)
    (d / "cgroup.events").write_text("populated 1\nfrozen 0\n")
    assert not cg.frozen()
    (d / "cgroup.events").write_text("populated 1\nfrozen 1\n")  # what the kernel reports once frozen
    cg.freeze()
    assert (d / "cgroup.freeze").read_text() == "1" and cg.frozen()


def test_oom_kill_from_memory_events_and_procs(fake_root):
    cg = CgroupsV2("/c6", root=str(fake_root))
    cg.create()
    d = fake_root / "c6"
    _populate(d)
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n")
    assert not cg.oom_killed()
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\n")
    assert cg.oom_killed()
    (d / "cgroup.procs").write_text("42\n7\n")
    assert cg.procs() == [7, 42]
    cg.join(5)
    assert (d / "cgroup.procs").read_text() == "5"


def test_destroy_removes_the_directory(fake_root):
    cg = CgroupsV2("/c7", root=str(fake_root))
    cg.create()
    assert cg.exists()
    cg.destroy()
    assert not cg.exists()
    cg.destroy()  # idempotent


def test_stats_shape(fake_root):
    cg = CgroupsV2("/c8", root=str(fake_root))
    cg.create()
    d = fake_root / "c8"
    _populate(d)
    (d / "cpu.stat").write_text("usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n")
    (d / "memory.current").write_text("4096\n")
    (d / "memory.max").write_text("8192\n")
    (d / "pids.current").write_text("3\n")
    (d / "io.stat").write_text("8:0 rbytes=10 wbytes=20 rios=1 wios=2\n")
    stats = cg.stats()
    assert stats["cpu_stats"]["cpu_usage"]["total_usage"] == 1_500_000
    assert stats["memory_stats"]["usage"] == 4096 and stats["memory_stats"]["limit"] == 8192
    assert stats["pids_stats"] == {"current": 3}
    assert {"major": 8, "minor": 0, "op": "Write", "value": 20} in stats["blkio_stats"]["io_service_bytes_recursive"]


@pytest.fixture
def writes(fake_root, monkeypatch):
    """Every (file, value) the v2 writer writes, in order (the kernel takes each write on its own)."""
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(CgroupsV2, "_write", lambda self, name, value: seen.append((name, str(value))))
    return seen


def test_block_io_throttles_become_io_max_lines(writes, fake_root):
    CgroupsV2("/c9", root=str(fake_root)).apply({"blockIO": {
        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
        "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2048}],
        "throttleReadIOPSDevice": [{"major": 8, "minor": 16, "rate": 100}],
        "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 50}],
    }})
    assert writes == [("io.max", "8:0 rbps=1048576"), ("io.max", "8:0 wbps=2048"), ("io.max", "8:16 riops=100"),
                      ("io.max", "8:16 wiops=50")]


def test_device_weights_convert_to_io_weight_lines(writes, fake_root):
    CgroupsV2("/c10", root=str(fake_root)).apply({"blockIO": {"weight": 1000,
                                                               "weightDevice": [{"major": 8, "minor": 0,
                                                                                 "weight": 10}]}})
    assert writes == [("io.weight", "default 10000"), ("io.weight", "8:0 1")]


def test_bfq_takes_blkio_weights_unconverted(fake_root, monkeypatch):
    cg = CgroupsV2("/c11", root=str(fake_root))
    cg.create()
    (fake_root / "c11" / "io.bfq.weight").write_text("default 100\n")
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(CgroupsV2, "_write", lambda self, name, value: seen.append((name, str(value))))
    cg.apply({"blockIO": {"weight": 300, "weightDevice": [{"major": 8, "minor": 0, "weight": 500}]}})
    assert seen == [("io.bfq.weight", "300"), ("io.bfq.weight", "8:0 500")]


def test_swap_is_written_as_swap_alone_and_reservation_as_memory_low(writes, fake_root):
    CgroupsV2("/c12", root=str(fake_root)).apply({"memory": {"limit": 100, "swap": 300, "reservation": 50}})
    assert writes == [("memory.max", "100"), ("memory.swap.max", "200"), ("memory.low", "50")]


def test_cpuset_and_quota(writes, fake_root):
    CgroupsV2("/c13", root=str(fake_root)).apply({"cpu": {"quota": 25000, "period": 50000, "cpus": "1", "mems": "0"}})
    assert writes == [("cpu.max", "25000 50000"), ("cpuset.cpus", "1"), ("cpuset.mems", "0")]
