#!/usr/bin/env python3
"""Healthcheck overhead: N containers probing every second, on berthd and on the real dockerd.

Usage (as root)::

    /opt/berth/venv/bin/python bench/health.py [-n 50] [--seconds 20] [--interval 1] [-s vfs|overlay] [--no-peers]

Each engine runs N ``busybox sleep`` containers twice for ``--seconds``: first without a
healthcheck (the baseline), then with ``--health-cmd true --health-interval 1s``. Printed,
per engine:

- the engine's CPU (user + system) while probing, minus the baseline, as a share of one
  core and per probe. berth: berthd, its fork server and every monitor (a private berthd
  started in a cpuacct cgroup of this run, which all of them inherit). dockerd: dockerd,
  containerd and the containers' shims (which reap runc) — every process whose command line
  names the lab dockerd's exec-root;
- the CPU the probe processes themselves used inside the containers (their cgroups);
- the wall time of a probe (``End - Start`` of the ``State.Health.Log`` entries): median
  and 90th percentile, and how many probes ran per second.

The dockerd peer is the lab's (/run/lab-docker.sock, see /work/shared/peers); the
containers made there are removed at the end. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from start import Berthd, _docker_alive, run_checked  # noqa: E402 - bench scripts share the daemon helper

LAB_DOCKER = "/run/lab-docker.sock"
LAB_DOCKER_EXEC_ROOT = "/run/lab-docker/"
CPUACCT = Path("/sys/fs/cgroup/cpuacct")
TICK = os.sysconf("SC_CLK_TCK")


# -- CPU accounting ------------------------------------------------------------------------------

class BenchCgroup:
    """A cpuacct cgroup (v1) that a private berthd starts in; its helpers and monitors inherit it."""

    def __init__(self):
        if not (CPUACCT / "cpuacct.usage").exists():
            raise SystemExit("bench/health.py needs the cgroup v1 cpuacct hierarchy at /sys/fs/cgroup/cpuacct")
        self.path = CPUACCT / f"healthbench-{os.getpid()}"
        self.path.mkdir()

    def enter(self) -> None:
        """``preexec_fn`` of the daemon: move itself in before it forks anything."""
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def seconds(self) -> float:
        return int((self.path / "cpuacct.usage").read_text()) / 1e9

    def remove(self) -> None:
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except OSError:  # monitors still exiting
                time.sleep(0.1)
        print(f"note: {self.path} is still in use; remove it once its processes are gone", file=sys.stderr)


def container_cpu(ids: list[str], parent: str) -> float:
    """CPU seconds used inside the containers (cpuacct of each container's cgroup)."""
    total = 0
    for cid in ids:
        path = CPUACCT / parent / cid / "cpuacct.usage"
        if path.exists():
            total += int(path.read_text())
    return total / 1e9


def dockerd_cpu() -> float:
    """CPU seconds of dockerd, containerd and the shims (with the runc processes they reaped)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if LAB_DOCKER_EXEC_ROOT.encode() not in f.read() and entry != _dockerd_pid():
                    continue
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / TICK


def _dockerd_pid() -> str:
    try:
        return Path("/run/lab-docker.pid").read_text().strip()
    except OSError:
        return ""


# -- one engine ----------------------------------------------------------------------------------

class Engine:
    """The docker-CLI commands of one engine and how its CPU is read."""

    def __init__(self, name: str, docker: list[str], engine_cpu, cgroup_parent: str, extra_run: list[str]):
        self.name, self.docker, self.engine_cpu = name, docker, engine_cpu
        self.cgroup_parent, self.extra_run = cgroup_parent, extra_run

    def run_containers(self, n: int, health: list[str]) -> list[str]:
        return [run_checked([*self.docker, "run", "-d", *self.extra_run, *health, "busybox", "sleep", "100000"])
                for _ in range(n)]

    def remove(self, ids: list[str]) -> None:
        for start in range(0, len(ids), 25):
            subprocess.run([*self.docker, "rm", "-f", *ids[start:start + 25]], capture_output=True, timeout=300)

    def watch_probes(self) -> subprocess.Popen:
        """Follow the engine's exec_die events (one per probe) live: dockerd keeps only its last 256 events."""
        return subprocess.Popen([*self.docker, "events", "--filter", "event=exec_die", "--format", "{{.ID}} {{.TimeNano}}"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    @staticmethod
    def probes_seen(watcher: subprocess.Popen, ids: list[str], since: float, until: float) -> int:
        """exec_die events of ``ids`` between ``since`` and ``until`` (unix seconds)."""
        watcher.terminate()
        out, _ = watcher.communicate(timeout=30)
        ours = set(ids)
        rows = [line.split() for line in out.decode().splitlines()]
        return sum(1 for cid, ns in rows if cid in ours and since <= int(ns) / 1e9 <= until)

    def probe_times(self, ids: list[str], since: str) -> list[float]:
        """Wall seconds of the logged probes (the last five of each container) that started after ``since``."""
        out = run_checked([*self.docker, "inspect", "--format",
                           '{{range .State.Health.Log}}{{.Start.Format "2006-01-02T15:04:05.000000Z07:00"}} '
                           '{{.End.Sub .Start}}\n{{end}}', *ids])
        times = []
        for line in out.splitlines():
            start, _, took = line.partition(" ")
            if start >= since and took:
                times.append(_go_seconds(took))
        return times

    def measure(self, n: int, seconds: float, health: list[str]) -> dict:
        ids = self.run_containers(n, health)
        try:
            time.sleep(2)  # let start-up settle
            since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000000Z"
            watcher = self.watch_probes()
            time.sleep(0.5)  # the watcher is connected
            cpu0, inside0, t0, w0 = self.engine_cpu(), container_cpu(ids, self.cgroup_parent), time.monotonic(), time.time()
            time.sleep(seconds)
            cpu1, inside1, t1, w1 = self.engine_cpu(), container_cpu(ids, self.cgroup_parent), time.monotonic(), time.time()
            time.sleep(0.5)  # events of the last moment reach the watcher
            count = self.probes_seen(watcher, ids, w0, w1)
            probes = self.probe_times(ids, since) if health else []
        finally:
            self.remove(ids)
        return {"cpu": (cpu1 - cpu0) / (t1 - t0), "inside": (inside1 - inside0) / (t1 - t0), "probes": probes,
                "rate": count / (t1 - t0)}


def _go_seconds(text: str) -> float:
    """Go's Duration text ("41.5ms", "1.2s", "850µs") in seconds."""
    for unit, scale in (("ms", 1e-3), ("µs", 1e-6), ("us", 1e-6), ("ns", 1e-9), ("s", 1.0)):
        if text.endswith(unit) and text[:-len(unit)].replace(".", "", 1).isdigit():
            return float(text[:-len(unit)]) * scale
    return float("nan")


def report(name: str, base: dict, probing: dict) -> float | None:
    extra = probing["cpu"] - base["cpu"]
    rate = probing["rate"]
    wall = sorted(probing["probes"])
    print(f"\n{name}")
    print(f"  engine CPU, idle containers:  {base['cpu'] * 100:6.1f} % of a core")
    print(f"  engine CPU, probing:          {probing['cpu'] * 100:6.1f} % of a core "
          f"(+{extra * 100:.1f} %, {extra / rate * 1000 if rate else float('nan'):.2f} ms per probe)")
    inside = probing["inside"] - base["inside"]
    print(f"  probe processes (in the containers): {inside * 100:.1f} % of a core "
          f"({inside / rate * 1000 if rate else float('nan'):.2f} ms per probe)")
    if rate:
        print(f"  all of it per probe: {(extra + inside) / rate * 1000:.2f} ms of CPU")
    if wall:
        print(f"  probes: {rate:.1f}/s; wall time median {statistics.median(wall) * 1000:.1f} ms, "
              f"p90 {wall[int(len(wall) * 0.9)] * 1000:.1f} ms")
    return (extra + inside) / rate if rate else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=50, help="containers (default 50)")
    p.add_argument("--seconds", type=float, default=20, help="length of each measurement (default 20)")
    p.add_argument("--interval", default="1s", help="--health-interval (default 1s)")
    p.add_argument("-s", dest="storage", default="vfs", help="berthd's graph driver (default vfs)")
    p.add_argument("--no-peers", action="store_true", help="berthd only")
    args = p.parse_args()
    health = ["--health-cmd", "true", "--health-interval", args.interval]

    cgroup = BenchCgroup()
    base = Path(tempfile.mkdtemp(prefix="bench-health-", dir="/var/tmp"))
    daemon = Berthd(base, None, args.storage, "venv", preexec_fn=cgroup.enter)
    try:
        run_checked(daemon.cli("image", "bootstrap", "busybox"))
        docker = "/usr/local/bin/docker" if os.path.exists("/usr/local/bin/docker") else "docker"
        engines = [Engine("berthd", [docker, "-H", f"unix://{daemon.sock}"], cgroup.seconds, "berth", [])]
        if not args.no_peers and _docker_alive(LAB_DOCKER):
            # the lab dockerd's cgroup parent is /lab-docker (its --cgroup-parent), not Docker's default /docker
            engines.append(Engine("dockerd 20.10 (lab peer)", [docker, "-H", f"unix://{LAB_DOCKER}"], dockerd_cpu,
                                  "lab-docker", ["--network", "none"]))
        elif not args.no_peers:
            print(f"note: no dockerd answers at {LAB_DOCKER}; berthd only", file=sys.stderr)
        print(f"{args.n} containers, probe `true` every {args.interval}, {args.seconds:.0f} s per measurement")
        per_probe = {}
        for engine in engines:
            idle = engine.measure(args.n, args.seconds, [])
            probing = engine.measure(args.n, args.seconds, health)
            per_probe[engine.name] = report(engine.name, idle, probing)
        if len(per_probe) == 2 and all(per_probe.values()):
            ours, theirs = per_probe.values()
            print(f"\nCPU per probe (engine and probe process), berthd ÷ dockerd: {ours / theirs:.2f}×")
    finally:
        daemon.stop()
        shutil.rmtree(base, ignore_errors=True)
        cgroup.remove()


if __name__ == "__main__":
    main()
