"""The last steps before execve, shared by a container's init and by execs.

Order (after runc's ``finalizeNamespace`` and ``standard_init_linux.go``):
stdio, session and controlling tty, rlimits, no_new_privs, seccomp (before the
capability drop when no_new_privs is off, since loading it then needs
CAP_SYS_ADMIN), bounding set, uid/gid with capabilities kept, capset and
ambient, cwd, PATH lookup inside the container, execve.
"""

from __future__ import annotations

import errno
import fcntl
import os
import resource
import signal
import stat
import termios

from . import caps, syscalls
from .seccomp import load_bpf

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_RLIMITS = {
    name: getattr(resource, name)
    for name in ("RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_LOCKS",
                 "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_NOFILE", "RLIMIT_NPROC",
                 "RLIMIT_RSS", "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK")
    if hasattr(resource, name)
}


class ExecFailure(Exception):
    """The user process could not be executed; ``code`` is Docker's exit code for it (126/127)."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def reset_signals() -> None:
    """Python ignores SIGPIPE and SIGXFSZ; ignored signals survive execve, so restore the defaults."""
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def attach_stdio(stdin: int, stdout: int, stderr: int, tty: bool) -> None:
    """Become a session leader and make the given fds 0, 1, 2 (the pty becomes the controlling tty)."""
    os.setsid()
    if tty:
        fcntl.ioctl(stdin, termios.TIOCSCTTY, 0)
    for target, fd in ((0, stdin), (1, stdout), (2, stderr)):
        if fd != target:
            os.dup2(fd, target)  # dup2 leaves the copy inheritable, so execve keeps it
        else:
            os.set_inheritable(fd, True)


def apply_rlimits(rlimits: list[dict]) -> None:
    """setrlimit each entry as given; above the inherited hard limit the kernel refuses (no CAP_SYS_RESOURCE)
    and the start fails with the reason, as runc's does, instead of a silently lower limit."""
    for entry in rlimits or []:
        kind = _RLIMITS.get(entry["type"])
        if kind is None:
            raise ValueError(f"unknown rlimit type {entry['type']!r}")
        soft, hard = (_rlim(entry.get(k, resource.RLIM_INFINITY)) for k in ("soft", "hard"))
        try:
            resource.setrlimit(kind, (soft, hard))
        except (ValueError, OSError) as exc:
            inherited = resource.getrlimit(kind)[1]
            raise OSError(errno.EPERM, f"setting {entry['type']} to {_show(soft)}:{_show(hard)}: {exc} (the "
                          f"inherited hard limit is {_show(inherited)}; raising it needs CAP_SYS_RESOURCE)") from None


def _rlim(value: int) -> int:
    """OCI's uint64 (RLIM_INFINITY is 2**64-1) as Python's resource module wants it."""
    return resource.RLIM_INFINITY if value < 0 or value >= 2**63 else value


def _show(value: int) -> str:
    return "unlimited" if value == resource.RLIM_INFINITY else str(value)


def set_no_new_privs(enabled: bool) -> None:
    """``noNewPrivileges``: setuid binaries and file capabilities no longer grant anything."""
    if enabled:
        syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1)


def switch_user(user: dict, capabilities: dict | None) -> None:
    """setgroups/setgid/setuid, keeping the permitted set so capset can still grant capabilities."""
    uid, gid = int(user.get("uid", 0)), int(user.get("gid", 0))
    if capabilities is not None:
        caps.drop_bounding_set(caps.mask(capabilities.get("bounding")))
    syscalls.prctl(syscalls.PR_SET_KEEPCAPS, 1)
    os.setgroups([int(g) for g in user.get("additionalGids") or []])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    syscalls.prctl(syscalls.PR_SET_KEEPCAPS, 0)
    if capabilities is not None:
        caps.apply_sets(capabilities)
    if "umask" in user:
        os.umask(int(user["umask"]))
    else:
        os.umask(0o022)


def change_dir(cwd: str) -> None:
    """Enter the process's working directory; Docker creates a missing WORKDIR beforehand, so missing is an error."""
    try:
        os.chdir(cwd or "/")
    except OSError as exc:
        raise ExecFailure(f"chdir to cwd (\"{cwd}\") set in config.json failed: {exc.strerror.lower()}", 128) from None


def env_dict(env: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in env or []:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def resolve_executable(arg0: str, env: dict[str, str]) -> str:
    """Find ``arg0`` as Go's exec.LookPath does, inside the container's root and with its PATH."""
    if not arg0:
        raise ExecFailure("exec: no command specified", 127)
    if "/" in arg0:
        try:
            st = os.stat(arg0)
        except OSError as exc:
            code = 127 if exc.errno == errno.ENOENT else 126
            raise ExecFailure(f'exec: "{arg0}": stat {arg0}: {exc.strerror.lower()}', code) from None
        if stat.S_ISDIR(st.st_mode):
            raise ExecFailure(f'exec: "{arg0}": is a directory', 126)
        return arg0
    for directory in env.get("PATH", DEFAULT_PATH).split(":"):
        candidate = os.path.join(directory or ".", arg0)
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            return candidate
    raise ExecFailure(f'exec: "{arg0}": executable file not found in $PATH', 127)


def execute(path: str, args: list[str], env: dict[str, str]) -> None:
    """execve; a failure becomes ExecFailure with Docker's wording and exit code."""
    try:
        os.execve(path, args, env)
    except OSError as exc:
        code = 127 if exc.errno == errno.ENOENT else 126
        raise ExecFailure(f'exec: "{args[0]}": {exc.strerror.lower()}', code) from None


def run(process: dict, stdio: tuple[int, int, int], tty: bool, seccomp_program: bytes | None) -> None:
    """Turn the calling (already namespaced and pivoted) process into ``process``; never returns."""
    reset_signals()
    attach_stdio(*stdio, tty=tty)
    apply_rlimits(process.get("rlimits"))
    nnp = bool(process.get("noNewPrivileges"))
    set_no_new_privs(nnp)
    if seccomp_program and not nnp:
        load_bpf(seccomp_program)
    switch_user(process.get("user") or {}, process.get("capabilities"))
    env = env_dict(process.get("env"))
    change_dir(process.get("cwd", "/"))
    path = resolve_executable((process.get("args") or [""])[0], env)
    if seccomp_program and nnp:
        load_bpf(seccomp_program)
    execute(path, process["args"], env)
