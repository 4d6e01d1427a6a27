"""Build benchmark: ``berth build`` cold and from cache, side by side with ``podman build`` / ``docker build``.

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
changed (every step from the cache). RUN steps use no network (berthd runs with
``--bridge none``; podman and docker get ``--network none``). Prints medians in ms
and each peer's ratio to berth. Usage: ``/opt/berth/venv/bin/python bench/build.py
[--runs N] [--storage-driver vfs|overlay]``. Never used by tests.
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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

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


def measure(build_cmd, runs: int) -> dict[str, float]:
    """Medians (seconds) of a cold build and a cached rebuild."""
    cold = [timed(build_cmd(True)) for _ in range(runs)]
    timed(build_cmd(False))  # make sure the cache holds the last cold build
    cached = [timed(build_cmd(False)) for _ in range(runs)]
    return {"cold": statistics.median(cold), "cached": statistics.median(cached)}


def bench_berth(ctx: str, base: str, runs: int, driver: str) -> dict[str, float]:
    from tests.conftest import Daemon

    daemon = Daemon(os.path.join(base, "berth"), ["-s", driver])
    os.makedirs(daemon.base, exist_ok=True)
    daemon.start()
    try:
        cli = [sys.executable, "-m", "berth.cli.main", "-H", daemon.host, "build", "-t", "bench:latest"]
        return measure(lambda cold: cli + (["--no-cache"] if cold else []) + [ctx], runs)
    finally:
        daemon.remove_everything()
        daemon.stop()
        for line in reversed(open("/proc/self/mountinfo").read().splitlines()):
            mount = line.split()[4]
            if mount.startswith(daemon.base):
                subprocess.run(["umount", "-l", mount], check=False)


def bench_podman(ctx: str, base: str, runs: int) -> dict[str, float]:
    root = os.path.join(base, "podman")
    cmd = ["podman", "--root", os.path.join(root, "root"), "--runroot", os.path.join(root, "run"), "build",
           "--format", "docker",  # SHELL is a Docker-format field
           "--network", "none", "--layers", "-t", "bench:latest"]
    try:
        return measure(lambda cold: cmd + (["--no-cache"] if cold else []) + [ctx], runs)
    finally:
        subprocess.run(["podman", "--root", os.path.join(root, "root"), "--runroot", os.path.join(root, "run"),
                        "system", "reset", "--force"], capture_output=True)


def bench_docker(ctx: str, runs: int) -> dict[str, float]:
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    env.pop("DOCKER_HOST", None)
    cmd = ["docker", "build", "--network", "none", "-t", "berth-bench:latest"]
    try:
        cold = [timed(cmd + ["--no-cache", ctx], env) for _ in range(runs)]
        cached = [timed(cmd + [ctx], env) for _ in range(runs)]
        return {"cold": statistics.median(cold), "cached": statistics.median(cached)}
    finally:
        subprocess.run(["docker", "rmi", "berth-bench:latest"], capture_output=True, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--storage-driver", default="vfs")
    parser.add_argument("--busybox", default="/bin/busybox")
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix="berth-bench-build-", dir="/var/tmp")
    try:
        ctx = make_context(base, args.busybox)
        results: dict[str, dict[str, float] | str] = {}
        results[f"berth ({args.storage_driver})"] = bench_berth(ctx, base, args.runs, args.storage_driver)
        if shutil.which("podman"):
            try:
                results["podman"] = bench_podman(ctx, base, args.runs)
            except RuntimeError as exc:
                results["podman"] = f"failed: {exc}"
        if shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True,
                                                     env={k: v for k, v in os.environ.items()
                                                          if k != "DOCKER_HOST"}).returncode == 0:
            try:
                results["docker"] = bench_docker(ctx, args.runs)
            except RuntimeError as exc:
                results["docker"] = f"failed: {exc}"
        else:
            results["docker"] = "skipped: no docker daemon"
        berth = results[f"berth ({args.storage_driver})"]
        print(f"build benchmark, {args.runs} runs each, medians (ms); ratio = peer / berth")
        print(f"{'builder':<16}{'cold':>10}{'cached':>10}{'cold ratio':>12}{'cached ratio':>14}")
        for name, res in results.items():
            if isinstance(res, str):
                print(f"{name:<16}{res[:200]}")
                continue
            print(f"{name:<16}{res['cold'] * 1000:>10.0f}{res['cached'] * 1000:>10.0f}"
                  f"{res['cold'] / berth['cold']:>12.2f}{res['cached'] / berth['cached']:>14.2f}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
