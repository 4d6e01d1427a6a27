#!/usr/bin/env python3
"""Container start latency: berth against the real podman, docker, crun and runc, in one run.

Usage (as root)::

    /opt/berth/venv/bin/python bench/start.py [-n 15] [--exec-driver native|oci] [-s overlay|vfs]
                                              [--cli lean|venv] [--no-peers]

berth runs with its default drivers (overlay + native unless ``--exec-driver``/``-s``
say otherwise) on a private berthd: temp data-root under /var/tmp, ``--bridge none``,
busybox from ``berth image bootstrap busybox``. The CLI is the lean launcher that
``.ci/install`` installs as /usr/local/bin/berth (``python -I -S``), generated here
for this checkout; ``--cli venv`` uses the venv's console script instead.

Peers are the ones /work/shared/peers sets up (see its README); this script starts no
daemon and installs nothing, it only prepares what a peer needs from this run:

- podman: the lab store ``/etc/lab-podman/*-overlay.conf`` (setup-podman.sh); busybox is
  loaded from the docker-archive of make-busybox-image.sh when the store lacks it.
  Without the lab config podman is skipped: the stock config would try to pull from the
  internet.
- docker: the lab dockerd at /run/lab-docker.sock (start-dockerd.sh), when it answers
  ``/_ping``; busybox is ``docker load``-ed from the same archive when missing.
- crun/runc: ``make-bundle.sh`` builds a busybox bundle in this run's temp dir.

Every round runs each engine once, in turn (interleaved, so drift on the 2 shared cores
hits all of them alike); the table shows medians and berth's ratio to each peer.
A breakdown of berth's daemon-side time follows: berthd's structlog events
(``duration_ms``) and the driver call totals of ``berth info`` (DriverCalls).
Not a test: nothing is asserted about time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

VENV_BIN = Path(sys.executable).parent
CHECKOUT = Path(__file__).resolve().parent.parent
PEERS = Path("/work/shared/peers")
LAB_IMAGES = Path(os.environ.get("LAB_IMAGES", "/var/lib/lab-images"))
LAB_DOCKER_SOCKET = "/run/lab-docker.sock"
LAB_PODMAN_DIR = Path("/etc/lab-podman")


# -- timing ------------------------------------------------------------------------------------


def run_checked(argv: list[str], env: dict | None = None, timeout: float = 120) -> str:
    """Run a command; a failure raises RuntimeError with its stderr (the benchmark cannot go on)."""
    done = subprocess.run(argv, capture_output=True, env=env, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): "
                           f"{done.stderr.decode(errors='replace').strip()[-600:]}")
    return done.stdout.decode(errors="replace").strip()


def timed(argv: list[str], env: dict | None = None) -> tuple[float, str]:
    """Wall time of one command in ms, and its stdout."""
    start = time.perf_counter()
    out = run_checked(argv, env)
    return (time.perf_counter() - start) * 1000, out


class Engine:
    """One thing that can run ``busybox true``: its commands, and the samples of each operation."""

    def __init__(self, name: str, cli: list[str], env: dict | None = None, phases: bool = True,
                 run_extra: tuple[str, ...] = ("--network", "none")):
        self.name = name
        self.cli = cli
        self.env = env
        self.phases = phases
        self.run_extra = list(run_extra)
        self.samples: dict[str, list[float]] = {}

    def record(self, op: str, ms: float) -> None:
        self.samples.setdefault(op, []).append(ms)

    def run_once(self, keep: bool) -> None:
        ms, _ = timed([*self.cli, "run", "--rm", *self.run_extra, "busybox", "true"], self.env)
        if keep:
            self.record("run --rm", ms)

    def phases_once(self, keep: bool) -> None:
        """create, start -a (start and wait for the exit) and rm, each timed on its own."""
        ms_create, cid = timed([*self.cli, "create", *self.run_extra, "busybox", "true"], self.env)
        cid = cid.splitlines()[-1].strip()
        ms_start, _ = timed([*self.cli, "start", "-a", cid], self.env)
        ms_rm, _ = timed([*self.cli, "rm", cid], self.env)
        if keep:
            self.record("create", ms_create)
            self.record("start -a", ms_start)
            self.record("rm", ms_rm)


class Floor(Engine):
    """``crun run`` / ``runc run`` of a bundle: the kernel's floor for one container start."""

    def __init__(self, name: str, bundle: Path, state: Path):
        super().__init__(name, [name], phases=False)
        self.bundle, self.state, self.counter = bundle, state, 0

    def run_once(self, keep: bool) -> None:
        self.counter += 1
        ms, _ = timed([self.name, "--root", str(self.state), "run", "-b", str(self.bundle),
                       f"berth-bench-{os.getpid()}-{self.counter}"])
        if keep:
            self.record("run --rm", ms)


