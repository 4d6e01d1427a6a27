"""HostConfig at create: dockerd's refusals, its warnings for what the host cannot enforce, and its defaults."""

from __future__ import annotations

import os

import pytest

from berth.containers import hostconfig, limits
from berth.errors import InvalidArgument, NotFound
from berth.hookspecs.types import ExecFeatures

EVERYTHING = ExecFeatures(cgroup_version=1, limits=frozenset({
    "memory", "memory_swap", "memory_reservation", "memory_swappiness", "kernel_memory", "oom_kill_disable", "pids",
    "cpu_shares", "cpu_cfs", "cpu_realtime", "cpuset", "blkio_weight", "blkio_weight_device", "blkio_read_bps",
    "blkio_write_bps", "blkio_read_iops", "blkio_write_iops", "devices"}), cgroup_namespaces=True, cpus="0-3",
    mems="0", security=frozenset({"seccomp"}), runtimes=("native",))
NOTHING = ExecFeatures(cpus="0-3", mems="0", runtimes=("native",))
V2 = ExecFeatures(cgroup_version=2, limits=frozenset({"memory", "memory_swap", "memory_reservation", "pids",
                                                       "cpu_shares", "cpu_cfs", "cpuset"}),
                  cgroup_namespaces=True, cpus="0-3", mems="0", runtimes=("native",))


def _no_containers(ref: str) -> str:
    raise NotFound(f"No such container: {ref}")


def prepare(hc: dict, features: ExecFeatures = EVERYTHING, config: dict | None = None, find=_no_containers):
    return hostconfig.prepare(hc, config or {}, features, find)


# -- defaults --------------------------------------------------------------------


def test_defaults_are_dockers_and_recorded_for_inspect():
    hc = {"Memory": 100 << 20}
    assert prepare(hc) == []
    assert hc["MemorySwap"] == 200 << 20 and hc["ShmSize"] == 64 << 20 and hc["IpcMode"] == "private"
    assert hc["CgroupnsMode"] == "host" and hc["OomKillDisable"] is False and hc["Runtime"] == "native"


def test_default_masked_and_read_only_paths_are_recorded_unless_privileged_or_sent():
    from berth.containers.spec import MASKED_PATHS, READONLY_PATHS

    plain, privileged, unconfined = {}, {"Privileged": True}, {"MaskedPaths": [], "ReadonlyPaths": []}
    for hc in (plain, privileged, unconfined):
        prepare(hc)
    assert (plain["MaskedPaths"], plain["ReadonlyPaths"]) == (MASKED_PATHS, READONLY_PATHS)
    assert privileged.get("MaskedPaths") is None and privileged.get("ReadonlyPaths") is None
    assert (unconfined["MaskedPaths"], unconfined["ReadonlyPaths"]) == ([], [])  # the CLI's systempaths=unconfined


def test_cgroup_namespace_defaults_to_private_on_cgroup_v2():
    hc: dict = {}
    prepare(hc, V2)
    assert hc["CgroupnsMode"] == "private"


def test_sharing_the_host_pid_namespace_adds_label_disable():
    hc = {"PidMode": "host"}
    prepare(hc)
    assert hc["SecurityOpt"] == ["label=disable"]


def test_pids_limit_zero_is_stored_as_no_limit():
    hc = {"PidsLimit": 0}
    prepare(hc)
    assert hc["PidsLimit"] is None


# -- warnings for what the host cannot enforce ------------------------------------


@pytest.mark.parametrize("field, value, warning", [
    ("BlkioWeight", 300, "Your kernel does not support Block I/O weight or the cgroup is not mounted. "
                         "Weight discarded."),
    ("MemoryReservation", 50 << 20, "Your kernel does not support memory soft limit capabilities or the cgroup is "
                                    "not mounted. Limitation discarded."),
    ("MemorySwappiness", 10, "Your kernel does not support memory swappiness capabilities or the cgroup is not "
                             "mounted. Memory swappiness discarded."),
    ("PidsLimit", 10, "Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. "
                      "PIDs limit discarded."),
    ("CpuShares", 512, "Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded."),
    ("CpusetMems", "0", "Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded."),
    ("BlkioDeviceReadBps", [{"Path": "/dev/null", "Rate": 1}],
     "Your kernel does not support BPS Block I/O read limit or the cgroup is not mounted. "
     "Block I/O BPS read limit discarded."),
])
def test_an_unenforceable_limit_is_dropped_with_dockers_warning(field, value, warning):
    hc = {field: value}
    assert warning in prepare(hc, NOTHING)
    assert not hc[field]


