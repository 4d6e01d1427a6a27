"""The container's init and an exec's process: the set-up sequence inside the new process.

Runs in the child the monitor forks (already in the right pid namespace). Each
step is one named function call so a failure reports the step that failed, as
runc's ``standard_init_linux.go`` and ``setns_init_linux.go`` do. Everything here
must already be imported before ``pivot_root``: after it the host's Python
modules are out of reach.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, NoReturn

from ...linux import loopback
from ..monitoring import channel
from . import process, reaper, rootfs, syscalls, userns
from .cgroups import Cgroups

#: Namespaces set up by the init itself; "pid" is entered by the monitor before it forks (or, with a
#: user namespace, by the init before it forks pid 1: see ``userns.py``, which handles "user" too).
_INIT_NAMESPACES = ("ipc", "uts", "network", "cgroup", "mount")


@dataclass
class InitContext:
    """What the monitor hands its child."""

    spec: dict
    chan: socket.socket
    cgroups: Cgroups | None
    stdio: tuple[int, int, int] | None  # None with a tty: the pty is opened inside the container
    tty: bool
    process: dict = field(default_factory=dict)
    master: int = -1
    slave: int = -1
    #: CLOCK_MONOTONIC (system-wide) after each step that has a mark; sent with "ready" for profiling
    marks: dict = field(default_factory=dict)
    #: the spec's seccomp profile compiled to BPF by the monitor (None: no filter)
    seccomp_program: bytes | None = None
    #: with a user namespace: bind-mount and device sources cloned as host root (``userns.open_sources``)
    sources: dict = field(default_factory=dict)
    #: with a user namespace, set before pid 1 is forked: the cgroup go-ahead and the namespaces
    #: named by path are already taken care of
    cgroups_joined: bool = False
    joined_by_path: bool = False


class StepFailed(Exception):
    def __init__(self, step: str, error: BaseException):
        super().__init__(f"{step}: {error}")
        self.step = step
        self.error = error


#: Steps after which the init notes the time (the daemon logs the gaps as phases of a create).
_MARKED_STEPS = {"enter namespaces": "namespaces_entered", "wait for cgroups": "cgroups_awaited",
                 "pivot_root": "pivoted", "masked paths": "paths_masked"}


def _run_steps(steps: list[tuple[str, Callable[[], None]]], marks: dict | None = None) -> None:
    for name, fn in steps:
        try:
            fn()
        except process.ExecFailure:
            raise
        except Exception as exc:
            raise StepFailed(name, exc) from exc
        if marks is not None and name in _MARKED_STEPS:
            marks[_MARKED_STEPS[name]] = time.monotonic()


def _fail(ctx: InitContext, exc: BaseException) -> NoReturn:
    """Tell the monitor why we cannot go on, then exit with Docker's code for it."""
    if isinstance(exc, process.ExecFailure):
        message, code = {"exec_error": str(exc), "exit_code": exc.code}, exc.code
    else:
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        message, code = {"error": detail if not isinstance(exc, StepFailed) else str(exc)}, 1
    try:
        channel.send(ctx.chan, message)
    finally:
        os._exit(code)


# ---------------------------------------------------------------------------
# steps
# ---------------------------------------------------------------------------


def join_cgroups(ctx: InitContext) -> None:
    """An exec's process enters the container's cgroups itself, before it joins the namespaces."""
    if ctx.cgroups is not None:
        ctx.cgroups.join(0)


def enter_namespaces(ctx: InitContext) -> None:
    """setns into the namespaces the spec names by path, unshare the new ones (no entry: share the host's).

    A new cgroup namespace is left to :func:`wait_for_cgroups`: it must be rooted at the container's
    cgroup, which the monitor is moving us into while we get on with the rest.
    """
    entries = {ns["type"]: ns for ns in (ctx.spec.get("linux") or {}).get("namespaces") or []}
    unshare_flags = 0
    for kind in _INIT_NAMESPACES:
        if kind not in entries:
            continue
        flag = syscalls.NAMESPACES[kind][0]
        path = entries[kind].get("path")
        if path and ctx.joined_by_path:
            continue
        if path:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                syscalls.setns(fd, flag, f"{kind} namespace {path}")
            finally:
                os.close(fd)
        elif kind != "cgroup":
            unshare_flags |= flag
    if unshare_flags:
        syscalls.unshare(unshare_flags)


