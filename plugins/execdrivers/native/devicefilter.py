"""Device control on cgroup v2: the OCI device rules as a ``BPF_PROG_TYPE_CGROUP_DEVICE`` program.

cgroup v2 has no ``devices.allow``/``devices.deny``: the kernel asks the eBPF
programs attached to a task's cgroup (and, with ``BPF_F_ALLOW_MULTI``, its
ancestors') before every ``mknod`` and every ``open`` of a device node, and a
program answering 0 makes the call fail with EPERM. This module compiles an OCI
``linux.resources.devices`` list into such a program, as runc and crun do, and
installs it on, finds it on, and removes it from a cgroup directory.

The rules keep the meaning they have for the v1 device controller: each rule
type ``a`` with no major and no minor and access ``rwm`` is a reset (deny-all
makes an allowlist, allow-all a denylist), and a later rule overrides an earlier
one. The program checks the rules after the last reset, newest first; the first
that matches answers. An allow rule matches a request whose every access it
grants; a deny rule matches a request asking any access it names. With no match
the reset decides (no reset at all: deny — fail closed). Two things differ from
v1, both stricter or plainer: a partial deny inside a wildcard allow is honoured
(v1 ignores it, runc refuses it), and a type-``a`` rule that names a number or
an access subset means both device types with exactly that, not a reset.

The program's shape (after runc's ``devicefilter.go`` and crun's ``ebpf.c``)::

    r2 = ctx->access_type & 0xffff   device type: 1 block, 2 char
    r3 = ctx->access_type >> 16      access: 1 mknod, 2 read, 4 write
    r4 = ctx->major; r5 = ctx->minor
    per rule: if type, access, major or minor do not match, jump to the next rule;
              else r0 = allow; exit
    r0 = default; exit
"""

from __future__ import annotations

import errno
import os
import struct
from dataclasses import dataclass

from . import bpf

PROGRAM_NAME = "berth_devices"

_TYPES = {"b": 1, "c": 2}                   # BPF_DEVCG_DEV_BLOCK / _CHAR
_ACCESS = {"m": 1, "r": 2, "w": 4}          # BPF_DEVCG_ACC_MKNOD / _READ / _WRITE
_ALL_ACCESS = 7
_LIMIT = 1 << 31                            # majors and minors are compared as signed 32-bit immediates

# the registers the prologue fills
_CTX, _TYPE, _REQ, _MAJOR, _MINOR, _TMP = 1, 2, 3, 4, 5, 1


@dataclass(frozen=True)
class DeviceRule:
    """One OCI device rule, checked: ``kind`` "a"/"b"/"c", None for a wildcard number, ``access`` as bits."""

    allow: bool
    kind: str
    major: int | None
    minor: int | None
    access: int

    @property
    def is_reset(self) -> bool:
        return self.kind == "a" and self.major is None and self.minor is None and self.access == _ALL_ACCESS


def parse_rule(rule: dict) -> DeviceRule:
    """An OCI ``linux.resources.devices`` entry as a :class:`DeviceRule`; ValueError names what is wrong."""
    kind = rule.get("type") or "a"
    if kind not in ("a", "b", "c"):
        raise ValueError(f"device rule {rule!r}: type must be a, b or c")
    access_text = rule.get("access") or "rwm"
    if not set(access_text) <= set(_ACCESS):
        raise ValueError(f"device rule {rule!r}: access {access_text!r} may hold only r, w and m")
    numbers = []
    for field in ("major", "minor"):
        value = rule.get(field)
        if value is None or value == -1:
            numbers.append(None)
        elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _LIMIT:
            numbers.append(value)
        else:
            raise ValueError(f"device rule {rule!r}: {field} must be a number from 0 to {_LIMIT - 1}, or -1")
    access = 0
    for letter in access_text:
        access |= _ACCESS[letter]
    return DeviceRule(bool(rule.get("allow")), kind, numbers[0], numbers[1], access)


# ---------------------------------------------------------------------------
# compiling
# ---------------------------------------------------------------------------


#: an instruction before packing: (opcode, dst, src, offset, immediate); offset _SKIP = "to the next rule"
_Insn = tuple
_SKIP = object()


def _pack(code: int, dst: int, src: int, off: int, imm: int) -> bytes:
    """One ``struct bpf_insn`` (little-endian: the registers share a byte, dst in the low nibble)."""
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _load_word(dst: int, src: int, off: int) -> _Insn:
    return (0x61, dst, src, off, 0)                  # BPF_LDX | BPF_MEM | BPF_W


def _and32(dst: int, imm: int) -> _Insn:
    return (0x54, dst, 0, 0, imm)                    # BPF_ALU | BPF_AND | BPF_K


def _rsh32(dst: int, imm: int) -> _Insn:
    return (0x74, dst, 0, 0, imm)                    # BPF_ALU | BPF_RSH | BPF_K


def _mov32_reg(dst: int, src: int) -> _Insn:
    return (0xBC, dst, src, 0, 0)                    # BPF_ALU | BPF_MOV | BPF_X


def _mov32_imm(dst: int, imm: int) -> _Insn:
    return (0xB4, dst, 0, 0, imm)                    # BPF_ALU | BPF_MOV | BPF_K


def _skip_unless_equal(dst: int, imm: int) -> _Insn:
    return (0x55, dst, 0, _SKIP, imm)                # BPF_JMP | BPF_JNE | BPF_K


