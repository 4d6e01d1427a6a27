"""The OCI spec each ``docker run`` option turns into (what runc, crun and the native driver consume)."""

from __future__ import annotations

import os
import stat

import pytest

from berth.containers import devices, rlimits, spec as ocispec
from berth.containers.users import ExecUser, resolve_user
from berth.errors import InvalidArgument
from berth.hookspecs.types import Sandbox


def build(hc: dict, sandbox: Sandbox | None = None, joins: dict | None = None, lsms=frozenset({"seccomp"})) -> dict:
    return ocispec.build_spec(container_id="c" * 64, config={"Cmd": ["true"]}, host_config=hc, image_config={},
                              rootfs="/r", hostname="h", user=ExecUser(), sandbox=sandbox or Sandbox(),
                              etc_files={}, joins=joins, lsms=lsms)


def namespaces(spec: dict) -> dict:
    return {ns["type"]: ns.get("path") for ns in spec["linux"]["namespaces"]}


def mount_at(spec: dict, destination: str) -> dict | None:
    return next((m for m in spec["mounts"] if m["destination"] == destination), None)


# -- namespaces -------------------------------------------------------------------


def test_default_namespaces_are_all_new_and_the_cgroup_one_as_recorded():
    assert namespaces(build({"CgroupnsMode": "private"})) == {
        "pid": None, "ipc": None, "uts": None, "mount": None, "cgroup": None, "network": None}
    assert "cgroup" not in namespaces(build({"CgroupnsMode": "host"}))


def test_host_modes_leave_the_namespace_out():
    spec = build({"PidMode": "host", "IpcMode": "host", "UTSMode": "host"})
    assert not {"pid", "ipc", "uts"} & set(namespaces(spec))
    assert "hostname" not in spec  # the host's name is never set


def test_container_modes_join_the_other_inits_namespaces_and_its_shm():
    spec = build({"PidMode": "container:x", "IpcMode": "container:x"}, joins={"pid": 42, "ipc": 43})
    assert namespaces(spec)["pid"] == "/proc/42/ns/pid" and namespaces(spec)["ipc"] == "/proc/43/ns/ipc"
    assert mount_at(spec, "/dev/shm")["source"] == "/proc/43/root/dev/shm"


# -- /dev/shm --------------------------------------------------------------------


def test_shm_is_a_tmpfs_of_shm_size():
    assert "size=1048576" in mount_at(build({"ShmSize": 1 << 20}), "/dev/shm")["options"]
    assert "size=67108864" in mount_at(build({}), "/dev/shm")["options"]


def test_ipc_none_has_no_shm_and_ipc_host_binds_the_hosts():
    assert mount_at(build({"IpcMode": "none"}), "/dev/shm") is None
    assert mount_at(build({"IpcMode": "host"}), "/dev/shm")["source"] == "/dev/shm"


# -- process ---------------------------------------------------------------------


def test_no_new_privileges_is_off_unless_asked():
    assert build({})["process"]["noNewPrivileges"] is False
    assert build({"SecurityOpt": ["no-new-privileges"]})["process"]["noNewPrivileges"] is True
    assert build({"SecurityOpt": ["no-new-privileges=false"]})["process"]["noNewPrivileges"] is False


