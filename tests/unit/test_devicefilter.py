"""The cgroup-device eBPF program berth compiles from OCI device rules, run in a small interpreter.

The interpreter executes the instruction subset the compiler emits, exactly as
the kernel defines them, so these tests pin the rules' meaning for many
(type, major, minor, access) requests; tests/integration/test_device_control.py
checks the same program in the kernel.
"""

from __future__ import annotations

import struct

import pytest

from berth.containers.spec import DEFAULT_DEVICE_RULES
from berth.plugins.execdrivers.native.devicefilter import DeviceControlError, compile_rules, install, parse_rule

BLOCK, CHAR = 1, 2
MKNOD, READ, WRITE = 1, 2, 4


def run(program: bytes, kind: int, major: int, minor: int, access: int) -> int:
    """Execute ``program`` on one ``struct bpf_cgroup_dev_ctx``; its return value (1 allows)."""
    ctx = struct.pack("<III", (access << 16) | kind, major, minor)
    regs = [0] * 11
    insns = [struct.unpack_from("<BBhi", program, i) for i in range(0, len(program), 8)]
    pc = 0
    for _ in range(10_000):
        code, regbyte, off, imm = insns[pc]
        dst, src = regbyte & 0xF, regbyte >> 4
        pc += 1
        if code == 0x61:
            assert src == 1, "only the context is read"
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif code == 0x54:
            regs[dst] = (regs[dst] & imm) & 0xFFFFFFFF
        elif code == 0x74:
            regs[dst] = (regs[dst] & 0xFFFFFFFF) >> imm
        elif code == 0xBC:
            regs[dst] = regs[src] & 0xFFFFFFFF
        elif code == 0xB4:
            regs[dst] = imm & 0xFFFFFFFF
        elif code == 0x55:
            pc += off if regs[dst] != imm else 0
        elif code == 0x5D:
            pc += off if regs[dst] != regs[src] else 0
        elif code == 0x15:
            pc += off if regs[dst] == imm else 0
        elif code == 0x95:
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
    raise AssertionError("the program did not end")


def allowed(rules, kind, major, minor, access) -> bool:
    return run(compile_rules(rules), kind, major, minor, access) == 1


# -- Docker's default allowlist ------------------------------------------------------------


@pytest.mark.parametrize("major,minor", [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2), (136, 4),
                                         (10, 200)])
def test_the_default_allowlist_opens_dockers_devices(major, minor):
    assert allowed(DEFAULT_DEVICE_RULES, CHAR, major, minor, READ | WRITE)


@pytest.mark.parametrize("kind,major,minor", [(CHAR, 1, 1), (CHAR, 1, 2), (CHAR, 4, 0), (CHAR, 10, 232),
                                              (BLOCK, 8, 0), (BLOCK, 254, 0), (BLOCK, 7, 0)])
def test_the_default_allowlist_refuses_to_open_anything_else(kind, major, minor):
    assert not allowed(DEFAULT_DEVICE_RULES, kind, major, minor, READ)
    assert not allowed(DEFAULT_DEVICE_RULES, kind, major, minor, WRITE)


def test_the_default_allowlist_lets_any_node_be_made_as_docker_does():
    assert allowed(DEFAULT_DEVICE_RULES, BLOCK, 8, 0, MKNOD)
    assert allowed(DEFAULT_DEVICE_RULES, CHAR, 1, 1, MKNOD)
    assert not allowed(DEFAULT_DEVICE_RULES, BLOCK, 8, 0, MKNOD | READ)


# -- --device and --device-cgroup-rule ----------------------------------------------------------


def test_a_device_rule_adds_exactly_the_device_and_access_it_names():
    rules = [*DEFAULT_DEVICE_RULES, {"allow": True, "type": "b", "major": 8, "minor": 0, "access": "r"}]
    assert allowed(rules, BLOCK, 8, 0, READ)
    assert not allowed(rules, BLOCK, 8, 0, WRITE)
    assert not allowed(rules, BLOCK, 8, 0, READ | WRITE)
    assert not allowed(rules, BLOCK, 8, 1, READ)
    assert not allowed(rules, CHAR, 8, 0, READ)


def test_a_wildcard_minor_rule_covers_every_minor_of_its_major():
    rules = [*DEFAULT_DEVICE_RULES, {"allow": True, "type": "c", "major": 189, "minor": None, "access": "rwm"}]
    assert allowed(rules, CHAR, 189, 0, READ | WRITE) and allowed(rules, CHAR, 189, 77, READ)
    assert not allowed(rules, CHAR, 188, 0, READ)


