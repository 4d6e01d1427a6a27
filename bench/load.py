#!/usr/bin/env python3
"""berthd under load, side by side with the lab's dockerd where a scenario applies (issue 14).

Usage (as root)::

    /opt/berth/venv/bin/python bench/load.py [--concurrent 50] [--running 200] [--cycles 1000]
                                             [--log-mb 1000] [--only run,running,cycles,logs] [--no-peers]

berthd runs in a network namespace this script makes (``berth-load-PID``, deleted at the end)
with its default bridge, on a temp data-root under /var/tmp (default drivers); nothing is made
in the host's namespace. dockerd is the lab's (``/run/lab-docker.sock``, in its own namespace
``labpeer``); everything made there is removed again. The scenarios:

* ``run``: N concurrent ``run --rm busybox true`` (``--network none``), through the API
  (create, wait for removal, start: what the CLI does) and through the CLI; every one must
  succeed; p50, p95 and max latency.
* ``running``: N containers running ``sleep`` on the default bridge, each publishing port 80
  on a random host port; then berthd's RSS and PSS, the PSS per container (its monitor; for
  dockerd its containerd-shim), ``ps`` latency with N rows (API and CLI, median of 5) and one
  ``stop`` of all N (API calls in parallel, 8 at a time, ``t=1``).
* ``cycles``: N create/start/stop/rm cycles, mixed (bridge with a published port and exec,
  none with logs, a named volume, exec into a running one, a chatty one's logs), through the
  API; berthd's RSS and open fds after each tenth (flat after warm-up is the promise); then a
  leak scan (``tests/leakscan``): mounts, cgroups, processes, veths, DNAT rules, port
  listeners, bridge endpoints and DNS names, exec-root state, store consistency, and files
  under exec-root and data-root that were not there before. berth only: the scan reads the
  daemon's own directories.
* ``logs``: a container writing ``--log-mb`` MB to stdout as fast as it can while ``logs -f``
  follows it: the time to write with the json-file log against ``--log-driver none`` (the
  slowdown ratio, for berth and dockerd), whether ``logs -f`` received every byte and how long
  after the container's exit it ended, and the peak RSS of berth's monitor.

Not a test: nothing is asserted about time; the leak scan's problems are printed (and make the
exit status 1).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from logs import RssSampler  # noqa: E402  (sibling scripts)
from sandbox import Sandbox  # noqa: E402
from start import LAB_DOCKER_SOCKET, Berthd, _docker_alive, run_checked  # noqa: E402

from tests import leakscan  # noqa: E402
from tests.unixhttp import UnixHTTPConnection  # noqa: E402

DOCKER = "/usr/local/bin/docker"
IMAGE = "busybox:latest"


# -- the API ---------------------------------------------------------------------------------------


class Api:
    """JSON requests to one daemon's unix socket (the v1.41 API, which both daemons serve); every container it
    creates carries ``label`` (so that a run's leftovers can be found and removed)."""

    def __init__(self, socket_path: str, label: str):
        self.socket = socket_path
        self.label = label

    def __call__(self, method: str, path: str, body=None, ok=(200, 201, 204, 304), timeout: float = 300):
        conn = UnixHTTPConnection(self.socket, timeout=timeout)
        try:
            conn.request(method, "/v1.41" + path, body=json.dumps(body).encode() if body is not None else None,
                         headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        if response.status not in ok:
            raise RuntimeError(f"{method} {path}: {response.status} {raw[:300]!r}")
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw

    def create(self, name: str = "", **config) -> str:
        config["Labels"] = {**config.get("Labels", {}), self.label: ""}
        return self("POST", f"/containers/create?name={name}", {"Image": IMAGE, **config})["Id"]

    def run_rm(self) -> None:
        """``run --rm --network none busybox true`` as the CLI does it: wait for removal, then start."""
        cid = self.create(Cmd=["true"], HostConfig={"AutoRemove": True, "NetworkMode": "none"})
        wait = UnixHTTPConnection(self.socket, timeout=300)
        try:
            wait.request("POST", f"/v1.41/containers/{cid}/wait?condition=removed")
            self("POST", f"/containers/{cid}/start")
            response = wait.getresponse()
            result = json.loads(response.read() or b"{}")
        finally:
            wait.close()
        if response.status != 200 or result.get("StatusCode") != 0:
            raise RuntimeError(f"run --rm {cid[:12]}: {response.status} {result}")

    def labelled(self, running_only: bool = False) -> list[str]:
        query = urllib.parse.quote(json.dumps({"label": [self.label]}))
        return [c["Id"] for c in self("GET", f"/containers/json?all={int(not running_only)}&filters={query}")]

    def remove_all(self) -> None:
        for cid in self.labelled():
            self("DELETE", f"/containers/{cid}?force=1&v=1", ok=(204, 404))


# -- figures ---------------------------------------------------------------------------------------


def percentiles(samples_ms: list[float]) -> str:
    ordered = sorted(samples_ms)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):.0f} ms, p95 {p95:.0f} ms, max {ordered[-1]:.0f} ms"


