"""The fuse-overlay serving process: one per mounted layer.

Started by the driver as::

    python -m berth.plugins.graphdrivers.fuse_overlay.serve MERGED --upper DIFF --work WORK
        [--lower DIR]... --ready-fd N --pid-file FILE [LEVERS]

(LEVERS: the flags :mod:`.options` makes of the driver's storage options.)

It forks once and the parent exits, so the server is no child of berthd and lives
on in its own session when berthd stops (the FUSE mount outlives the daemon,
like a kernel mount). The server mounts, writes ``ready`` (or ``error: ...``) to
the ready fd, and serves until the mount goes away (``umount``/``fusermount3
-u``), then exits. SIGTERM and SIGINT unmount and exit.

Only the standard library, the whiteout helpers and (after the fork) pyfuse3 and
trio are imported: this must start in a fraction of a second.
"""

from __future__ import annotations

import argparse
import functools
import os
import signal
import sys

READ_AHEAD_KB = 1024  # the most one FUSE request carries (libfuse: 256 pages)
MOUNT_OPTIONS = ("fsname=berth-fuse-overlay", "subtype=berth-fuse-overlay", "allow_other", "default_permissions",
                 "dev", "suid")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fuse-overlay-serve", description="serve one fuse-overlay union mount")
    parser.add_argument("mountpoint")
    parser.add_argument("--upper", required=True, help="the writable layer's diff directory")
    parser.add_argument("--work", required=True, help="scratch dir on the upper's filesystem (copy-up staging)")
    parser.add_argument("--lower", action="append", default=[], help="a lower diff directory, nearest first")
    parser.add_argument("--ready-fd", type=int, default=-1, help="write 'ready' or 'error: ...' here, then close it")
    parser.add_argument("--pid-file", default="", help="write the serving process's pid here")
    parser.add_argument("--foreground", action="store_true", help="do not fork (for debugging)")
    # the levers of options.py (the driver passes its storage options here)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds the kernel may cache entries and attributes")
    parser.add_argument("--writeback", action=argparse.BooleanOptionalAction, default=True,
                        help="let the kernel cache writes (FUSE writeback cache)")
    parser.add_argument("--fast-loop", action=argparse.BooleanOptionalAction, default=True,
                        help="wait for requests in poll(2), not in a trio scheduler round (see fastloop.py)")
    parser.add_argument("--read-ahead-kb", type=int, default=READ_AHEAD_KB,
                        help="the mount's readahead, the largest read the kernel sends (0: the kernel's default)")
    return parser.parse_args(argv)


def _tell(fd: int, message: str) -> None:
    if fd >= 0:
        try:
            os.write(fd, message.encode() + b"\n")
        except OSError:
            pass  # the driver gave up waiting; the mount is still usable


def _write_pid(path: str) -> None:
    if not path:
        return
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{os.getpid()}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _set_read_ahead(mountpoint: str, kib: int) -> None:
    """Let the kernel send reads of up to ``kib`` KiB (it sends 128 KiB, its default readahead, otherwise).

    The limit is the FUSE mount's readahead, in /sys/class/bdi/<its device>/read_ahead_kb;
    libfuse takes requests of up to 1 MiB (max_pages 256). The device comes from
    mountinfo: stat(2) on our own mount (realpath too) would wait for this very process.
    """
    parent, name = os.path.split(os.path.abspath(mountpoint))
    real = os.path.join(os.path.realpath(parent), name)
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        devices = [line.split(" ")[2] for line in f if line.split(" ")[4].replace("\\040", " ") == real]
    if not devices:
        return
    try:
        with open(f"/sys/class/bdi/{devices[-1]}/read_ahead_kb", "w", encoding="ascii") as f:
            f.write(str(kib))
    except OSError as exc:  # not fatal: reads stay at 128 KiB
        print(f"fuse-overlay: cannot raise the readahead of {mountpoint}: {exc}", file=sys.stderr)


def _tune(args: argparse.Namespace, pyfuse3) -> int:
    """Apply the mounted session's levers (fast loop, readahead); how many pyfuse3 worker tasks to run."""
    from berth.plugins.graphdrivers.fuse_overlay import fastloop

    tasks = 8  # handlers never suspend, so more tasks only queue in trio
    if args.fast_loop:
        why_not = fastloop.install(pyfuse3)
        if why_not:
            print(f"fuse-overlay: no fast loop: {why_not}", file=sys.stderr)
        else:
            tasks = 1
    if args.read_ahead_kb:
        # Set once INIT is done: the kernel clamps the readahead to INIT's (128 KiB) when it takes the reply
        raise_read_ahead = functools.partial(_set_read_ahead, args.mountpoint, args.read_ahead_kb)
        why_not = fastloop.after_init(pyfuse3, raise_read_ahead)
        if why_not:
            print(f"fuse-overlay: the readahead stays the kernel's: {why_not}", file=sys.stderr)
    return tasks


def serve(args: argparse.Namespace) -> int:
    """Mount the union at ``args.mountpoint`` and serve it until it is unmounted."""
    import pyfuse3
    import trio

    from berth.plugins.graphdrivers.fuse_overlay.ops import UnionOperations
    from berth.plugins.graphdrivers.fuse_overlay.union import Union

    # Modes and owners are set explicitly by the handlers; our umask must not bite.
    os.umask(0)
    ops = UnionOperations(Union(args.upper, args.lower, args.work), timeout=args.timeout, writeback=args.writeback)
    try:
        pyfuse3.init(ops, args.mountpoint, set(MOUNT_OPTIONS))
    except Exception as exc:
        _tell(args.ready_fd, f"error: cannot mount FUSE at {args.mountpoint}: {exc}")
        return 1
    tasks = _tune(args, pyfuse3)
    _tell(args.ready_fd, "ready")
    if args.ready_fd >= 0:
        os.close(args.ready_fd)
        args.ready_fd = -1
    signalled = False

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            async def on_signals() -> None:
                nonlocal signalled
                with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                    async for _ in signals:
                        signalled = True
                        pyfuse3.terminate()
                        return

            nursery.start_soon(on_signals)
            await pyfuse3.main(max_tasks=tasks)
            nursery.cancel_scope.cancel()

    try:
        trio.run(run)
    finally:
        # After an outside unmount this is only clean-up: unmounting again could hit a
        # new mount made at the same place since. After a signal (or a crash) we unmount.
        pyfuse3.close(unmount=signalled or sys.exc_info()[0] is not None)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, detach from the caller, then serve."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    if not args.foreground and os.fork() != 0:
        os._exit(0)  # the driver reaps this parent; the child is adopted by init
    os.chdir("/")  # never keep a directory of the caller busy
    _write_pid(args.pid_file)
    try:
        return serve(args)
    except Exception as exc:  # reported to the driver when it is still listening
        _tell(args.ready_fd, f"error: {type(exc).__name__}: {exc}")
        raise


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown (trio, pyfuse3): the driver waits for this exit on unmount
    os._exit(status)