def test_docker_sets_no_rlimits_of_its_own_and_ulimits_become_rlimits():
    assert build({})["process"]["rlimits"] == []
    spec = build({"Ulimits": [{"Name": "nofile", "Soft": 100, "Hard": 200}, {"Name": "core", "Soft": -1, "Hard": -1}]})
    assert spec["process"]["rlimits"] == [
        {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
        {"type": "RLIMIT_CORE", "soft": rlimits.INFINITY, "hard": rlimits.INFINITY}]


def test_oom_score_adj_is_in_the_process():
    assert build({"OomScoreAdj": 500})["process"]["oomScoreAdj"] == 500


def test_apparmor_profile_only_where_the_driver_applies_it():
    assert "apparmorProfile" not in build({"SecurityOpt": ["apparmor=p"]})["process"]
    assert build({"SecurityOpt": ["apparmor=p"]}, lsms=frozenset({"apparmor"}))["process"]["apparmorProfile"] == "p"


def test_systempaths_unconfined_and_explicit_lists_replace_the_masked_paths():
    spec = build({"SecurityOpt": ["systempaths=unconfined"]})
    assert spec["linux"]["maskedPaths"] == [] and spec["linux"]["readonlyPaths"] == []
    spec = build({"MaskedPaths": ["/proc/x"], "ReadonlyPaths": []})
    assert spec["linux"]["maskedPaths"] == ["/proc/x"] and spec["linux"]["readonlyPaths"] == []


def test_seccomp_unconfined_has_no_filter():
    assert "seccomp" not in build({"SecurityOpt": ["seccomp=unconfined"]})["linux"]
    assert "seccomp" in build({})["linux"]


def test_init_only_with_a_pid_namespace_of_its_own():
    assert build({"Init": True})["annotations"]["io.berth.init"] == "true"
    assert "io.berth.init" not in build({"Init": True, "PidMode": "host"})["annotations"]


def test_annotations_are_passed_on():
    assert build({"Annotations": {"com.example/a": "b"}})["annotations"]["com.example/a"] == "b"


# -- sysctls ---------------------------------------------------------------------


def test_docker_default_sysctls_only_in_a_network_namespace_of_its_own():
    assert build({})["linux"]["sysctl"].get("net.ipv4.ip_unprivileged_port_start") == "0"
    assert build({}, Sandbox(share_host=True))["linux"]["sysctl"] == {}


def test_namespaced_sysctls_are_passed_on():
    spec = build({"Sysctls": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000", "fs.mqueue.msg_max": "20"}})
    assert spec["linux"]["sysctl"]["kernel.shmmax"] == "1000"


@pytest.mark.parametrize("hc, sandbox, message", [
    ({"Sysctls": {"vm.swappiness": "1"}}, Sandbox(), 'sysctl "vm.swappiness" is not in a separate kernel namespace'),
    ({"Sysctls": {"kernel.hostname": "x"}}, Sandbox(),
     'sysctl "kernel.hostname" is not allowed as it conflicts with the OCI "hostname" field'),
    ({"Sysctls": {"net.ipv4.ip_forward": "1"}}, Sandbox(share_host=True),
     'sysctl "net.ipv4.ip_forward" not allowed in host network namespace'),
    ({"Sysctls": {"kernel.shmmax": "1"}, "IpcMode": "host"}, Sandbox(),
     'sysctl "kernel.shmmax" is not allowed in the hosts ipc namespace'),
])
def test_sysctls_outside_the_containers_namespaces_are_refused(hc, sandbox, message):
    with pytest.raises(InvalidArgument) as refused:
        build(hc, sandbox)
    assert refused.value.message == message


# -- devices ---------------------------------------------------------------------


def test_device_mapping_adds_the_node_and_a_rule_with_its_permissions():
    st = os.stat("/dev/null")
    spec = build({"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/mine", "CgroupPermissions": "r"}]})
    node = next(d for d in spec["linux"]["devices"] if d["path"] == "/dev/mine")
    assert (node["type"], node["major"], node["minor"]) == ("c", os.major(st.st_rdev), os.minor(st.st_rdev))
    assert node["fileMode"] == stat.S_IMODE(st.st_mode)
    assert spec["linux"]["resources"]["devices"][-1] == {"allow": True, "type": "c", "major": 1, "minor": 3,
                                                         "access": "r"}


def test_a_missing_device_fails_the_start_with_dockers_message():
    with pytest.raises(InvalidArgument, match='error gathering device information while adding custom device '
                                              '"/dev/nonexist": no such file or directory'):
        build({"Devices": [{"PathOnHost": "/dev/nonexist", "PathInContainer": "/dev/x", "CgroupPermissions": "rwm"}]})


def test_a_directory_of_devices_brings_each_node(tmp_path):
    os.mknod(tmp_path / "a", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    (tmp_path / "sub").mkdir()
    os.mknod(tmp_path / "sub" / "b", stat.S_IFBLK | 0o600, os.makedev(7, 0))
    nodes, rules = devices.from_mapping({"PathOnHost": str(tmp_path), "PathInContainer": "/dev/set"})
    assert sorted(n["path"] for n in nodes) == ["/dev/set/a", "/dev/set/sub/b"]
    assert {r["access"] for r in rules} == {"rwm"}


def test_device_cgroup_rules_use_minus_one_for_any():
    spec = build({"DeviceCgroupRules": ["b 7:* rm"]})
    assert spec["linux"]["resources"]["devices"][-1] == {"allow": True, "type": "b", "major": 7, "minor": -1,
                                                         "access": "rm"}


def test_privileged_gets_the_hosts_devices_and_every_rule():
    spec = build({"Privileged": True})
    assert spec["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert any(d["path"] == "/dev/null" for d in spec["linux"]["devices"])


def test_gpu_requests_fail_the_start_no_gpu_runtime():
    with pytest.raises(InvalidArgument, match=r'could not select device driver "" with capabilities: \[\[gpu\]\]'):
        build({"DeviceRequests": [{"Driver": "", "Count": -1, "Capabilities": [["gpu"]]}]})


# -- resources -------------------------------------------------------------------


def test_memory_cpu_and_pids_resources():
    res = build({"Memory": 100 << 20, "MemorySwap": 200 << 20, "MemoryReservation": 50 << 20, "MemorySwappiness": 10,
                 "OomKillDisable": True, "CpuPeriod": 50000, "CpuQuota": 25000, "CpuRealtimePeriod": 1000000,
                 "CpuRealtimeRuntime": 1000, "CpusetMems": "0", "PidsLimit": -1})["linux"]["resources"]
    assert res["memory"] == {"limit": 100 << 20, "swap": 200 << 20, "reservation": 50 << 20, "swappiness": 10,
                             "disableOOMKiller": True}
    assert res["cpu"] == {"period": 50000, "quota": 25000, "realtimePeriod": 1000000, "realtimeRuntime": 1000,
                          "mems": "0"}
    assert res["pids"] == {"limit": -1}


def test_blkio_devices_are_named_by_major_minor():
    st = os.stat("/dev/null")
    res = build({"BlkioWeightDevice": [{"Path": "/dev/null", "Weight": 300}],
                 "BlkioDeviceReadBps": [{"Path": "/dev/null", "Rate": 1024}]})["linux"]["resources"]["blockIO"]
    major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    assert res["weightDevice"] == [{"major": major, "minor": minor, "weight": 300}]
    assert res["throttleReadBpsDevice"] == [{"major": major, "minor": minor, "rate": 1024}]
    with pytest.raises(InvalidArgument, match="stat /dev/nonexist: no such file or directory"):
        build({"BlkioDeviceWriteIOps": [{"Path": "/dev/nonexist", "Rate": 1}]})


def test_cgroup_parent_prefixes_the_cgroups_path():
    assert build({})["linux"]["cgroupsPath"] == "/berth/" + "c" * 64
    assert build({"CgroupParent": "mine/sub"})["linux"]["cgroupsPath"] == "/mine/sub/" + "c" * 64


# -- users -------------------------------------------------------------------------


def test_group_add_by_name_and_number(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (tmp_path / "etc" / "group").write_text("root:x:0:\naudio:x:29:\n")
    assert resolve_user(str(tmp_path), "", ["audio", "1234"]).additional_gids == [0, 29, 1234]
    with pytest.raises(InvalidArgument, match="Unable to find group video: no matching entries in group file"):
        resolve_user(str(tmp_path), "", ["video"])