def loopback_up(ctx: InitContext) -> None:
    """In a new network namespace, bring ``lo`` up, as runc and crun do: a container joined to no
    network (``--network none``, or every network disconnected) still has 127.0.0.1."""
    if not _new_namespace(ctx.spec, "network"):
        return
    loopback.bring_up()


def wait_for_cgroups(ctx: InitContext) -> None:
    """Block until the monitor has moved us into the container's cgroups, then make the new cgroup namespace.

    The monitor writes our pid into every ``cgroup.procs`` right after the fork; on cgroup v1
    that write waits for an RCU grace period, which we spend on namespaces and mounts instead
    of idling. Everything from here on (the cgroupfs mount, execve) needs the membership:
    the namespace's root and the limits that apply to the user's process.
    """
    await_cgroups(ctx)
    if _new_namespace(ctx.spec, "cgroup"):
        syscalls.unshare(syscalls.NAMESPACES["cgroup"][0])


def await_cgroups(ctx: InitContext) -> None:
    """The monitor's go-ahead: we are in the container's cgroups (received once, by whoever comes first)."""
    if ctx.cgroups_joined:
        return
    message, _ = channel.recv(ctx.chan)
    if message is None:
        os._exit(1)  # the monitor is gone (it failed and reports why itself)
    if not message.get("cgroups_joined"):
        raise RuntimeError(f"expected the monitor's cgroup go-ahead, got {message!r}")
    ctx.cgroups_joined = True


def _new_namespace(spec: dict, kind: str) -> bool:
    return any(ns["type"] == kind and not ns.get("path") for ns in (spec.get("linux") or {}).get("namespaces") or [])


def prepare_rootfs(ctx: InitContext, cgroup_wait: tuple[str, Callable[[], None]] | None = None
                   ) -> list[tuple[str, Callable[[], None]]]:
    """The mount steps before pivot_root, in the spec's order; ``cgroup_wait`` goes before the first cgroupfs."""
    linux = ctx.spec.get("linux") or {}
    root = ctx.spec["root"]["path"]
    new_cgroupns = _new_namespace(ctx.spec, "cgroup")
    steps: list[tuple[str, Callable[[], None]]] = [
        ("make mounts private", lambda: rootfs.make_host_mounts_private(linux.get("rootfsPropagation"))),
        ("bind rootfs", lambda: rootfs.bind_rootfs_on_itself(root, linux.get("rootfsPropagation"))),
    ]
    for n, entry in enumerate(ctx.spec.get("mounts") or []):
        if cgroup_wait is not None and entry.get("type") == "cgroup":
            steps.append(cgroup_wait)
            cgroup_wait = None
        if userns.source_key(n) in ctx.sources:  # cloned before the user namespace: attach that copy
            entry = {**entry, "tree": ctx.sources[userns.source_key(n)]}
        steps.append((f"mount {entry.get('type') or 'bind'} on {entry['destination']}",
                      lambda e=entry: rootfs.mount_entry(root, e, ctx.cgroups, new_cgroupns)))
    steps += [
        ("create devices", lambda: rootfs.create_devices(root, linux.get("devices") or [], ctx.sources)),
        ("create /dev symlinks", lambda: rootfs.create_dev_symlinks(root)),
        ("pivot_root", lambda: rootfs.pivot_to(root)),
    ]
    if linux.get("rootfsPropagation"):
        steps.append(("root propagation", lambda: rootfs.apply_root_propagation(linux["rootfsPropagation"])))
    return steps


def open_console(ctx: InitContext) -> None:
    """Allocate the pty inside the container's devpts, so /dev/pts/N names it inside too."""
    if not ctx.tty:
        return
    if not os.path.exists("/dev/ptmx"):
        raise OSError("a terminal was requested but the container has no /dev/ptmx; mount devpts on /dev/pts")
    user = ctx.process.get("user") or {}
    ctx.master, ctx.slave = rootfs.setup_console(int(user.get("uid", 0)), int(user.get("gid", 0)))