def test_minus_one_is_a_wildcard_as_in_oci():
    rules = [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": -1, "minor": -1, "access": "r"}]
    assert allowed(rules, CHAR, 99, 99, READ) and not allowed(rules, CHAR, 99, 99, WRITE)


# -- resets and ordering ------------------------------------------------------------------------


def test_privileged_allow_all_allows_everything():
    rules = [{"allow": True, "access": "rwm"}]
    assert allowed(rules, BLOCK, 8, 0, READ | WRITE | MKNOD)


def test_no_reset_means_deny_by_default():
    assert not allowed([], CHAR, 1, 3, READ)
    assert allowed([{"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}], CHAR, 1, 3, READ)


def test_a_later_reset_discards_earlier_rules():
    rules = [{"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}, {"allow": False, "access": "rwm"}]
    assert not allowed(rules, CHAR, 1, 3, READ)


def test_a_later_rule_overrides_an_earlier_one():
    rules = [{"allow": False, "access": "rwm"},
             {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
             {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "w"}]
    assert allowed(rules, CHAR, 1, 3, READ)
    assert not allowed(rules, CHAR, 1, 3, WRITE)
    assert not allowed(rules, CHAR, 1, 3, READ | WRITE)  # a deny matches any access it names


def test_a_deny_inside_a_wildcard_allow_is_honoured():
    rules = [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "access": "rwm"},
             {"allow": False, "type": "c", "major": 1, "minor": 1, "access": "rwm"}]
    assert not allowed(rules, CHAR, 1, 1, READ)
    assert allowed(rules, CHAR, 1, 2, READ)


def test_a_denylist_refuses_only_what_it_names():
    rules = [{"allow": True, "access": "rwm"}, {"allow": False, "type": "b", "major": 8, "access": "rwm"}]
    assert not allowed(rules, BLOCK, 8, 3, READ)
    assert allowed(rules, BLOCK, 9, 0, READ) and allowed(rules, CHAR, 8, 3, READ)


def test_type_a_with_numbers_matches_both_types_and_is_no_reset():
    rules = [{"allow": False, "access": "rwm"}, {"allow": True, "type": "a", "major": 7, "minor": 0, "access": "r"}]
    assert allowed(rules, BLOCK, 7, 0, READ) and allowed(rules, CHAR, 7, 0, READ)
    assert not allowed(rules, BLOCK, 7, 1, READ) and not allowed(rules, BLOCK, 7, 0, WRITE)


def test_large_majors_and_minors_are_compared_exactly():
    rules = [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 4095, "minor": (1 << 20) - 1}]
    assert allowed(rules, CHAR, 4095, (1 << 20) - 1, READ | WRITE)
    assert not allowed(rules, CHAR, 4095, (1 << 20) - 2, READ)


# -- bad rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rule,words", [
    ({"allow": True, "type": "x"}, "type must be a, b or c"),
    ({"allow": True, "type": "c", "access": "rwx"}, "access"),
    ({"allow": True, "type": "c", "major": -5}, "major"),
    ({"allow": True, "type": "c", "minor": 1 << 31}, "minor"),
    ({"allow": True, "type": "c", "major": "1"}, "major"),
])
def test_malformed_rules_are_refused_by_name(rule, words):
    with pytest.raises(ValueError, match=words):
        parse_rule(rule)


def test_installing_malformed_rules_fails_closed(tmp_path):
    with pytest.raises(DeviceControlError, match="type must be"):
        install(str(tmp_path), [{"allow": True, "type": "q"}])


# -- what berth info says ---------------------------------------------------------------------------


@pytest.mark.parametrize("unified,hierarchies,shown", [
    (True, {}, "eBPF cgroup-device program"),
    (False, {"devices": "/sys/fs/cgroup/devices", "memory": "/sys/fs/cgroup/memory"}, "devices cgroup (v1)"),
    (False, {"memory": "/sys/fs/cgroup/memory"}, "NONE: no v1 devices hierarchy is mounted"),
])
def test_info_says_what_enforces_the_device_rules(monkeypatch, unified, hierarchies, shown):
    from berth.plugins.execdrivers.native import cgroups, cgroups2
    from berth.plugins.execdrivers.native.driver import NativeDriver

    monkeypatch.setattr(cgroups2, "is_unified_host", lambda: unified)
    monkeypatch.setattr(cgroups, "v1_hierarchies", lambda: hierarchies)
    status = dict(NativeDriver._cgroup_status())
    assert status["Device control"].startswith(shown)