def timed_ms(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def concurrently(calls: list, workers: int) -> tuple[list[float], list[str]]:
    """Each call's latency in ms, and the failures."""
    latencies, failures = [], []

    def one(call):
        started = time.perf_counter()
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - a failure is a figure here
            failures.append(str(exc)[:300])
        latencies.append((time.perf_counter() - started) * 1000)

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, calls))
    return latencies, failures


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of ``pid`` in KiB."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        fields = {line.split(":")[0]: int(line.split()[1]) for line in f if line.split()[0].endswith(":")}
    return fields.get("Rss", 0), fields.get("Pss", 0)


def pss_total_kib(pids: set[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += memory_kib(pid)[1]
        except OSError:
            pass
    return total


def pids_named(*names: str) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() in names:
                        found.add(int(entry))
            except OSError:
                pass
    return found


def serving(pids: set[int], ids: list[str]) -> set[int]:
    """The processes of ``pids`` that serve one of the containers ``ids``: the id is in their command line
    (containerd-shim's ``-id``) or in a file they hold open (a berth monitor's log file)."""
    wanted = set(ids)
    found = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                texts = [f.read().decode(errors="replace")]
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue  # it exited
        for fd in fds:
            try:
                texts.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                pass  # closed meanwhile
        if wanted & set(re.findall(r"[0-9a-f]{64}", " ".join(texts))):
            found.add(pid)
    return found


# -- scenario: concurrent run --rm ----------------------------------------------------------------


def scenario_run(name: str, api: Api, cli: list[str], n: int) -> None:
    latencies, failures = concurrently([api.run_rm] * n, n)
    print(f"  {name} API: {n - len(failures)}/{n} succeeded; {percentiles(latencies)}")
    for failure in failures[:3]:
        print(f"    failed: {failure}")
    argv = [*cli, "run", "--rm", "--network", "none", IMAGE, "true"]
    latencies, failures = concurrently([lambda: run_checked(argv)] * n, n)
    print(f"  {name} CLI: {n - len(failures)}/{n} succeeded; {percentiles(latencies)}")
    for failure in failures[:3]:
        print(f"    failed: {failure}")


# -- scenario: many running containers with published ports ---------------------------------------


def scenario_running(name: str, api: Api, cli: list[str], n: int, daemon_pid: int, per_container: set[str]) -> None:
    """``per_container``: the process names whose PSS is the per-container cost."""
    names = tuple(per_container)
    config = {"Cmd": ["sleep", "100000"], "ExposedPorts": {"80/tcp": {}},
              "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": ""}]}}}

    def start_one():
        api("POST", f"/containers/{api.create(**config)}/start")

    started = time.perf_counter()
    latencies, failures = concurrently([start_one] * n, 8)
    print(f"  {name}: {n - len(failures)}/{n} started in {time.perf_counter() - started:.1f} s "
          f"(create+start {percentiles(latencies)})")
    for failure in failures[:3]:
        print(f"    failed: {failure}")
    time.sleep(2)
    rss, pss = memory_kib(daemon_pid)
    ids = api.labelled(running_only=True)
    theirs = serving(pids_named(*names), ids)
    print(f"  {name}: daemon RSS {rss / 1024:.0f} MiB, PSS {pss / 1024:.0f} MiB; per container "
          f"{pss_total_kib(theirs) / max(1, len(theirs)) / 1024:.1f} MiB PSS ({len(theirs)} {'/'.join(names)})")
    api_ps = statistics.median(timed_ms(lambda: api("GET", "/containers/json")) for _ in range(5))
    cli_ps = statistics.median(timed_ms(lambda: run_checked([*cli, "ps"])) for _ in range(5))
    print(f"  {name}: ps with {len(ids)} rows: API {api_ps:.0f} ms, CLI {cli_ps:.0f} ms (median of 5)")
    stop = time.perf_counter()
    _, failures = concurrently([lambda cid=cid: api("POST", f"/containers/{cid}/stop?t=1") for cid in ids], 8)
    print(f"  {name}: stop of all {len(ids)}: {time.perf_counter() - stop:.1f} s, {len(failures)} failed")
    api.remove_all()


