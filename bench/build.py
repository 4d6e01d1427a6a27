"""Build benchmark: ``berth build`` cold and from cache, side by side with ``podman build`` and ``docker build``.

The Dockerfile needs no registry: it starts ``FROM scratch`` with the host's static
busybox, so every builder builds exactly the same thing offline::

    FROM scratch
    COPY busybox /bin/busybox
    SHELL ["/bin/busybox", "sh", "-c"]
    RUN /bin/busybox mkdir -p /bin && /bin/busybox --install -s /bin
    WORKDIR /app
    COPY data/ /app/data/
    RUN cat /app/data/* | wc -c > /app/size
    ENV MODE=bench
    CMD ["cat", "/app/size"]

Measured per builder: a cold build (``--no-cache``) and a rebuild with nothing
changed (every step from the cache), interleaved round by round so that the
machine's load falls on every builder alike. RUN steps use no network (berthd runs
with ``--bridge none``; podman and docker get ``--network none``).

Peers (from /work/shared/peers): podman on the lab's overlay store
(``/etc/lab-podman/*-overlay.conf``, never the stock config) in a private
``--root``; the lab dockerd at /run/lab-docker.sock (overlay2) with the classic
builder (``DOCKER_BUILDKIT=0``). BuildKit is measured when the docker CLI has
its buildx plugin, and reported as missing otherwise.

``--profile`` also prints where berthd's time went: the sum per structlog job
event (``duration_ms``) over one cold build and one cached build.

Usage (root): ``python bench/build.py [--runs N] [-s overlay|vfs] [--no-peers] [--profile]``.
Prints medians in ms and berth's ratio to each peer (berth ÷ peer). Never used by tests.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

LAB_DOCKER_SOCKET = "/run/lab-docker.sock"
LAB_PODMAN_DIR = "/etc/lab-podman"

DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
SHELL ["/bin/busybox", "sh", "-c"]
RUN /bin/busybox mkdir -p /bin && /bin/busybox --install -s /bin
WORKDIR /app
COPY data/ /app/data/
RUN cat /app/data/* | wc -c > /app/size
ENV MODE=bench
CMD ["cat", "/app/size"]
"""

#: (cold?) -> argv of one build
BuildCommand = Callable[[bool], list[str]]


def make_context(root: str, busybox: str) -> str:
    ctx = os.path.join(root, "ctx")
    os.makedirs(os.path.join(ctx, "data"))
    shutil.copy(busybox, os.path.join(ctx, "busybox"))
    for i in range(20):
        with open(os.path.join(ctx, "data", f"f{i:02d}"), "wb") as f:
            f.write(os.urandom(64 * 1024))
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write(DOCKERFILE)
    return ctx


def timed(cmd: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, env=env)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])}... failed ({result.returncode}): "
                           f"{result.stderr.decode(errors='replace')[-800:]}")
    return elapsed


class Builder:
    """One builder under test: its build command, environment and clean-up."""

    def __init__(self, name: str, command: BuildCommand, env: dict | None = None,
                 cleanup: Callable[[], None] = lambda: None):
        self.name, self.command, self.env, self.cleanup = name, command, env, cleanup
        self.cold: list[float] = []
        self.cached: list[float] = []

    def run(self, cold: bool) -> None:
        (self.cold if cold else self.cached).append(timed(self.command(cold), self.env))


def berth_builder(ctx: str, base: str, driver: str):
    """(builder, daemon) for a private berthd on ``driver`` with JSON logs (for ``--profile``)."""
    from tests.conftest import Daemon

    daemon = Daemon(os.path.join(base, "berth"), ["-s", driver], env={"BERTH_LOG_FORMAT": "json"})
    os.makedirs(daemon.base, exist_ok=True)
    daemon.start()
    launcher = os.path.join(base, "berth-cli")  # the lean ``python -I -S`` CLI that .ci/install installs
    with open(launcher, "w") as f:
        f.write(subprocess.run([sys.executable, "-m", "berth.cli.launcher", sys.executable], check=True,
                               capture_output=True, text=True).stdout)
    os.chmod(launcher, 0o755)
    cli = [launcher, "-H", daemon.host, "build", "-t", "bench:latest"]

    def cleanup() -> None:
        daemon.remove_everything()
        daemon.stop()
        for line in reversed(open("/proc/self/mountinfo").read().splitlines()):
            mount = line.split()[4]
            if mount.startswith(daemon.base):
                subprocess.run(["umount", "-l", mount], check=False)

    builder = Builder(f"berth ({driver})", lambda cold: cli + (["--no-cache"] if cold else []) + [ctx],
                      cleanup=cleanup)
    return builder, daemon


def podman_builder(ctx: str, base: str, notes: list[str]) -> Builder | None:
    if not shutil.which("podman"):
        notes.append("podman: skipped, not installed (run /work/shared/peers/setup-peers.sh)")
        return None
    confs = {"CONTAINERS_CONF": "containers-overlay.conf", "CONTAINERS_STORAGE_CONF": "storage-overlay.conf",
             "CONTAINERS_REGISTRIES_CONF": "registries.conf"}
    env = {**os.environ, **{k: os.path.join(LAB_PODMAN_DIR, v) for k, v in confs.items()}}
    if not all(os.path.exists(env[k]) for k in confs):
        notes.append("podman: skipped, the lab config is missing (run /work/shared/peers/setup-podman.sh)")
        return None
    store = ["--root", os.path.join(base, "podman", "root"), "--runroot", os.path.join(base, "podman", "run")]
    cmd = ["podman", *store, "build", "--format", "docker",  # SHELL is a Docker-format field
           "--network", "none", "--layers", "-t", "bench:latest"]
    return Builder("podman (overlay)", lambda cold: cmd + (["--no-cache"] if cold else []) + [ctx], env,
                   lambda: subprocess.run(["podman", *store, "system", "reset", "--force"], capture_output=True,
                                          env=env))


