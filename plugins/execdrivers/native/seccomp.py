"""Load an OCI ``linux.seccomp`` profile with libseccomp (through pyseccomp).

Imported only inside the container's init just before execve, so processes
that never run a seccomp'd container do not load libseccomp.
"""

from __future__ import annotations

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


def load_seccomp(profile: dict) -> None:
    """Build the filter from ``profile`` and load it into the calling process."""
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
    flt.load()
