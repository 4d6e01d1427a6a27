"""The ``bpf(2)`` calls a cgroup device program needs, through ctypes.

Load a program, attach it to a cgroup directory, list what is attached there,
open an attached program by its ID, read its name, detach it. Each ``bpf_attr``
is packed by hand from the kernel's UAPI layout (``linux/bpf.h``), which is
append-only: a shorter attribute is always accepted by newer kernels. Every
failure is an ``OSError`` with the errno and a message naming the call and its
target, like :mod:`.syscalls`.

Only root (CAP_BPF + CAP_SYS_ADMIN, or CAP_SYS_ADMIN alone before 5.8) can do
any of this; the program's memory is charged to the caller's memory cgroup
since 5.11 and to ``RLIMIT_MEMLOCK`` before (see :func:`load_program`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import platform
import resource
import struct

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

#: __NR_bpf per machine (asm/unistd.h); None where berth does not know it
_NR_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "ppc64le": 361, "s390x": 351,
           "i686": 357, "i386": 357, "armv7l": 386}.get(platform.machine())

# commands (enum bpf_cmd)
_PROG_LOAD = 5
_PROG_ATTACH = 8
_PROG_DETACH = 9
_PROG_GET_FD_BY_ID = 13
_OBJ_GET_INFO_BY_FD = 15
_PROG_QUERY = 16

PROG_TYPE_CGROUP_DEVICE = 15   # enum bpf_prog_type
ATTACH_CGROUP_DEVICE = 6       # enum bpf_attach_type
F_ALLOW_MULTI = 1 << 1         # every program of the cgroup and its ancestors runs; all must allow

_OBJ_NAME_LEN = 16
_LOG_SIZE = 1 << 16
_MAX_ATTACHED = 64             # the kernel's limit of programs per cgroup and attach type


def _bpf(cmd: int, attr: ctypes.Array, what: str) -> int:
    if _NR_BPF is None:
        raise OSError(errno.ENOSYS, f"bpf({what}): berth does not know the bpf syscall number on {platform.machine()}")
    result = _libc.syscall(_NR_BPF, cmd, attr, ctypes.sizeof(attr))
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"bpf({what}): {os.strerror(err)}")
    return result


def _attr(size: int, fmt: str, *values) -> ctypes.Array:
    buf = ctypes.create_string_buffer(size)
    struct.pack_into(fmt, buf, 0, *values)
    return buf


def load_program(instructions: bytes, name: str, license: str = "Apache-2.0",
                 prog_type: int = PROG_TYPE_CGROUP_DEVICE, attach_type: int = ATTACH_CGROUP_DEVICE) -> int:
    """Load ``instructions`` (packed ``struct bpf_insn``) and return the program's fd.

    A program the verifier rejects raises ``OSError`` carrying the verifier's log.
    Kernels before 5.11 charge programs to ``RLIMIT_MEMLOCK``: on EPERM the limit is
    raised for the one retry (as runc does) and put back, so nothing the monitor
    forks inherits it.
    """
    insns = ctypes.create_string_buffer(instructions, len(instructions))
    licence = ctypes.create_string_buffer(license.encode())
    log = ctypes.create_string_buffer(_LOG_SIZE)
    # prog_type, insn_cnt, insns, license, log_level, log_size, log_buf, kern_version, prog_flags,
    # prog_name[16], prog_ifindex, expected_attach_type
    attr = _attr(128, "<IIQQIIQII16sII", prog_type, len(instructions) // 8, ctypes.addressof(insns),
                 ctypes.addressof(licence), 1, _LOG_SIZE, ctypes.addressof(log), 0, 0,
                 name.encode()[:_OBJ_NAME_LEN - 1], 0, attach_type)
    try:
        return _bpf(_PROG_LOAD, attr, f"PROG_LOAD {name}")
    except OSError as exc:
        if exc.errno == errno.EPERM and _raise_memlock():
            try:
                return _bpf(_PROG_LOAD, attr, f"PROG_LOAD {name}")
            finally:
                _restore_memlock()
        verifier = log.value.decode(errors="replace").strip()
        if verifier:
            raise OSError(exc.errno, f"{exc.strerror}; the verifier said: {verifier[-2000:]}") from None
        raise


_saved_memlock: tuple[int, int] | None = None


def _raise_memlock() -> bool:
    """Lift RLIMIT_MEMLOCK (to infinity with CAP_SYS_RESOURCE, else to the hard limit); False if it cannot rise."""
    global _saved_memlock
    current = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    for wanted in ((resource.RLIM_INFINITY, resource.RLIM_INFINITY), (current[1], current[1])):
        if wanted[0] == current[0]:
            continue
        try:
            resource.setrlimit(resource.RLIMIT_MEMLOCK, wanted)
        except (OSError, ValueError):
            continue
        _saved_memlock = current
        return True
    return False


def _restore_memlock() -> None:
    global _saved_memlock
    if _saved_memlock is not None:
        try:
            resource.setrlimit(resource.RLIMIT_MEMLOCK, _saved_memlock)
        except (OSError, ValueError):
            pass
        _saved_memlock = None


def attach(target_fd: int, prog_fd: int, attach_type: int = ATTACH_CGROUP_DEVICE, flags: int = F_ALLOW_MULTI) -> None:
    """Attach the program ``prog_fd`` to the cgroup open as ``target_fd``; the cgroup holds it from now on."""
    # target_fd, attach_bpf_fd, attach_type, attach_flags, replace_bpf_fd
    _bpf(_PROG_ATTACH, _attr(20, "<IIIII", target_fd, prog_fd, attach_type, flags, 0), "PROG_ATTACH")


def detach(target_fd: int, prog_fd: int, attach_type: int = ATTACH_CGROUP_DEVICE) -> None:
    """Detach the program ``prog_fd`` from the cgroup open as ``target_fd`` (freed once nothing holds it)."""
    _bpf(_PROG_DETACH, _attr(20, "<IIIII", target_fd, prog_fd, attach_type, 0, 0), "PROG_DETACH")


def query(target_fd: int, attach_type: int = ATTACH_CGROUP_DEVICE) -> list[int]:
    """IDs of the programs attached to the cgroup open as ``target_fd`` itself (not its ancestors')."""
    ids = (ctypes.c_uint32 * _MAX_ATTACHED)()
    # target_fd, attach_type, query_flags, attach_flags, prog_ids, prog_cnt
    attr = _attr(40, "<IIIIQI", target_fd, attach_type, 0, 0, ctypes.addressof(ids), _MAX_ATTACHED)
    _bpf(_PROG_QUERY, attr, "PROG_QUERY")
    count = struct.unpack_from("<I", attr, 24)[0]
    return list(ids[:min(count, _MAX_ATTACHED)])


def program_fd(prog_id: int) -> int:
    """An fd of the loaded program ``prog_id`` (close it when done)."""
    return _bpf(_PROG_GET_FD_BY_ID, _attr(12, "<III", prog_id, 0, 0), f"PROG_GET_FD_BY_ID {prog_id}")


def program_info(prog_fd: int) -> dict:
    """The program's ``type``, ``id`` and ``name`` (struct bpf_prog_info, its first fields)."""
    info = ctypes.create_string_buffer(80)
    # bpf_fd, info_len, info
    _bpf(_OBJ_GET_INFO_BY_FD, _attr(16, "<IIQ", prog_fd, len(info), ctypes.addressof(info)), "OBJ_GET_INFO_BY_FD")
    prog_type, prog_id = struct.unpack_from("<II", info, 0)
    name = struct.unpack_from("16s", info, 64)[0].split(b"\0", 1)[0].decode(errors="replace")
    return {"type": prog_type, "id": prog_id, "name": name}