def _skip_unless_equal_reg(dst: int, src: int) -> _Insn:
    return (0x5D, dst, src, _SKIP, 0)                # BPF_JMP | BPF_JNE | BPF_X


def _skip_if_zero(dst: int) -> _Insn:
    return (0x15, dst, 0, _SKIP, 0)                  # BPF_JMP | BPF_JEQ | BPF_K


def _exit() -> _Insn:
    return (0x95, 0, 0, 0, 0)                        # BPF_JMP | BPF_EXIT


def _prologue() -> list[_Insn]:
    # struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
    return [_load_word(_TYPE, _CTX, 0), _and32(_TYPE, 0xFFFF),
            _load_word(_REQ, _CTX, 0), _rsh32(_REQ, 16),
            _load_word(_MAJOR, _CTX, 4), _load_word(_MINOR, _CTX, 8)]


def _rule_block(rule: DeviceRule) -> list[_Insn]:
    """One rule's instructions: each test jumps past the block on a mismatch; then the rule's verdict."""
    block: list[_Insn] = []
    if rule.kind != "a":
        block.append(_skip_unless_equal(_TYPE, _TYPES[rule.kind]))
    if rule.access != _ALL_ACCESS:
        block += [_mov32_reg(_TMP, _REQ), _and32(_TMP, rule.access)]
        # allow: every access asked for is granted, (request & access) == request;
        # deny: any access asked for is denied, (request & access) != 0
        block.append(_skip_unless_equal_reg(_TMP, _REQ) if rule.allow else _skip_if_zero(_TMP))
    if rule.major is not None:
        block.append(_skip_unless_equal(_MAJOR, rule.major))
    if rule.minor is not None:
        block.append(_skip_unless_equal(_MINOR, rule.minor))
    block += [_mov32_imm(0, 1 if rule.allow else 0), _exit()]
    # a jump's offset counts from the instruction after it; _SKIP lands just past the block
    return [(code, dst, src, len(block) - i - 1 if off is _SKIP else off, imm)
            for i, (code, dst, src, off, imm) in enumerate(block)]


def compile_rules(rules: list[dict]) -> bytes:
    """The cgroup-device program for the OCI ``rules`` (see the module docstring), packed for ``bpf(2)``."""
    parsed = [parse_rule(rule) for rule in rules]
    default_allow, start = False, 0
    for index, rule in enumerate(parsed):
        if rule.is_reset:
            default_allow, start = rule.allow, index + 1
    program = _prologue()
    for rule in reversed(parsed[start:]):
        if rule.is_reset:
            continue
        program.extend(_rule_block(rule))
    program += [_mov32_imm(0, 1 if default_allow else 0), _exit()]
    return b"".join(_pack(*insn) for insn in program)


# ---------------------------------------------------------------------------
# a cgroup's program
# ---------------------------------------------------------------------------


class DeviceControlError(OSError):
    """The device program could not be put on (or found on) a cgroup: the container must not run."""


def install(cgroup_dir: str, rules: list[dict]) -> int:
    """Attach the program for ``rules`` to ``cgroup_dir`` and return its ID; replace any program there before.

    The new program is attached (``BPF_F_ALLOW_MULTI``) before the old ones are
    detached, so the cgroup is never without one, as runc does. Any failure raises
    :class:`DeviceControlError`: the caller must not let the container run.
    """
    try:
        program = compile_rules(rules)
    except ValueError as exc:
        raise DeviceControlError(errno.EINVAL, f"device rules for {cgroup_dir}: {exc}") from None
    try:
        prog_fd = bpf.load_program(program, PROGRAM_NAME)
    except OSError as exc:
        raise DeviceControlError(exc.errno, f"cannot load the device-control eBPF program for {cgroup_dir}: "
                                            f"{exc.strerror}") from None
    try:
        dir_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            old = bpf.query(dir_fd)
            bpf.attach(dir_fd, prog_fd)
            for prog_id in old:
                _detach_id(dir_fd, prog_id)
            return bpf.program_info(prog_fd)["id"]
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise DeviceControlError(exc.errno, f"cannot attach the device-control eBPF program to cgroup "
                                            f"{cgroup_dir}: {exc.strerror}") from None
    finally:
        os.close(prog_fd)  # the cgroup holds the program now


def attached(cgroup_dir: str) -> list[dict]:
    """The device programs attached to ``cgroup_dir`` itself: ``{"id", "name"}`` each ([] when none)."""
    dir_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        found = []
        for prog_id in bpf.query(dir_fd):
            try:
                prog_fd = bpf.program_fd(prog_id)
            except OSError:
                found.append({"id": prog_id, "name": ""})  # detached meanwhile, or an LSM hides it
                continue
            try:
                found.append({"id": prog_id, "name": bpf.program_info(prog_fd)["name"]})
            finally:
                os.close(prog_fd)
        return found
    finally:
        os.close(dir_fd)


def remove(cgroup_dir: str) -> None:
    """Detach every device program from ``cgroup_dir`` (each is freed once nothing holds it); none is fine."""
    try:
        dir_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        for prog_id in bpf.query(dir_fd):
            _detach_id(dir_fd, prog_id)
    finally:
        os.close(dir_fd)


def _detach_id(dir_fd: int, prog_id: int) -> None:
    try:
        prog_fd = bpf.program_fd(prog_id)
    except FileNotFoundError:
        return  # already gone
    try:
        bpf.detach(dir_fd, prog_fd)
    except FileNotFoundError:
        pass  # detached meanwhile (ENOENT: not attached here)
    finally:
        os.close(prog_fd)