# -- berth ---------------------------------------------------------------------------------------


class Berthd:
    """A private berthd on a temp data-root; stopped by its pid.

    Without ``netns`` it runs in the host's network namespace with ``--bridge none`` (it must
    never make a bridge there); with ``netns`` (a path under /run/netns that the bench made) it
    runs inside that namespace (``nsenter --net``, which execs it: the pid is berthd's) with its
    default bridge, so the bridge, veths and NAT rules exist only in the sandbox.
    """

    def __init__(self, base: Path, exec_driver: str | None, storage: str | None, cli: str,
                 preexec_fn: Callable[[], None] | None = None, extra_args: tuple[str, ...] = (),
                 netns: str | None = None):
        self.base = base
        self.sock = base / "run" / "berth.sock"
        (base / "run").mkdir(parents=True)
        config = base / "daemon.json"
        config.write_text("{}")
        argv = [str(VENV_BIN / "berthd"), "--data-root", str(base / "data"), "--exec-root", str(base / "run"),
                "-H", f"unix://{self.sock}", "--config-file", str(config)]
        argv = ["nsenter", f"--net={netns}", *argv] if netns else [*argv, "--bridge", "none"]
        if exec_driver:
            argv += ["--exec-driver", exec_driver]
        if storage:
            argv += ["-s", storage]
        argv += list(extra_args)
        self.log_path = base / "berthd.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=preexec_fn)
        self.launcher = self._launcher(cli)
        deadline = time.monotonic() + 60
        while not self.sock.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"berthd did not start: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.05)

    def _launcher(self, kind: str) -> list[str]:
        """The CLI as users run it: the lean ``python -I -S`` launcher, or the venv's console script."""
        if kind == "venv":
            return [str(VENV_BIN / "berth")]
        script = self.base / "berth"
        script.write_text(run_checked([sys.executable, "-m", "berth.cli.launcher", sys.executable]))
        script.chmod(0o755)
        return [str(script)]

    def cli(self, *args: str) -> list[str]:
        return [*self.launcher, "-H", f"unix://{self.sock}", *args]

    def __call__(self, *args: str, timeout: float = 120) -> str:
        """Run a CLI command; its stdout, or RuntimeError with its stderr."""
        return run_checked(self.cli(*args), timeout=timeout)

    def driver_calls(self) -> dict[str, dict]:
        return json.loads(run_checked(self.cli("info", "--format", "{{json .DriverCalls}}")) or "{}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


_EVENT = re.compile(r"\]\s+(\S+)\s")
_MS_FIELD = re.compile(r"\b(\w+_ms)=([0-9.]+)")


def daemon_events(log_text: str) -> dict[str, list[float]]:
    """Every ``*_ms`` field of berthd's structlog console lines: "event" for duration_ms, else "event.field"."""
    out: dict[str, list[float]] = {}
    for line in log_text.splitlines():
        event = _EVENT.search(line)
        if not event:
            continue
        for field, value in _MS_FIELD.findall(line):
            key = event.group(1) if field == "duration_ms" else f"{event.group(1)}.{field.removesuffix('_ms')}"
            out.setdefault(key, []).append(float(value))
    return out


def calls_delta(before: dict[str, dict], after: dict[str, dict]) -> dict[str, tuple[int, float]]:
    """Driver calls made between two ``info`` snapshots: hook -> (calls, mean ms per call)."""
    out = {}
    for hook, now in after.items():
        was = before.get(hook, {"calls": 0, "seconds": 0.0})
        calls = now["calls"] - was["calls"]
        if calls > 0:
            out[hook] = (calls, (now["seconds"] - was["seconds"]) * 1000 / calls)
    return out


# -- peers ---------------------------------------------------------------------------------------


def podman_engine(notes: list[str]) -> Engine | None:
    """podman on the lab's overlay store (never the stock config, which would pull from the internet)."""
    if not shutil.which("podman"):
        notes.append("podman: skipped, not installed (run /work/shared/peers/setup-peers.sh)")
        return None
    conf = {
        "CONTAINERS_CONF": LAB_PODMAN_DIR / "containers-overlay.conf",
        "CONTAINERS_STORAGE_CONF": LAB_PODMAN_DIR / "storage-overlay.conf",
        "CONTAINERS_REGISTRIES_CONF": LAB_PODMAN_DIR / "registries.conf",
    }
    missing = [str(p) for p in conf.values() if not p.exists()]
    if missing:
        notes.append(f"podman: skipped, lab config missing ({', '.join(missing)}; run setup-podman.sh)")
        return None
    env = {**os.environ, **{k: str(v) for k, v in conf.items()}}
    try:
        if subprocess.run(["podman", "image", "exists", "busybox:latest"], env=env).returncode != 0:
            archive = LAB_IMAGES / "busybox.tar"
            if not archive.exists():
                notes.append(f"podman: skipped, no busybox in its store and no {archive} (run make-busybox-image.sh)")
                return None
            run_checked(["podman", "load", "-q", "-i", str(archive)], env)
            notes.append(f"podman: loaded busybox from {archive}")
        engine = Engine("podman", ["podman"], env)
        engine.run_once(keep=False)  # smoke test: fail here with its message, not mid-run
        return engine
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        notes.append(f"podman: skipped, {exc}")
        return None


def _docker_alive(sock: str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            s.connect(sock)
            s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            return b" 200 " in s.recv(256)
    except OSError:
        return False


def docker_engine(notes: list[str]) -> Engine | None:
    """The lab dockerd (overlay2, runc), driven by Debian's docker CLI, which matches its API."""
    cli = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker")
    if not cli:
        notes.append("docker: skipped, no docker CLI (run setup-peers.sh)")
        return None
    if not _docker_alive(LAB_DOCKER_SOCKET):
        notes.append(f"docker: skipped, no dockerd answers at {LAB_DOCKER_SOCKET} (run start-dockerd.sh overlay2)")
        return None
    argv = [cli, "-H", f"unix://{LAB_DOCKER_SOCKET}"]
    try:
        if subprocess.run([*argv, "image", "inspect", "busybox:latest"], capture_output=True).returncode != 0:
            archive = LAB_IMAGES / "busybox.tar"
            if not archive.exists():
                notes.append(f"docker: skipped, no busybox image and no {archive} (run make-busybox-image.sh)")
                return None
            run_checked([*argv, "load", "-q", "-i", str(archive)])
            notes.append(f"docker: loaded busybox from {archive}")
        engine = Engine("docker", argv)
        engine.run_once(keep=False)
        return engine
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        notes.append(f"docker: skipped, {exc}")
        return None


def floor_engines(base: Path, notes: list[str]) -> list[Engine]:
    """crun and runc on a bundle made by the lab's make-bundle.sh (which also smoke-tests both)."""
    script = PEERS / "make-bundle.sh"
    bundle = base / "bundle"
    if not script.exists():
        notes.append(f"crun/runc: skipped, {script} is missing")
        return []
    try:
        run_checked([str(script), str(bundle)], timeout=300)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        notes.append(f"crun/runc: make-bundle.sh failed, trying each alone: {exc}")
        if not (bundle / "config.json").exists():
            return []
    out = []
    for name in ("crun", "runc"):
        if not shutil.which(name):
            notes.append(f"{name}: skipped, not installed")
            continue
        engine = Floor(name, bundle, base / f"{name}-state")
        try:
            engine.run_once(keep=False)
        except RuntimeError as exc:
            notes.append(f"{name}: skipped, {exc}")
            continue
        out.append(engine)
    return out


# -- report --------------------------------------------------------------------------------------


def fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def med(engine: Engine, op: str) -> float | None:
    values = engine.samples.get(op)
    return statistics.median(values) if values else None


def table(berth: Engine, peers: list[Engine]) -> str:
    ops = ["run --rm", "create", "start -a", "rm"]
    engines = [berth, *peers]
    head = "| operation |" + "".join(f" {e.name} ms |" for e in engines) + "".join(
        f" berth ÷ {p.name} |" for p in peers)
    rule = "|---|" + "---:|" * (len(engines) + len(peers))
    rows = [head, rule]
    for op in ops:
        mine = med(berth, op)
        cells = "".join(f" {fmt(med(e, op))} |" for e in engines)
        ratios = "".join(
            f" {mine / theirs:.2f}× |" if mine is not None and (theirs := med(p, op)) else " – |" for p in peers)
        rows.append(f"| {op} |{cells}{ratios}")
    return "\n".join(rows)


def breakdown(events: dict[str, list[float]], calls: dict[str, tuple[int, float]]) -> str:
    lines = ["berthd events (median duration_ms over this run):"]
    for name, values in events.items():  # order of first appearance: phases stay in order
        lines.append(f"  {name:<28} {statistics.median(values):7.1f} ms  (n={len(values)})")
    lines.append("driver calls during the measured rounds (mean ms per call, from `berth info` DriverCalls):")
    for hook, (n, mean) in sorted(calls.items(), key=lambda kv: -kv[1][1] * kv[1][0]):
        lines.append(f"  {hook:<28} {mean:7.2f} ms  x{n}")
    return "\n".join(lines)


def rounds(n: int, engines: list[Engine], what: Callable[[Engine, bool], None]) -> None:
    """One warm-up round, then n rounds, each engine once per round (interleaved)."""
    for i in range(n + 1):
        for engine in engines:
            what(engine, i > 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=15, help="rounds per operation (median reported)")
    parser.add_argument("--exec-driver", default=None, help="berthd --exec-driver (default: berth's own choice)")
    parser.add_argument("-s", "--storage-driver", default=None, help="berthd -s (default: berth's own choice)")
    parser.add_argument("--cli", choices=("lean", "venv"), default="lean",
                        help="berth CLI: the installed lean launcher (default) or the venv console script")
    parser.add_argument("--no-peers", action="store_true", help="berth only")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/start.py needs root (berthd, podman, runc)")
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="berth-bench-start-", dir="/var/tmp") as tmp:
        base = Path(tmp)
        peers: list[Engine] = []
        if not args.no_peers:
            peers += [e for e in (podman_engine(notes), docker_engine(notes)) if e is not None]
            peers += floor_engines(base, notes)
        daemon = Berthd(base / "berth", args.exec_driver, args.storage_driver, args.cli)
        try:
            run_checked(daemon.cli("image", "bootstrap", "busybox"))
            berth = Engine("berth", daemon.cli())
            berth.run_once(keep=False)
            before = daemon.driver_calls()
            rounds(args.n, [berth, *peers], lambda e, keep: e.run_once(keep))
            rounds(args.n, [e for e in (berth, *peers) if e.phases], lambda e, keep: e.phases_once(keep))
            calls = calls_delta(before, daemon.driver_calls())
            info = run_checked(daemon.cli("info"))
        finally:
            daemon.stop()
        events = daemon_events(daemon.log_path.read_text(errors="replace"))
    drivers = ", ".join(line.strip() for line in info.splitlines()
                        if re.match(r"\s*(Storage Driver|Exec Driver|Execution Driver):", line))
    print(f"berth start latency: {args.n} interleaved rounds, medians in ms ({drivers or 'drivers: ?'}; "
          f"CLI: {args.cli}); ratio = berth median ÷ peer median, same run\n")
    print(table(berth, peers))
    print()
    print(breakdown(events, calls))
    for note in notes:
        print(f"\nnote: {note}")


if __name__ == "__main__":
    main()
