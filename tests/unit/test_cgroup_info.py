"""``info``'s cgroup fields and warnings follow what the exec driver enforces."""

from berth.api import cgroupinfo
from berth.hookspecs.types import ExecFeatures


def test_fields_follow_the_drivers_features():
    features = ExecFeatures(cgroup_version=1, limits=frozenset({"memory", "cpu_cfs", "pids"}), runtimes=("oci", "runc"))
    fields = cgroupinfo.fields(features)
    assert fields["MemoryLimit"] and fields["CpuCfsQuota"] and fields["PidsLimit"]
    assert not fields["SwapLimit"] and not fields["OomKillDisable"]
    assert fields["CgroupVersion"] == "1" and fields["Runtimes"] == {"oci": {"path": "oci"}, "runc": {"path": "runc"}}


def test_warnings_are_dockerds_and_v1_only_ones_stay_off_on_v2():
    v1 = cgroupinfo.warnings(ExecFeatures(cgroup_version=1, limits=frozenset({"memory", "memory_swap", "cpu_cfs",
                                                                             "cpu_shares", "cpuset"})))
    assert "WARNING: No oom kill disable support" in v1 and "WARNING: No swap limit support" not in v1
    v2 = cgroupinfo.warnings(ExecFeatures(cgroup_version=2, limits=frozenset({"memory"})))
    assert "WARNING: No oom kill disable support" not in v2 and "WARNING: No swap limit support" in v2
