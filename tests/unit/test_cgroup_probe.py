"""What the host's cgroups can limit (``exec_features``), berth's own parents, and v1 real-time budgets,
on fake cgroup trees."""

from __future__ import annotations

from berth.plugins.execdrivers.native.cgroups import Cgroups, owned_parents
from berth.plugins.execdrivers.native.sysinfo import host_features, v1_limits, v2_limits


def _touch(directory, *names):
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).write_text("")


def test_v1_limits_follow_the_control_files_in_each_hierarchy(tmp_path):
    _touch(tmp_path / "memory", "memory.limit_in_bytes", "memory.soft_limit_in_bytes", "memory.oom_control")
    _touch(tmp_path / "blkio", "blkio.throttle.read_bps_device")
    found = v1_limits({"memory": str(tmp_path / "memory"), "blkio": str(tmp_path / "blkio")})
    assert found == {"memory", "memory_reservation", "oom_kill_disable", "blkio_read_bps"}
    # no memsw (swap accounting off), no blkio.weight (no CFQ/BFQ): dockerd warns about those too


def test_v2_limits_follow_the_root_controllers(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpu io memory pids\n")
    _touch(tmp_path / "daemon.scope", "memory.swap.max", "io.weight")
    found = v2_limits(str(tmp_path), "/daemon.scope", userns=False)
    assert found == {"devices", "memory", "memory_reservation", "memory_swap", "pids", "cpu_shares", "cpu_cfs",
                     "blkio_weight", "blkio_weight_device", "blkio_read_bps", "blkio_write_bps", "blkio_read_iops",
                     "blkio_write_iops"}
    assert "oom_kill_disable" not in found and "memory_swappiness" not in found  # v2 has neither


def test_v2_device_rules_are_enforced_except_in_a_user_namespace(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("\n")  # even with no controller: an eBPF program needs none
    assert "devices" in v2_limits(str(tmp_path), userns=False)
    assert "devices" not in v2_limits(str(tmp_path), userns=True)


def test_features_report_the_version_and_the_cpusets(tmp_path):
    _touch(tmp_path / "cpuset", "cpuset.cpus")
    (tmp_path / "cpuset" / "cpuset.effective_cpus").write_text("0-7\n")
    (tmp_path / "cpuset" / "cpuset.effective_mems").write_text("0-1\n")
    features = host_features(runtimes=("native",), security=frozenset({"seccomp"}),
                             hierarchies={"cpuset": str(tmp_path / "cpuset")})
    assert (features.cgroup_version, features.cpus, features.mems) == (1, "0-7", "0-1")
    assert features.limits == {"cpuset"} and features.runtimes == ("native",)


def test_only_berths_own_parents_are_pruned():
    assert owned_parents("/berth/abc") == 1
    assert owned_parents("/berth-kit/abc") == 1
    assert owned_parents("/users-slice/abc") == 0  # a --cgroup-parent the user named stays
    assert owned_parents("/mine/berth/abc") == 1


def test_realtime_runtime_raises_berths_parent_budget_first(tmp_path):
    cpu = tmp_path / "cpu"
    for d in (cpu / "berth", cpu / "berth" / "c1"):
        d.mkdir(parents=True)
        (d / "cpu.rt_runtime_us").write_text("0\n")
        (d / "cpu.rt_period_us").write_text("1000000\n")
    Cgroups("/berth/c1", {"cpu": str(cpu)}).apply({"cpu": {"realtimePeriod": 500000, "realtimeRuntime": 20000}})
    assert (cpu / "berth" / "cpu.rt_runtime_us").read_text() == "20000"
    assert (cpu / "berth" / "c1" / "cpu.rt_runtime_us").read_text() == "20000"
    assert (cpu / "berth" / "c1" / "cpu.rt_period_us").read_text() == "500000"
