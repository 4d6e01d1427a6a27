"""Docker's default seccomp profile (core) and its one-time compilation to BPF (native driver)."""

import os

import pytest

from berth.containers.seccomp import CLONE_NAMESPACE_FLAGS, default_profile, profile_for
from berth.containers.spec import DEFAULT_CAPABILITIES
from berth.errors import InvalidArgument
from berth.plugins.execdrivers.native import seccomp as native_seccomp


def rules_for(profile, name):
    return [r for r in profile["syscalls"] if name in r["names"]]


def test_default_profile_denies_by_default_and_allows_common_syscalls():
    profile = default_profile(DEFAULT_CAPABILITIES, "x86_64")
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO" and profile["defaultErrnoRet"] == 1
    assert "SCMP_ARCH_X86_64" in profile["architectures"]
    assert rules_for(profile, "read") and rules_for(profile, "arch_prctl")
    assert not rules_for(profile, "mount") and not rules_for(profile, "reboot")


def test_clone_may_not_make_namespaces_without_sys_admin():
    profile = default_profile(DEFAULT_CAPABILITIES, "x86_64")
    (clone,) = rules_for(profile, "clone")
    assert clone["args"][0]["op"] == "SCMP_CMP_MASKED_EQ" and clone["args"][0]["value"] == CLONE_NAMESPACE_FLAGS
    (clone3,) = rules_for(profile, "clone3")
    assert clone3["action"] == "SCMP_ACT_ERRNO" and clone3["errnoRet"] == 38  # ENOSYS: libc falls back to clone
    admin = default_profile([*DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"], "x86_64")
    assert all("args" not in r for r in rules_for(admin, "clone")) and rules_for(admin, "mount")


def test_privileged_and_unconfined_get_no_profile_and_custom_profiles_are_taken_as_given():
    assert profile_for({"Privileged": True}, [], "x86_64") is None
    assert profile_for({"SecurityOpt": ["seccomp=unconfined"]}, [], "x86_64") is None
    custom = profile_for({"SecurityOpt": ['seccomp={"defaultAction": "SCMP_ACT_ALLOW"}']}, [], "x86_64")
    assert custom == {"defaultAction": "SCMP_ACT_ALLOW"}
    with pytest.raises(InvalidArgument):
        profile_for({"SecurityOpt": ["seccomp={not json"]}, [], "x86_64")


def test_programs_are_compiled_once_and_cached(tmp_path):
    profile = default_profile(DEFAULT_CAPABILITIES, os.uname().machine)
    first = native_seccomp.program_for(profile, str(tmp_path))
    assert first and len(first) % 8 == 0
    (cached,) = list(tmp_path.iterdir())
    cached.write_bytes(first)  # same bytes: a second call must read the file, not recompile
    os.utime(cached, (0, 0))
    assert native_seccomp.program_for(profile, str(tmp_path)) == first
    assert native_seccomp.program_for(None, str(tmp_path)) is None


def test_a_truncated_program_is_refused_before_the_kernel_sees_it():
    with pytest.raises(ValueError):
        native_seccomp.load_bpf(b"\x00" * 12)