def test_swap_without_accounting_keeps_memory_and_warns():
    hc = {"Memory": 64 << 20, "MemorySwap": 128 << 20}
    features = ExecFeatures(limits=frozenset({"memory"}), runtimes=("native",))
    assert prepare(hc, features) == ["Your kernel does not support swap limit capabilities or the cgroup is not "
                                     "mounted. Memory limited without swap."]
    assert hc["Memory"] == 64 << 20 and hc["MemorySwap"] == -1


def test_kernel_memory_is_deprecated_and_discarded():
    hc = {"KernelMemory": 50 << 20}
    assert prepare(hc, NOTHING) == [
        "Specifying a kernel memory limit is deprecated and will be removed in a future release.",
        "Your kernel does not support kernel memory limit capabilities or the cgroup is not mounted. "
        "Limitation discarded."]


def test_oom_killer_disabled_without_memory_limit_warns():
    assert prepare({"OomKillDisable": True}) == [
        "OOM killer is disabled for the container, but no memory limit is set, this can result in the system "
        "running out of resources."]


def test_oom_kill_disable_on_cgroup_v2_is_discarded():
    hc = {"OomKillDisable": True, "Memory": 64 << 20}
    assert prepare(hc, V2) == ["Your kernel does not support OomKillDisable. OomKillDisable discarded."]
    assert hc["OomKillDisable"] is False


def test_windows_only_cpu_knobs_are_discarded_with_a_warning():
    assert prepare({"CpuPercent": 50, "CpuCount": 2}) == ["linux does not support CPU percent. Percent discarded.",
                                                          "linux does not support CPU count. Count discarded."]


def test_lsm_options_the_host_lacks_are_discarded_with_a_warning():
    warnings = prepare({"SecurityOpt": ["apparmor=foo", "label=user:u", "label=disable"]})
    assert warnings == [
        "AppArmor is not enabled on this host or not supported by its exec driver: "
        "--security-opt apparmor=foo discarded.",
        "SELinux is not enabled on this host or not supported by its exec driver: "
        "--security-opt label=user:u discarded."]


# -- refusals ---------------------------------------------------------------------


@pytest.mark.parametrize("hc, message", [
    ({"Memory": 1000}, "Minimum memory limit allowed is 6MB"),
    ({"Memory": 64 << 20, "MemorySwap": 32 << 20}, "Minimum memoryswap limit should be larger than memory limit"),
    ({"MemorySwap": 64 << 20}, "You should always set the Memory limit when using Memoryswap limit"),
    ({"MemorySwappiness": 101}, "Invalid value: 101, valid memory swappiness range is 0-100"),
    ({"MemoryReservation": 1000}, "Minimum memory reservation allowed is 6MB"),
    ({"Memory": 10 << 20, "MemoryReservation": 20 << 20},
     "Minimum memory limit can not be less than memory reservation limit"),
    ({"NanoCpus": 1, "CpuPeriod": 1000}, "Conflicting options: Nano CPUs and CPU Period cannot both be set"),
    ({"CpuPeriod": 100}, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"),
    ({"CpuQuota": 500}, "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
    ({"CpuRealtimePeriod": 1000, "CpuRealtimeRuntime": 2000},
     "cpu real-time runtime cannot be higher than cpu real-time period"),
    ({"CpusetCpus": "9"}, "Requested CPUs are not available - requested 9, available: 0-3"),
    ({"CpusetMems": "1"}, "Requested memory nodes are not available - requested 1, available: 0"),
    ({"CpusetCpus": "a-b"}, "Invalid value a-b for cpuset cpus: invalid format: a-b"),
    ({"BlkioWeight": 5}, "Range of blkio weight is from 10 to 1000"),
    ({"IOMaximumBandwidth": 5}, "Invalid QoS settings: linux does not support configuration of maximum bandwidth"),
    ({"ShmSize": -1}, "SHM size can not be less than 0"),
    ({"OomScoreAdj": 1001}, "Invalid value 1001, range for oom score adj is [-1000, 1000]"),
    ({"Runtime": "nope"}, "Unknown runtime specified nope"),
    ({"Isolation": "hyperv"}, "Invalid isolation: \"hyperv\" - linux only supports 'default'"),
    ({"IpcMode": "bogus"}, "invalid IPC mode: bogus"),
    ({"PidMode": "bogus"}, "invalid PID mode: bogus"),
    ({"UTSMode": "container:x"}, "invalid UTS mode: container:x"),
    ({"UsernsMode": "private"}, "invalid userns mode: private"),
    ({"CgroupnsMode": "bogus"}, "invalid cgroup namespace mode: bogus"),
    ({"PidMode": "container:nonexist"}, "No such container: nonexist"),
    ({"SecurityOpt": ["no-new-privileges=maybe"]}, 'invalid --security-opt 2: "no-new-privileges=maybe"'),
    ({"SecurityOpt": ["bogus"]}, 'invalid --security-opt 1: "bogus"'),
    ({"Ulimits": [{"Name": "bogus", "Soft": 1, "Hard": 1}]}, "invalid ulimit type: bogus"),
    ({"Ulimits": [{"Name": "nofile", "Soft": 200, "Hard": 100}]},
     "ulimit soft limit must be less than or equal to hard limit: 200 > 100"),
    ({"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/x", "CgroupPermissions": "rwz"}]},
     "bad mode specified: rwz"),
    ({"DeviceCgroupRules": ["c 1:3"]}, "invalid device cgroup rule format: 'c 1:3'"),
])
def test_dockerd_refuses(hc, message):
    with pytest.raises(InvalidArgument) as refused:
        prepare(hc)
    assert message in refused.value.message