# -- scenario: mixed cycles and a leak scan -------------------------------------------------------


def cycle(api: Api, i: int) -> None:
    """One create/start/stop/rm cycle of kind ``i % 5``."""
    kind = i % 5
    if kind == 0:  # bridge, a published port, an exec
        cid = api.create(Cmd=["sleep", "100"], ExposedPorts={"80/tcp": {}},
                         HostConfig={"PortBindings": {"80/tcp": [{"HostPort": ""}]}})
        api("POST", f"/containers/{cid}/start")
        exec_run(api, cid, ["true"])
        api("POST", f"/containers/{cid}/stop?t=0")
    elif kind == 1:  # no network, output read back
        cid = api.create(Cmd=["echo", "hello"], HostConfig={"NetworkMode": "none"})
        api("POST", f"/containers/{cid}/start")
        api("POST", f"/containers/{cid}/wait")
        api("GET", f"/containers/{cid}/logs?stdout=1")
    elif kind == 2:  # a named volume, removed with the container
        volume = f"load-{i}"
        cid = api.create(Cmd=["sh", "-c", "echo x > /v/f"], HostConfig={"Binds": [f"{volume}:/v"], "NetworkMode": "none"})
        api("POST", f"/containers/{cid}/start")
        api("POST", f"/containers/{cid}/wait")
        api("DELETE", f"/containers/{cid}?v=1")
        api("DELETE", f"/volumes/{volume}")
        return
    elif kind == 3:  # execs into a running container, then a kill
        cid = api.create(Cmd=["sleep", "100"], HostConfig={"NetworkMode": "none"})
        api("POST", f"/containers/{cid}/start")
        for _ in range(3):
            exec_run(api, cid, ["sh", "-c", "echo in"])
        api("POST", f"/containers/{cid}/kill")
        api("POST", f"/containers/{cid}/wait")
    else:  # a chatty container on the bridge, its logs
        cid = api.create(Cmd=["sh", "-c", "seq 1 2000"], )
        api("POST", f"/containers/{cid}/start")
        api("POST", f"/containers/{cid}/wait")
        api("GET", f"/containers/{cid}/logs?stdout=1&tail=10")
    api("DELETE", f"/containers/{cid}?v=1")


def exec_run(api: Api, cid: str, cmd: list[str]) -> None:
    exec_id = api("POST", f"/containers/{cid}/exec", {"Cmd": cmd, "AttachStdout": True})["Id"]
    api("POST", f"/exec/{exec_id}/start", {"Detach": False})


def files_under(*roots: Path) -> set[str]:
    found = set()
    for root in roots:
        for directory, _, names in os.walk(root):
            found |= {os.path.join(directory, n) for n in names}
    return found


