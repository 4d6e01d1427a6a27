"""Pure helpers of the native exec driver: option parsing, path resolution, capabilities, framing, state."""

from __future__ import annotations

import os
import struct
import subprocess
import sys

import pytest

from berth.plugins.execdrivers.monitoring import attach, state
from berth.plugins.execdrivers.native import caps, process, rootfs, syscalls
from berth.plugins.execdrivers.native.cgroups import Cgroups, cgroup_path


def test_mount_options_split_into_flags_propagation_and_data():
    flags, prop, data = rootfs.parse_options(["nosuid", "noexec", "ro", "mode=755", "rslave", "size=64k"])
    assert flags == syscalls.MS_NOSUID | syscalls.MS_NOEXEC | syscalls.MS_RDONLY
    assert prop == syscalls.MS_SLAVE | syscalls.MS_REC
    assert data == "mode=755,size=64k"


def test_later_mount_options_override_earlier_ones():
    flags, _, _ = rootfs.parse_options(["ro", "rw", "rbind"])
    assert flags == syscalls.MS_BIND | syscalls.MS_REC


def test_docker_default_capabilities_mask():
    assert caps.mask(caps.DOCKER_DEFAULT) == 0xA80425FB
    assert caps.mask(["chown"]) == 1


def test_unknown_capability_is_an_error_naming_it():
    with pytest.raises(ValueError, match="CAP_NOPE"):
        caps.mask(["CAP_NOPE"])


def test_docker_stream_frame_header():
    assert attach.frame(attach.STDERR, b"abc") == b"\x02\x00\x00\x00" + struct.pack(">I", 3) + b"abc"


def test_executable_lookup_follows_path_and_reports_dockers_errors(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "tool").write_text("#!/bin/sh\n")
    (bindir / "tool").chmod(0o755)
    (bindir / "data").write_text("x")
    env = {"PATH": f"/nonexistent:{bindir}"}
    assert process.resolve_executable("tool", env) == str(bindir / "tool")
    with pytest.raises(process.ExecFailure) as missing:
        process.resolve_executable("data", env)  # not executable: skipped, so not found
    assert missing.value.code == 127
    assert str(missing.value) == 'exec: "data": executable file not found in $PATH'
    with pytest.raises(process.ExecFailure) as absent:
        process.resolve_executable(str(tmp_path / "nope"), env)
    assert absent.value.code == 127
    with pytest.raises(process.ExecFailure) as directory:
        process.resolve_executable(str(bindir), env)
    assert directory.value.code == 126


def test_env_list_becomes_a_dict_splitting_at_the_first_equals():
    assert process.env_dict(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}


def test_rlimits_above_the_inherited_hard_limit_fail_instead_of_being_clamped():
    code = (
        "import resource\n"
        "from berth.plugins.execdrivers.native.process import apply_rlimits\n"
        "hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]\n"
        "try:\n"
        "    apply_rlimits([{'type': 'RLIMIT_NOFILE', 'soft': hard + 1, 'hard': hard + 1}])\n"
        "except OSError as exc:\n"
        "    assert 'RLIMIT_NOFILE' in str(exc) and 'CAP_SYS_RESOURCE' in str(exc), exc\n"
        "else:\n"
        "    raise AssertionError('raised above the hard limit')\n"
        "apply_rlimits([{'type': 'RLIMIT_NOFILE', 'soft': 100, 'hard': 200}])\n"
        "assert resource.getrlimit(resource.RLIMIT_NOFILE) == (100, 200)\n"
    )
    # without CAP_SYS_RESOURCE, as berthd runs on hosts like this one
    subprocess.run(["capsh", "--drop=cap_sys_resource", "--", "-c", f"{sys.executable} -c \"$0\"", code], check=True)


def test_state_is_written_atomically_and_read_back(tmp_path):
    state.write_state(str(tmp_path), {"id": "x", "status": "running"})
    assert state.read_state(str(tmp_path)) == {"id": "x", "status": "running"}
    assert os.listdir(tmp_path) == [state.STATE_FILE]
    assert state.read_state(str(tmp_path / "missing")) is None


def test_a_recycled_pid_is_not_taken_for_ours():
    me = os.getpid()
    started = state.start_time(me)
    assert state.is_alive(me, started)
    assert not state.is_alive(me, started + 1)
    assert state.open_pidfd(me, started + 1) is None


def test_cgroup_path_defaults_under_berth_and_rejects_systemd_form():
    assert cgroup_path({}, "abc") == "/berth/abc"
    assert cgroup_path({"linux": {"cgroupsPath": "x/y"}}, "abc") == "/x/y"
    with pytest.raises(ValueError, match="systemd"):
        cgroup_path({"linux": {"cgroupsPath": "system.slice:berth:abc"}}, "abc")


def test_cgroup_dirs_follow_each_hierarchy():
    cg = Cgroups("/berth/x", {"memory": "/sys/fs/cgroup/memory", "cpu,cpuacct": "/sys/fs/cgroup/cpu,cpuacct"})
    assert cg.dir("memory") == "/sys/fs/cgroup/memory/berth/x"
    assert cg.dir("cpuacct") == "/sys/fs/cgroup/cpu,cpuacct/berth/x"
    assert cg.dir("pids") is None
