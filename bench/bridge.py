#!/usr/bin/env python3
"""Containers on a bridge: ``run -d``, ``stop``, ``start`` and ``rm -f``, berth against the lab dockerd, in one run.

Usage (as root)::

    /opt/berth/venv/bin/python bench/bridge.py [-n 15] [--cli lean|venv] [--no-peers]

berth: a private berthd inside a network namespace this script makes (``ip netns add``,
entered with ``nsenter --net``), with its default bridge, so the bridge, the veths and the
NAT rules exist only there; busybox from ``berth image bootstrap busybox``; the lean CLI.
docker: the lab dockerd (/run/lab-docker.sock, in netns ``labpeer``) on its default bridge
``docker0``, driven by Debian's docker CLI. podman is not measured: its bridge would be a
network podman creates, which the lab never lets it do.

Each round, per engine (interleaved): ``run -d busybox sh -c 'trap "exit 0" TERM; sleep
3600 & wait'`` (the command exits at once on SIGTERM, so ``stop`` measures the engine, not
a grace period), then ``stop``, ``start`` and ``rm -f`` of that container, each timed. The
table shows medians, the spread (interquartile range) and berth's ratio to docker; after it,
berthd's own events (``container.start`` and ``network.join`` durations). Containers are
removed by id, berthd stopped by pid and the namespace deleted by name, also on failure.
Not a test: nothing is asserted about time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sandbox import Sandbox  # noqa: E402  (bench/sandbox.py)
from start import LAB_DOCKER_SOCKET, LAB_IMAGES, Berthd, _docker_alive, daemon_events, run_checked  # noqa: E402

OPS = ("run -d", "stop", "start", "rm -f")
COMMAND = ["busybox", "sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
WORK_DIR = "/var/lib/berth-bench"  # beside the peers' stores (see bench/pull.py)


class Engine:
    """One engine's CLI and the samples of each operation."""

    def __init__(self, name: str, cli: list[str]):
        self.name, self.cli = name, cli
        self.samples: dict[str, list[float]] = {op: [] for op in OPS}
        self.leftover: list[str] = []

    def timed(self, *args: str) -> tuple[float, str]:
        started = time.perf_counter()
        out = run_checked([*self.cli, *args])
        return (time.perf_counter() - started) * 1000, out

    def round(self, keep: bool) -> None:
        ms_run, cid = self.timed("run", "-d", *COMMAND)
        cid = cid.strip().splitlines()[-1]
        self.leftover.append(cid)
        times = {"run -d": ms_run}
        times["stop"], _ = self.timed("stop", cid)
        times["start"], _ = self.timed("start", cid)
        times["rm -f"], _ = self.timed("rm", "-f", cid)
        self.leftover.remove(cid)
        if keep:
            for op, ms in times.items():
                self.samples[op].append(ms)

    def clean(self) -> None:
        for cid in self.leftover:
            subprocess.run([*self.cli, "rm", "-f", cid], capture_output=True)


def docker_engine(notes: list[str]) -> Engine | None:
    cli = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else None
    if cli is None or not _docker_alive(LAB_DOCKER_SOCKET):
        notes.append(f"docker: skipped, no docker CLI or no dockerd at {LAB_DOCKER_SOCKET} (start-dockerd.sh overlay2)")
        return None
    engine = Engine("docker", [cli, "-H", f"unix://{LAB_DOCKER_SOCKET}"])
    if subprocess.run([*engine.cli, "image", "inspect", "busybox:latest"], capture_output=True).returncode != 0:
        run_checked([*engine.cli, "load", "-q", "-i", str(LAB_IMAGES / "busybox.tar")])
        notes.append("docker: loaded busybox from the lab archive")
    return engine


def spread(values: list[float]) -> str:
    if len(values) < 4:
        return f"{min(values):.0f}–{max(values):.0f}"
    q = statistics.quantiles(values, n=4)
    return f"{q[0]:.0f}–{q[2]:.0f}"


def table(engines: list[Engine]) -> str:
    berth, peers = engines[0], engines[1:]
    head = ["operation", *(f"{e.name} ms (IQR)" for e in engines), *(f"berth ÷ {p.name}" for p in peers)]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for op in OPS:
        meds = [statistics.median(e.samples[op]) for e in engines]
        cells = [f"{m:.0f} ({spread(e.samples[op])})" for m, e in zip(meds, engines)]
        lines.append("| " + " | ".join([op, *cells, *(f"{meds[0] / m:.2f}×" for m in meds[1:])]) + " |")
    return "\n".join(lines)


def measure(rounds: int, cli: str, peers: bool, notes: list[str]) -> tuple[list[Engine], dict[str, list[float]]]:
    """Run the rounds; the engines with their samples and berthd's events."""
    os.makedirs(WORK_DIR, exist_ok=True)
    sandbox = Sandbox("bench-bridge")
    engines: list[Engine] = []
    daemon = None
    try:
        with tempfile.TemporaryDirectory(prefix="bridge-", dir=WORK_DIR) as tmp:
            daemon = Berthd(Path(tmp) / "berth", None, None, cli, netns=sandbox.path)
            try:
                daemon("image", "bootstrap", "busybox")
                engines = [Engine("berth", daemon.cli())]
                if peers and (docker := docker_engine(notes)) is not None:
                    engines.append(docker)
                for i in range(rounds + 1):  # round 0 warms up and is not kept
                    for engine in engines:
                        engine.round(keep=i > 0)
            finally:
                for engine in engines:
                    engine.clean()
                daemon.stop()
            events = daemon_events(daemon.log_path.read_text(errors="replace"))
    finally:
        sandbox.delete()
    return engines, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=15, help="rounds (median reported; default 15)")
    parser.add_argument("--cli", choices=("lean", "venv"), default="lean", help="berth CLI launcher")
    parser.add_argument("--no-peers", action="store_true", help="berth only")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/bridge.py needs root (netns, berthd, docker)")
    notes: list[str] = []
    load = os.getloadavg()[0]
    engines, events = measure(args.n, args.cli, not args.no_peers, notes)
    print(f"containers on a bridge: {args.n} interleaved rounds, medians in ms (interquartile range); "
          f"ratio = berth ÷ peer, same run; load average {load:.1f} at the start\n")
    print(table(engines))
    print("\nberthd's events (medians over every container):")
    for key in sorted(events):
        print(f"  {key:<32} {statistics.median(events[key]):7.1f} ms  (n={len(events[key])})")
    for note in notes:
        print(f"\nnote: {note}")


if __name__ == "__main__":
    main()
