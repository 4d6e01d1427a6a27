#!/usr/bin/env python3
"""Container start latency: berth end to end against its peers, measured in one run.

Usage (as root)::

    /opt/berth/venv/bin/python bench/start.py [-n 20] [--exec-driver native|oci] [-s vfs|overlay]

Starts a private berthd on a temp data-root (``--bridge none``), bootstraps the
busybox image (``berth image bootstrap busybox``) and times, N times each:

- ``berth run --rm busybox true`` end to end (CLI -> API -> daemon -> exec driver);
- ``berth create``, ``berth start``, ``berth wait`` and ``berth rm`` separately;
- peers when present: ``podman run --rm --network none busybox true``, ``docker run``
  against the lab dockerd (/run/lab-docker.sock, see /work/shared/peers/README.md);
  they are never installed or started here, only skipped with a note;
- ``runc run`` / ``crun run`` of a busybox bundle: the kernel's floor for a start.

Prints the median (and min/max) of each in milliseconds, and the ratio of
berth's ``run`` to each peer measured in this same run. Not a test: it asserts
nothing about time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VENV = Path(sys.executable).parent
LAB_DOCKER_SOCKET = "/run/lab-docker.sock"


def timed(argv: list[str], env: dict | None = None) -> float:
    """Wall time of one command in milliseconds; a failure stops the benchmark with its output."""
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, env=env)
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode(errors='replace')}")
    return elapsed


def series(n: int, argv: list[str], warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        timed(argv)
    return [timed(argv) for _ in range(n)]


class Berthd:
    """A private berthd on a temp data-root; stopped (by its pid) on exit."""

    def __init__(self, base: Path, exec_driver: str | None, storage: str | None):
        self.base = base
        self.sock = base / "run" / "berth.sock"
        (base / "run").mkdir(parents=True)
        config = base / "daemon.json"
        config.write_text("{}")
        argv = [str(VENV / "berthd"), "--data-root", str(base / "data"), "--exec-root", str(base / "run"),
                "-H", f"unix://{self.sock}", "--bridge", "none", "--config-file", str(config)]
        if exec_driver:
            argv += ["--exec-driver", exec_driver]
        if storage:
            argv += ["-s", storage]
        self.log = open(base / "berthd.log", "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while not self.sock.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"berthd did not start; see {base / 'berthd.log'}")
            time.sleep(0.05)

    def cli(self, *args: str) -> list[str]:
        return [str(VENV / "berth"), "-H", f"unix://{self.sock}", *args]

    def out(self, *args: str) -> str:
        return subprocess.run(self.cli(*args), capture_output=True, text=True, check=True).stdout.strip()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def berth_phases(d: Berthd, n: int) -> dict[str, list[float]]:
    """create, start, wait and rm of one container at a time, each timed on its own."""
    phases: dict[str, list[float]] = {"berth create": [], "berth start": [], "berth wait": [], "berth rm": []}
    for i in range(n + 1):
        start = time.perf_counter()
        cid = d.out("create", "busybox", "true")
        create = (time.perf_counter() - start) * 1000
        times = [create, timed(d.cli("start", cid)), timed(d.cli("wait", cid)), timed(d.cli("rm", cid))]
        if i == 0:
            continue  # warm-up
        for key, value in zip(phases, times):
            phases[key].append(value)
    return phases


def make_bundle(base: Path) -> Path:
    """A runc-spec bundle over a busybox rootfs running ``true`` (network namespace of its own)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from berth.testing.exec_kit import build_busybox_rootfs

    bundle = base / "bundle"
    (bundle / "rootfs").mkdir(parents=True)
    build_busybox_rootfs(bundle / "rootfs")
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"].update(args=["true"], terminal=False)
    (bundle / "config.json").write_text(json.dumps(spec))
    return bundle


def floor_runs(base: Path, n: int, notes: list[str]) -> dict[str, list[float]]:
    from berth.plugins.execdrivers.oci import runtime as runtimes

    out: dict[str, list[float]] = {}
    bundle = make_bundle(base)
    for name in ("crun", "runc"):
        if not runtimes.find(name):
            notes.append(f"{name} run: skipped, {name} is not installed")
            continue
        if name == "crun" and (problem := runtimes.crun_problem()):
            notes.append(f"crun run: skipped, {problem}")
            continue
        state = base / f"{name}-state"
        counter = iter(range(10**6))
        argv = lambda: [name, "--root", str(state), "run", "-b", str(bundle), f"bench-{next(counter)}"]  # noqa: E731
        timed(argv())
        out[f"{name} run (bundle)"] = [timed(argv()) for _ in range(n)]
    return out


def peer_runs(n: int, notes: list[str]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    if shutil.which("podman"):
        try:
            out["podman run --rm"] = series(n, ["podman", "run", "--rm", "--network", "none", "busybox", "true"])
        except RuntimeError as exc:
            notes.append(f"podman: skipped, {exc}")
    else:
        notes.append("podman: skipped, not installed (see /work/shared/peers/setup-peers.sh)")
    if shutil.which("docker") and os.path.exists(LAB_DOCKER_SOCKET):
        try:
            out["docker run --rm"] = series(n, ["docker", "-H", f"unix://{LAB_DOCKER_SOCKET}", "run", "--rm",
                                                "--network", "none", "busybox", "true"])
        except RuntimeError as exc:
            notes.append(f"docker: skipped, {exc}")
    else:
        notes.append(f"docker: skipped, no dockerd at {LAB_DOCKER_SOCKET} (see /work/shared/peers/start-dockerd.sh)")
    return out


def table(results: dict[str, list[float]], reference: str) -> str:
    peers = [k for k in results if not k.startswith("berth")]
    head = "| operation | median ms | min | max |" + "".join(f" ÷ {p} |" for p in peers)
    rule = "|---|---:|---:|---:|" + "---:|" * len(peers)
    rows = [head, rule]
    for name, values in results.items():
        med = statistics.median(values)
        ratios = "".join(f" {med / statistics.median(results[p]):.1f}× |" for p in peers)
        rows.append(f"| {name} | {med:.1f} | {min(values):.1f} | {max(values):.1f} |{ratios}")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=15, help="runs per operation (median reported)")
    parser.add_argument("--exec-driver", default=None, help="berthd --exec-driver (default: auto)")
    parser.add_argument("-s", "--storage-driver", default=None, help="berthd -s (default: auto)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/start.py needs root (berthd, runc)")
    notes: list[str] = []
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="berth-bench-", dir="/var/tmp") as tmp:
        base = Path(tmp)
        daemon = Berthd(base / "berth", args.exec_driver, args.storage_driver)
        try:
            subprocess.run(daemon.cli("image", "bootstrap", "busybox"), check=True, capture_output=True)
            results["berth run --rm"] = series(args.n, daemon.cli("run", "--rm", "busybox", "true"))
            results.update(berth_phases(daemon, args.n))
            info = daemon.out("info")
        finally:
            daemon.stop()
        results.update(peer_runs(args.n, notes))
        results.update(floor_runs(base, args.n, notes))
    driver = next((line.strip() for line in info.splitlines() if "xec" in line and "river" in line), "exec driver: ?")
    print(f"berth start latency, n={args.n} per row ({driver}); ratios: row median ÷ column median\n")
    print(table(results, "berth run --rm"))
    for note in notes:
        print(f"\nnote: {note}")


if __name__ == "__main__":
    main()
