#!/usr/bin/env python3
"""A log-heavy container, per log driver: berth against the real docker, in one run.

Usage (as root)::

    /opt/berth/venv/bin/python bench/logs.py [-n 5] [--lines 200000] [--drivers json-file,local,...] [--no-peers]

Each round runs, per engine and driver, ``busybox sh -c 'yes LINE | head -n N'`` detached
and waits for it: the time is how long the container took to write N lines of 64 bytes
through the engine's log writer (a slow writer holds the container up: its pipe fills).
Then ``logs`` reads the whole log back (into /dev/null) and ``logs --tail 10`` reads its
end. The drivers: json-file (Docker's default), json-file rotated (``max-size=10m,max-file=3``)
and compressed, local (20 MiB x 5, compressed: Docker's defaults) and none. berth runs on
a private berthd (temp data-root under /var/tmp, ``--bridge none``); docker is the lab
dockerd at /run/lab-docker.sock when it answers. Rows are medians; the last column is
berth's time over docker's for the same row. Also printed: the largest resident size
of berth's container monitor seen while it logged (sampled every 20 ms), which must not
grow with the log. Not a test: nothing is asserted.

Running it with the venv of an older checkout (whose CLI has no ``--log-opt``) and
``--drivers json-file`` measures that checkout's writer for a before/after comparison.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from start import LAB_DOCKER_SOCKET, Berthd, _docker_alive, run_checked  # noqa: E402  (a sibling script)

LINE = "a log line of a typical length, sixty-three bytes plus newline"
DRIVERS = {
    "json-file": [],
    "json-file 10m x3": ["--log-opt", "max-size=10m", "--log-opt", "max-file=3"],
    "json-file 10m x3 gz": ["--log-opt", "max-size=10m", "--log-opt", "max-file=3", "--log-opt", "compress=true"],
    "local": ["--log-driver", "local"],
    "none": ["--log-driver", "none"],
}


def timed(argv: list[str], stdout=subprocess.PIPE) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.decode(errors='replace')[-400:]}")
    return (time.perf_counter() - start) * 1000, (done.stdout or b"").decode().strip()


def monitor_pids() -> set[int]:
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() in ("berth-monitor", "berth-oci-mon"):
                        pids.add(int(entry))
            except OSError:
                pass
    return pids


class RssSampler:
    """The largest VmRSS (KiB) of berth's monitors that were not there when it started."""

    def __init__(self) -> None:
        self.before = monitor_pids()
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.02):
            for pid in monitor_pids() - self.before:
                try:
                    with open(f"/proc/{pid}/status") as f:
                        for line in f:
                            if line.startswith("VmRSS:"):
                                self.peak = max(self.peak, int(line.split()[1]))
                except OSError:
                    pass

    def done(self) -> int:
        self.stop.set()
        self.thread.join()
        return self.peak


def one_round(cli: list[str], driver_args: list[str], lines: int, samples: dict, rss: dict | None) -> None:
    sampler = RssSampler() if rss is not None else None
    script = f"yes '{LINE}' | head -n {lines}"
    start = time.perf_counter()
    _, cid = timed([*cli, "run", "-d", "--network", "none", *driver_args, "busybox", "sh", "-c", script])
    cid = cid.splitlines()[-1]
    timed([*cli, "wait", cid])
    samples.setdefault("write", []).append((time.perf_counter() - start) * 1000)
    if sampler is not None:
        rss.setdefault("peak", []).append(sampler.done())
    if "none" not in driver_args:
        with open(os.devnull, "wb") as null:
            samples.setdefault("logs", []).append(timed([*cli, "logs", cid], stdout=null)[0])
        samples.setdefault("logs --tail 10", []).append(timed([*cli, "logs", "--tail", "10", cid])[0])
    run_checked([*cli, "rm", "-f", cid])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5, help="rounds (medians are reported)")
    parser.add_argument("--lines", type=int, default=200_000, help="lines the container writes")
    parser.add_argument("--drivers", default=",".join(DRIVERS), help="comma-separated: " + ", ".join(DRIVERS))
    parser.add_argument("--no-peers", action="store_true", help="berth only")
    args = parser.parse_args()
    drivers = [d.strip() for d in args.drivers.split(",")]
    base = Path(tempfile.mkdtemp(prefix="berth-bench-logs-", dir="/var/tmp"))
    berthd = Berthd(base, None, None, "lean")  # the CLI as users run it (see start.py)
    engines = {"berth": berthd.cli()}
    notes = []
    docker = shutil.which("docker")
    if not args.no_peers and docker and _docker_alive(LAB_DOCKER_SOCKET):
        engines["docker"] = [docker, "-H", f"unix://{LAB_DOCKER_SOCKET}"]
    elif not args.no_peers:
        notes.append(f"docker: skipped, no dockerd answers at {LAB_DOCKER_SOCKET}")
    results: dict[tuple[str, str], dict[str, list[float]]] = {}
    rss: dict[str, dict[str, list[int]]] = {}
    try:
        run_checked(berthd.cli("image", "bootstrap", "busybox"))
        for _ in range(args.n):
            for driver in drivers:
                for engine, cli in engines.items():
                    one_round(cli, DRIVERS[driver], args.lines, results.setdefault((engine, driver), {}),
                              rss.setdefault(driver, {}) if engine == "berth" else None)
    finally:
        berthd.stop()
        shutil.rmtree(base, ignore_errors=True)
    print(f"{args.lines} lines of {len(LINE) + 1} bytes, medians of {args.n} rounds (ms)\n")
    print("| driver | operation | berth | docker | berth ÷ docker |\n|---|---|---:|---:|---:|")
    for driver in drivers:
        for op in ("write", "logs", "logs --tail 10"):
            ours = results.get(("berth", driver), {}).get(op)
            theirs = results.get(("docker", driver), {}).get(op)
            if not ours:
                continue
            b = statistics.median(ours)
            d = statistics.median(theirs) if theirs else None
            print(f"| {driver} | {op} | {b:.0f} | {f'{d:.0f}' if d else '–'} | {f'{b / d:.2f}×' if d else '–'} |")
    print("\nberth monitor peak RSS while logging (MiB): " + ", ".join(
        f"{d} {max(rss[d]['peak']) / 1024:.1f}" for d in drivers if rss.get(d, {}).get("peak")))
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