def docker_builders(ctx: str, notes: list[str]) -> list[Builder]:
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    cli = ["docker", "-H", f"unix://{LAB_DOCKER_SOCKET}"]
    if not shutil.which("docker") or subprocess.run([*cli, "version"], capture_output=True, env=env).returncode:
        notes.append(f"docker: skipped, no dockerd answers at {LAB_DOCKER_SOCKET} (run start-dockerd.sh overlay2)")
        return []
    tag = "berth-bench-build:latest"
    label = "berth-bench-build=1"  # every rebuild leaves the one before untagged: the label finds ours

    def rmi() -> None:
        subprocess.run([*cli, "rmi", "-f", tag], capture_output=True, env=env)
        subprocess.run([*cli, "image", "prune", "-f", "--filter", f"label={label}"], capture_output=True, env=env)
        subprocess.run([*cli, "builder", "prune", "-f"], capture_output=True, env=env)

    build = [*cli, "build", "--network", "none", "--label", label, "-t", tag]
    builders = [Builder("docker (classic)", lambda cold: build + (["--no-cache"] if cold else []) + [ctx],
                        {**env, "DOCKER_BUILDKIT": "0"}, rmi)]
    if subprocess.run(["docker", "buildx", "version"], capture_output=True, env=env).returncode == 0:
        builders.append(Builder("docker (BuildKit)", lambda cold: build + (["--no-cache"] if cold else []) + [ctx],
                                {**env, "DOCKER_BUILDKIT": "1"}, rmi))
    else:
        notes.append("docker BuildKit: not measured, the docker CLI here has no buildx plugin "
                     "(the v28 CLI builds with BuildKit only through buildx)")
    return builders


def daemon_events(log_path: str, start: int) -> list[dict]:
    """berthd's JSON log events with a ``duration_ms``, from byte ``start`` of its log."""
    with open(log_path, "rb") as f:
        f.seek(start)
        data = f.read()
    events = []
    for line in data.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and "duration_ms" in event:
            events.append(event)
    return events


def profile(berth: Builder, daemon) -> None:
    """One cold and one cached berth build: each step's phases, and the sum per other job event."""
    for cold in (True, False):
        start = os.path.getsize(daemon.log_path)
        elapsed = timed(berth.command(cold))
        events = daemon_events(daemon.log_path, start)
        print(f"\nberthd, one {'cold' if cold else 'cached'} build ({elapsed * 1000:.0f} ms wall):")
        for ev in events:
            if ev["event"] == "build.step":
                phases = " ".join(f"{k[:-3]}={v}" for k, v in ev.items() if k.endswith("_ms") and k != "duration_ms")
                print(f"  step {ev['instruction']:<8}{ev['duration_ms']:>8.1f} ms  {phases}")
        totals: dict[str, float] = collections.defaultdict(float)
        for ev in events:
            if ev["event"] != "build.step":
                totals[ev["event"]] += ev["duration_ms"]
        for name, ms in sorted(totals.items(), key=lambda kv: -kv[1]):
            print(f"  {name:<32}{ms:>9.1f} ms")


def report(builders: list[Builder], runs: int, notes: list[str]) -> None:
    berth = builders[0]
    bc, bk = statistics.median(berth.cold), statistics.median(berth.cached)
    print(f"build benchmark, {runs} interleaved rounds, medians (ms); ratio = berth ÷ peer")
    print(f"| builder | cold | cached | berth ÷ peer, cold | berth ÷ peer, cached |")
    print("|---|---:|---:|---:|---:|")
    for b in builders:
        c, k = statistics.median(b.cold), statistics.median(b.cached)
        ratios = ("–", "–") if b is berth else (f"{bc / c:.2f}×", f"{bk / k:.2f}×")
        print(f"| {b.name} | {c * 1000:.0f} | {k * 1000:.0f} | {ratios[0]} | {ratios[1]} |")
    for note in notes:
        print(f"note: {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("-s", "--storage-driver", default="overlay")
    parser.add_argument("--busybox", default="/bin/busybox")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--profile", action="store_true", help="print berthd's job totals of one cold and one cached build")
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix="berth-bench-build-", dir="/var/tmp")
    builders: list[Builder] = []
    notes: list[str] = []
    try:
        ctx = make_context(base, args.busybox)
        berth, daemon = berth_builder(ctx, base, args.storage_driver)
        builders.append(berth)
        if not args.no_peers:
            builders += [b for b in [podman_builder(ctx, base, notes), *docker_builders(ctx, notes)] if b]
        for b in builders:  # warm-up: a first build fills each cache (and page cache)
            b.run(True)
            b.cold.clear()
        for cold in (True, False):
            for _ in range(args.runs):
                for b in builders:
                    b.run(cold)
        report(builders, args.runs, notes)
        if args.profile:
            profile(berth, daemon)
    finally:
        for b in builders:
            b.cleanup()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