def set_hostname(ctx: InitContext) -> None:
    """Only meaningful in a new UTS namespace; the host's name is never touched."""
    hostname = ctx.spec.get("hostname")
    if hostname and _new_namespace(ctx.spec, "uts"):
        socket.sethostname(hostname)
    domain = ctx.spec.get("domainname")
    if domain and _new_namespace(ctx.spec, "uts"):
        # the syscall, not /proc/sys/kernel/domainname: in a user namespace that file is only host root's
        syscalls.setdomainname(domain)


def write_sysctls(ctx: InitContext) -> None:
    """``linux.sysctl``, written while /proc/sys is still writable."""
    for key, value in ((ctx.spec.get("linux") or {}).get("sysctl") or {}).items():
        with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
            f.write(str(value))


def set_oom_score_adj(ctx: InitContext) -> None:
    """``process.oomScoreAdj`` (``--oom-score-adj``): inherited by everything the container starts.

    Lowering it below what the init inherited needs CAP_SYS_RESOURCE; without it the start
    fails with that reason (runc fails too, less clearly), never with a silently kept score.
    """
    value = ctx.process.get("oomScoreAdj")
    if value is None:
        return
    with open("/proc/self/oom_score_adj") as f:
        current = int(f.read().strip() or 0)
    if current == int(value):
        return
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(int(value)))
    except PermissionError:
        raise PermissionError(f"setting oom_score_adj to {value}: operation not permitted (lowering it below "
                              f"the daemon's {current} needs CAP_SYS_RESOURCE, which berthd does not have)") from None


def report_ready(ctx: InitContext) -> None:
    """Tell the monitor we exist and are set up; hand it the pty master."""
    fds = [ctx.master] if ctx.master >= 0 else []
    channel.send(ctx.chan, {"ready": True, "pid": os.getpid(), "marks": ctx.marks}, fds)
    if ctx.master >= 0:
        os.close(ctx.master)
        ctx.master = -1


def wait_for_start(ctx: InitContext) -> None:
    """Block until exec_start (the OCI create/start split); the monitor going away means never."""
    message, _ = channel.recv(ctx.chan)
    if not message or not message.get("start"):
        os._exit(0)


def exec_process(ctx: InitContext) -> NoReturn:
    """The user process replaces us; on success the monitor sees our channel close (CLOEXEC)."""
    stdio = (ctx.slave, ctx.slave, ctx.slave) if ctx.tty else ctx.stdio
    process.run(ctx.process, stdio, ctx.tty, ctx.seccomp_program)
    raise AssertionError("unreachable: execve returned")


# ---------------------------------------------------------------------------
# sequences
# ---------------------------------------------------------------------------


def container_init(ctx: InitContext) -> NoReturn:
    """The container's pid 1 from fork to execve.

    The monitor moves us into the container's cgroups concurrently; ``wait for cgroups`` comes
    before the first step that depends on it (the cgroupfs mount, else before reporting ready),
    so the create still returns a process inside its cgroups and execve happens under its limits.
    """
    linux = ctx.spec.get("linux") or {}
    ctx.process = ctx.spec.get("process") or {}
    try:
        user = userns.entry(ctx.spec)
        if user is not None:
            enter_user_namespace(ctx, user)  # only pid 1 comes back
        cgroup_wait = ("wait for cgroups", lambda: wait_for_cgroups(ctx))
        steps = [
            ("enter namespaces", lambda: enter_namespaces(ctx)),
            ("loopback up", lambda: loopback_up(ctx)),
        ]
        mount_steps = prepare_rootfs(ctx, cgroup_wait)
        waits_in_mounts = any(step is cgroup_wait for step in mount_steps)
        steps += mount_steps
        steps += [
            ("open console", lambda: open_console(ctx)),
            ("set hostname", lambda: set_hostname(ctx)),
            ("write sysctls", lambda: write_sysctls(ctx)),
            ("set oom_score_adj", lambda: set_oom_score_adj(ctx)),
            ("read-only paths", lambda: rootfs.readonly_paths(linux.get("readonlyPaths") or [])),
            ("masked paths", lambda: rootfs.mask_paths(linux.get("maskedPaths") or [])),
        ]
        if (ctx.spec.get("root") or {}).get("readonly"):
            steps.append(("read-only root", rootfs.remount_root_readonly))
        if not waits_in_mounts:
            steps.append(cgroup_wait)
        steps += [
            ("report ready", lambda: report_ready(ctx)),
            ("wait for start", lambda: wait_for_start(ctx)),
        ]
        if reaper.wanted(ctx.spec):
            steps.insert(len(steps) - 2, ("hold signals", reaper.hold_signals))
        ctx.marks["init_forked"] = time.monotonic()
        _run_steps(steps, ctx.marks)
        if reaper.wanted(ctx.spec):
            # pid 1 stays ours and reaps; the user's process is its child. Our copy of the channel
            # closes here so the monitor still learns of the execve from the child's copy closing.
            reaper.run(lambda: _exec_or_fail(ctx),
                       (ctx.process.get("capabilities") or {}).get("bounding"),
                       close=[ctx.chan, *set(ctx.stdio or ()), ctx.slave])
        exec_process(ctx)
    except BaseException as exc:  # noqa: BLE001 - the child must never return into the monitor's code
        _fail(ctx, exc)