def scenario_cycles(daemon: Berthd, sandbox: Sandbox, api: Api, n: int) -> list[str]:
    """The first tenth of the cycles is the warm-up (caches such as the seccomp filters are made once); the
    file snapshot and the flatness of RSS and fds count from its end."""
    data_root, exec_root = daemon.base / "data", daemon.base / "run"
    pid = daemon.proc.pid
    step = max(5, n // 10)
    for i in range(step):
        cycle(api, i)
    files_before = files_under(exec_root, data_root)
    samples = [(step, memory_kib(pid)[0], leakscan.open_fds(pid))]
    started = time.perf_counter()
    for i in range(step, n):
        cycle(api, i)
        if (i + 1) % step == 0:
            samples.append((i + 1, memory_kib(pid)[0], leakscan.open_fds(pid)))
    elapsed = time.perf_counter() - started
    print(f"  berth: {n} cycles, {n - step} after the warm-up in {elapsed:.0f} s ({elapsed / (n - step) * 1000:.0f} ms each)")
    print("  berthd RSS/fds after cycle: " + ", ".join(f"{i}: {rss / 1024:.0f} MiB/{fds}" for i, rss, fds in samples))
    ids = leakscan.container_ids(str(data_root), str(exec_root))
    problems = leakscan.runtime_leftovers(str(daemon.base), str(exec_root), ids, netns=sandbox.name)
    problems += leakscan.store_problems(str(data_root), api("GET", "/info")["Driver"])
    if left := api("GET", "/containers/json?all=1"):
        problems.append(f"containers left: {[c['Id'][:12] for c in left]}")
    if left := api("GET", "/volumes")["Volumes"]:
        problems.append(f"volumes left: {[v['Name'] for v in left]}")
    new_files = sorted(files_under(exec_root, data_root) - files_before)
    new_files = [f for f in new_files if not f.endswith((".db-wal", ".db-shm"))]
    if new_files:
        problems.append(f"{len(new_files)} new files under exec-root and data-root: {new_files[:20]}")
    print(f"  leak scan: {'nothing left' if not problems else ''}")
    for problem in problems:
        print(f"    {problem}")
    return problems


# -- scenario: a log-heavy container --------------------------------------------------------------


def write_seconds(api: Api, megabytes: int, log_config: dict, follow: bool) -> tuple[float, int, float]:
    """Seconds the container took to write ``megabytes`` MB to stdout; with ``follow``, the bytes a
    ``logs -f`` received and how long after the container's exit it ended."""
    script = f"yes 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopq" \
             f" | head -c {megabytes * 1_000_000}"
    cid = api.create(Cmd=["sh", "-c", script], HostConfig={"NetworkMode": "none", "LogConfig": log_config})
    received, follower_end = [0], [0.0]

    def follow_logs():
        conn = UnixHTTPConnection(api.socket, timeout=600)
        conn.request("GET", f"/v1.41/containers/{cid}/logs?follow=1&stdout=1&stderr=1")
        response = conn.getresponse()
        while chunk := response.read1(1 << 20) if hasattr(response, "read1") else response.read(1 << 20):
            received[0] += len(chunk)
        follower_end[0] = time.perf_counter()
        conn.close()

    follower = threading.Thread(target=follow_logs, daemon=True)
    try:
        started = time.perf_counter()
        api("POST", f"/containers/{cid}/start")
        if follow:
            follower.start()
        api("POST", f"/containers/{cid}/wait")
        ended = time.perf_counter()
        if follow:
            follower.join(600)
        return ended - started, received[0], max(0.0, follower_end[0] - ended) if follow else 0.0
    finally:
        api("DELETE", f"/containers/{cid}?force=1")


class PeakRss:
    """The largest RSS (KiB) of one process, sampled every 50 ms until :meth:`done`."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, memory_kib(pid)[0]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.05):
            self.peak = max(self.peak, memory_kib(self.pid)[0])

    def done(self) -> int:
        self.stop.set()
        self.thread.join()
        return self.peak


def scenario_logs(name: str, api: Api, megabytes: int, daemon_pid: int, sample_monitors: bool) -> None:
    baseline = write_seconds(api, megabytes, {"Type": "none", "Config": {}}, follow=False)[0]
    logged = write_seconds(api, megabytes, {"Type": "json-file", "Config": {}}, follow=False)[0]
    sampler = RssSampler() if sample_monitors else None
    daemon_rss = PeakRss(daemon_pid)
    followed, received, lag = write_seconds(api, megabytes, {"Type": "json-file", "Config": {}}, follow=True)
    peak, daemon_peak = (sampler.done() if sampler else 0), daemon_rss.done()
    print(f"  {name}: daemon RSS {daemon_peak / 1024:.0f} MiB at most while logs -f followed")
    print(f"  {name}: {megabytes} MB to stdout: {baseline:.1f} s with --log-driver none, {logged:.1f} s with json-file "
          f"({logged / baseline:.2f}x, {megabytes / logged:.0f} MB/s), {followed:.1f} s with logs -f following "
          f"({followed / baseline:.2f}x); logs -f received {received / 1e6:.0f} MB (with frame headers) and ended "
          f"{lag:.1f} s after the container" + (f"; monitor peak RSS {peak / 1024:.0f} MiB" if sample_monitors else ""))


# -- main -----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--running", type=int, default=200)
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--log-mb", type=int, default=1000)
    parser.add_argument("--only", default="run,running,cycles,logs")
    parser.add_argument("--no-peers", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/load.py needs root (netns, berthd)")
    wanted = set(args.only.split(","))
    label = f"berth-bench-load-{os.getpid()}"
    peer = not args.no_peers and _docker_alive(LAB_DOCKER_SOCKET)
    docker_api, docker_cli = Api(LAB_DOCKER_SOCKET, label), [DOCKER, "-H", f"unix://{LAB_DOCKER_SOCKET}"]
    problems: list[str] = []
    sandbox = Sandbox("load")
    daemon = None
    try:
        with tempfile.TemporaryDirectory(prefix="berth-bench-load-", dir="/var/tmp") as tmp:
            daemon = Berthd(Path(tmp), None, None, "venv", netns=sandbox.path)
            daemon("image", "bootstrap", "busybox")
            berth_api, berth_cli = Api(str(daemon.sock), label), daemon.cli()
            info = berth_api("GET", "/info")
            print(f"berthd {info['ServerVersion']} ({info['Driver']}, {sandbox.name}); "
                  f"dockerd: {'lab' if peer else 'not measured'}; {os.cpu_count()} cpus")
            try:
                if "run" in wanted:
                    print(f"{args.concurrent} concurrent run --rm")
                    scenario_run("berth", berth_api, berth_cli, args.concurrent)
                    if peer:
                        scenario_run("docker", docker_api, docker_cli, args.concurrent)
                if "running" in wanted:
                    print(f"{args.running} running containers on the default bridge, port 80 published")
                    scenario_running("berth", berth_api, berth_cli, args.running, daemon.proc.pid,
                                     {"berth-monitor", "berth-oci-mon"})
                    if peer:
                        scenario_running("docker", docker_api, docker_cli, args.running, dockerd_pid(),
                                         {"containerd-shim"})
                if "cycles" in wanted:
                    print(f"{args.cycles} mixed cycles (bridge+port+exec, none+logs, volume, exec+kill, chatty logs)")
                    problems = scenario_cycles(daemon, sandbox, berth_api, args.cycles)
                if "logs" in wanted:
                    print("a log-heavy container")
                    scenario_logs("berth", berth_api, args.log_mb, daemon.proc.pid, sample_monitors=True)
                    if peer:
                        scenario_logs("docker", docker_api, args.log_mb, dockerd_pid(), sample_monitors=False)
            finally:
                cleanup(berth_api, docker_api if peer else None)
                daemon.stop()
                leakscan_unmount(Path(tmp))
    finally:
        if daemon is not None and daemon.proc.poll() is None:
            daemon.proc.kill()
        sandbox.delete()
    return 1 if problems else 0


def cleanup(berth_api: Api, docker_api: Api | None) -> None:
    """Everything on the private berthd, and what this run made on dockerd (each step tried on its own)."""
    steps = [lambda: [berth_api("DELETE", f"/containers/{c['Id']}?force=1&v=1", ok=(204, 404))
                      for c in berth_api("GET", "/containers/json?all=1")],
             lambda: [berth_api("DELETE", f"/volumes/{v['Name']}", ok=(204, 404))
                      for v in berth_api("GET", "/volumes")["Volumes"] or []]]
    if docker_api is not None:
        steps.append(docker_api.remove_all)
    for step in steps:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - the next step still runs
            print(f"cleanup: {exc}")


def dockerd_pid() -> int:
    pids = pids_named("dockerd")
    for pid in pids:  # the lab's: the one serving its socket
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if LAB_DOCKER_SOCKET.encode() in f.read():
                return pid
    return min(pids)


def leakscan_unmount(base: Path) -> None:
    for mount in reversed(leakscan.mounts_under(str(base))):
        subprocess.run(["umount", "-l", mount], check=False)


if __name__ == "__main__":
    sys.exit(main())