def test_realtime_without_kernel_support_is_refused():
    with pytest.raises(InvalidArgument, match="Your kernel does not support CPU real-time scheduler"):
        prepare({"CpuRealtimeRuntime": 1000}, V2)


def test_hostname_with_the_hosts_uts_namespace_conflicts():
    with pytest.raises(InvalidArgument, match="conflicting options: hostname and the UTS mode"):
        prepare({"UTSMode": "host"}, config={"Hostname": "x"})


def test_container_modes_are_stored_by_full_id():
    hc = {"PidMode": "container:web", "IpcMode": "container:web"}
    prepare(hc, find=lambda ref: "f" * 64)
    assert hc["PidMode"] == hc["IpcMode"] == "container:" + "f" * 64


def test_the_oci_runtimes_own_name_is_a_valid_runtime():
    hc = {"Runtime": "runc"}
    prepare(hc, ExecFeatures(runtimes=("oci", "runc")))
    assert hc["Runtime"] == "runc"


def test_nano_cpus_above_the_cpu_count_is_refused():
    ncpu = os.cpu_count() or 1
    with pytest.raises(InvalidArgument, match=f"Range of CPUs is from 0.01 to {ncpu}.00"):
        limits.check_resources({"NanoCpus": (ncpu + 1) * 10**9}, EVERYTHING)


def test_update_may_raise_swap_without_memory():
    assert limits.check_resources({"MemorySwap": 64 << 20}, EVERYTHING, update=True) == []


def test_cpuset_lists_parse_like_the_kernel():
    assert limits.parse_cpuset("0-2,5") == {0, 1, 2, 5}
    with pytest.raises(ValueError):
        limits.parse_cpuset("3-1")


def test_device_cgroup_rules_without_a_device_controller_warn():
    assert prepare({"DeviceCgroupRules": ["c 1:3 r"]}, V2) == [
        "Your kernel does not support device cgroup rules or the cgroup is not mounted. "
        "Device cgroup rules discarded."]


def test_kernel_tcp_memory_without_the_control_file_is_discarded():
    hc = {"KernelMemoryTCP": 10 << 20}
    assert prepare(hc, NOTHING) == ["Your kernel does not support kernel memory TCP limit capabilities or the "
                                    "cgroup is not mounted. Limitation discarded."]
    assert hc["KernelMemoryTCP"] == 0


# -- --userns-remap -------------------------------------------------------------------


@pytest.mark.parametrize("hc, message", [
    ({"Privileged": True}, "privileged mode is incompatible with user namespaces.  You must run the container in "
                           "the host namespace when running privileged mode"),
    ({"NetworkMode": "host"}, "cannot share the host's network namespace when user namespaces are enabled"),
    ({"PidMode": "host"}, "cannot share the host PID namespace when user namespaces are enabled"),
])
def test_remapped_containers_refuse_host_powers_as_dockerd(hc, message):
    with pytest.raises(InvalidArgument, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        hostconfig.prepare(dict(hc), {}, EVERYTHING, _no_containers, remapped=True)
    hostconfig.prepare(dict(hc, UsernsMode="host"), {}, EVERYTHING, _no_containers, remapped=True)
    hostconfig.prepare(dict(hc), {}, EVERYTHING, _no_containers, remapped=False)