def enter_user_namespace(ctx: InitContext, user: dict) -> None:
    """As host root: what needs the host (see ``userns.py``), then into the user namespace; fork pid 1.

    Returns in pid 1 only; the forking process reports pid 1's pid to the monitor and exits.
    """
    _run_steps([
        ("join namespaces by path", lambda: userns.join_by_path(ctx.spec)),
        ("open mount sources", lambda: ctx.sources.update(userns.open_sources(ctx.spec))),
        ("set oom_score_adj", lambda: set_oom_score_adj(ctx)),
        ("wait for cgroups", lambda: await_cgroups(ctx)),
        ("enter user namespace", lambda: userns.enter(user, ctx.chan)),
        ("become root", userns.become_root),
        ("fork pid 1", lambda: userns.fork_pid1(ctx.spec, ctx.chan)),
    ])
    ctx.joined_by_path = True


def _exec_or_fail(ctx: InitContext) -> NoReturn:
    """The --init child: become the user's process, or report why not and exit with Docker's code."""
    try:
        exec_process(ctx)
    except BaseException as exc:  # noqa: BLE001
        _fail(ctx, exc)


def exec_init(ctx: InitContext, init_pid: int) -> NoReturn:
    """A process started in a running container: join its namespaces and cgroups, then execve."""
    try:
        _run_steps([
            ("join cgroups", lambda: join_cgroups(ctx)),
            ("set oom_score_adj", lambda: set_oom_score_adj(ctx)),  # the container's, as runc exec does; as host root
            ("join namespaces", lambda: join_container_namespaces(init_pid)),
            ("open console", lambda: open_pty(ctx)),
            ("report ready", lambda: report_ready(ctx)),
        ])
        exec_process(ctx)
    except BaseException as exc:  # noqa: BLE001
        _fail(ctx, exc)


def join_container_namespaces(init_pid: int) -> None:
    """setns into every namespace of the container's init that differs from ours (mount, then user, last).

    Host root may join them all; the user namespace comes last since after it we are the container's
    root, without the host's privileges, and then become its uid and gid 0.
    """
    fds = []
    try:
        for kind in ("ipc", "uts", "network", "cgroup", "mount", "user"):
            flag, proc_name = syscalls.NAMESPACES[kind]
            theirs = f"/proc/{init_pid}/ns/{proc_name}"
            if os.stat(theirs).st_ino == os.stat(f"/proc/self/ns/{proc_name}").st_ino:
                continue
            fds.append((os.open(theirs, os.O_RDONLY | os.O_CLOEXEC), flag, theirs))
        for fd, flag, name in fds:
            syscalls.setns(fd, flag, name)
        if fds and fds[-1][1] == syscalls.CLONE_NEWUSER:
            userns.become_root()
    finally:
        for fd, _, _ in fds:
            os.close(fd)


def open_pty(ctx: InitContext) -> None:
    """An exec's pty, from the container's own devpts (no /dev/console for execs)."""
    if not ctx.tty:
        return
    import fcntl

    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, rootfs.TIOCSPTLCK, b"\0\0\0\0")
    slave = fcntl.ioctl(master, rootfs.TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    user = ctx.process.get("user") or {}
    os.fchown(slave, int(user.get("uid", 0)), int(user.get("gid", 0)))
    ctx.master, ctx.slave = master, slave
