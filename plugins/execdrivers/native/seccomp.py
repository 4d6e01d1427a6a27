"""OCI ``linux.seccomp`` profiles: compiled once to BPF with libseccomp, loaded with one prctl.

Compiling Docker's default profile (about 400 rules, three architectures) costs
~25 ms; every container with the same profile gets the same program, so the
monitor compiles it once into a cache (``<driver root>/seccomp/<sha256>.bpf``,
written atomically) and the container's init only hands the kernel the bytes,
without importing libseccomp at all.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import tempfile

_OPS = {
    "SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7,
}


def _action(seccomp, name: str, errno_ret: int | None) -> int:
    if name == "SCMP_ACT_ALLOW":
        return seccomp.ALLOW
    if name == "SCMP_ACT_ERRNO":
        return seccomp.ERRNO(1 if errno_ret is None else errno_ret)  # EPERM, as runc defaults
    if name in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return seccomp.KILL_THREAD
    if name == "SCMP_ACT_KILL_PROCESS":
        return seccomp.KILL_PROCESS
    if name == "SCMP_ACT_TRAP":
        return seccomp.TRAP
    if name == "SCMP_ACT_LOG":
        return seccomp.LOG
    if name == "SCMP_ACT_TRACE":
        return seccomp.TRACE(1 if errno_ret is None else errno_ret)
    raise ValueError(f"seccomp action {name!r} is not supported by the native driver")


def _build_filter(profile: dict):
    """The libseccomp filter for ``profile`` (imports pyseccomp)."""
    import pyseccomp as seccomp

    default = _action(seccomp, profile.get("defaultAction", "SCMP_ACT_ALLOW"), profile.get("defaultErrnoRet"))
    flt = seccomp.SyscallFilter(default)
    # libseccomp sets no_new_privs on load by default; the spec's noNewPrivileges decides that instead.
    flt.set_attr(seccomp.Attr.CTL_NNP, 0)
    for arch in profile.get("architectures") or []:
        value = getattr(seccomp.Arch, arch.removeprefix("SCMP_ARCH_"), None)
        if value is not None and value != seccomp.system_arch() and not flt.exist_arch(value):
            try:
                flt.add_arch(value)
            except OSError:
                pass  # an arch the kernel/libseccomp cannot handle here is skipped, as runc does
    for rule in profile.get("syscalls") or []:
        action = _action(seccomp, rule["action"], rule.get("errnoRet"))
        if action == default:
            continue  # libseccomp rejects rules equal to the default action
        args = [
            seccomp.Arg(a["index"], _OPS[a["op"]], a.get("value", 0), a.get("valueTwo", 0))
            for a in rule.get("args") or []
        ]
        for name in rule.get("names") or []:
            try:
                flt.add_rule(action, name, *args)
            except (OSError, ValueError):
                continue  # a syscall this kernel/arch does not have
    return flt


def compile_bpf(profile: dict) -> bytes:
    """The BPF program libseccomp makes of ``profile`` (an array of 8-byte ``sock_filter``)."""
    flt = _build_filter(profile)
    with tempfile.TemporaryFile() as f:
        flt.export_bpf(f)
        f.seek(0)
        return f.read()


def program_for(profile: dict | None, cache_dir: str | None) -> bytes | None:
    """The compiled program of ``profile``, from the cache when an identical profile was compiled before."""
    if not profile:
        return None
    if not cache_dir:
        return compile_bpf(profile)
    key = hashlib.sha256(json.dumps(profile, sort_keys=True).encode()).hexdigest()
    path = os.path.join(cache_dir, key + ".bpf")
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        pass
    program = compile_bpf(profile)
    os.makedirs(cache_dir, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".bpf-")
    with os.fdopen(fd, "wb") as f:
        f.write(program)
    os.replace(tmp, path)  # concurrent compilers write identical bytes; the last rename wins
    return program


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


def load_bpf(program: bytes) -> None:
    """Install ``program`` as the calling process's seccomp filter (needs no_new_privs or CAP_SYS_ADMIN)."""
    if len(program) % 8:
        raise ValueError("a seccomp program is a whole number of 8-byte instructions")
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"loading the seccomp filter: {os.strerror(err)}")
