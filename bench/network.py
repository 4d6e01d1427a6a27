#!/usr/bin/env python3
"""Network throughput: iperf3 between containers on berth's bridge, and through a published port,
each as a ratio to the loopback of the same network namespace, measured in one run.

Usage (as root)::

    /opt/berth/venv/bin/python bench/network.py [-t 5] [-r 3]

Everything happens inside a network namespace this script creates
(``ip netns add berth-bench-XXXX``); no interface is created in the host's namespace:

1. berthd runs in it (``nsenter --net=/run/netns/NAME``, not ``ip netns exec``, which would
   hide the cgroup hierarchies), on a temp data-root, with its default bridge, which is
   therefore made inside the sandbox;
2. busybox comes from ``berth image bootstrap busybox``; iperf3 is the host's binary: it
   and the libraries ``ldd`` lists are copied into one directory that containers get as a
   read-only bind mount (``-v DIR:/iperf:ro``) and run through the copied dynamic loader;
3. rows (each the median of ``-r`` runs of ``-t`` seconds, client -> server):
   - ``loopback``: iperf3 server and client as plain processes in the sandbox namespace;
   - ``bridge``: server container and client container on the default bridge;
   - ``published 127.0.0.1``: client in the sandbox namespace to 127.0.0.1:PORT published
     with ``-p PORT:5201`` (berth's userland proxy path, like docker-proxy);
   - ``published gateway``: the same port through the bridge's gateway address.

Cleanup (containers, berthd, the namespace) is by id, pid and name, also on failure.
Not a test: nothing is asserted about throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sandbox import Sandbox  # noqa: E402  (bench/sandbox.py)
from start import Berthd  # noqa: E402  (bench/start.py)

SERVER_PORT = 5201
PUBLISHED_PORT = 15201
LOOPBACK_PORT = 5301


def check(argv: list[str], timeout: float = 120) -> str:
    """Run a command; failure raises RuntimeError naming the command and its stderr."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-800:]}")
    return done.stdout.strip()


# -- iperf3 ------------------------------------------------------------------------------------------


def iperf_dir(target: Path) -> tuple[str, list[str]]:
    """Copy iperf3 and every library ``ldd`` names into ``target``; the in-container command prefix.

    The copied loader runs the binary with ``--library-path /iperf``, so the busybox image
    needs no /lib of its own and the bind mount is a single read-only directory.
    """
    binary = shutil.which("iperf3")
    if not binary:
        raise RuntimeError("iperf3 is not installed (apt-get install iperf3)")
    target.mkdir()
    shutil.copy2(binary, target / "iperf3")
    loader = ""
    for line in check(["ldd", binary]).splitlines():
        m = re.search(r"(/\S+)\s+\(0x", line)
        if not m:
            continue
        path = m.group(1)
        shutil.copy2(os.path.realpath(path), target / os.path.basename(path))
        if "ld-linux" in path:
            loader = os.path.basename(path)
    if not loader:
        raise RuntimeError(f"ldd {binary} named no dynamic loader; cannot run it from a bind mount")
    return "/iperf", [f"/iperf/{loader}", "--library-path", "/iperf", "/iperf/iperf3"]


def gbits(report: str) -> float:
    """Receiver-side throughput of an ``iperf3 -J`` client report, in Gbit/s."""
    data = json.loads(report)
    if data.get("error"):
        raise RuntimeError(f"iperf3: {data['error']}")
    return data["end"]["sum_received"]["bits_per_second"] / 1e9


def client_args(host: str, port: int, seconds: int) -> list[str]:
    return ["-c", host, "-p", str(port), "-t", str(seconds), "-J", "--connect-timeout", "5000"]


def wait_listening(d: Berthd, cid: str, port: int) -> None:
    """Until the server in container ``cid`` listens (its log says so)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if "listening" in d("logs", cid).lower():
            return
        if d("inspect", "-f", "{{.State.Running}}", cid) != "true":
            break
        time.sleep(0.1)
    raise RuntimeError(f"iperf3 server in container {cid[:12]} is not listening on {port}: {d('logs', cid)}")


def measure(runs: int, one) -> list[float]:
    return [one() for _ in range(runs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-t", type=int, default=5, help="seconds per iperf3 run")
    parser.add_argument("-r", type=int, default=3, help="runs per row (median reported)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/network.py needs root (netns, berthd)")
    rows: dict[str, list[float]] = {}
    containers: list[str] = []
    sandbox = Sandbox("bench-net")
    daemon = None
    try:
        with tempfile.TemporaryDirectory(prefix="berth-bench-net-", dir="/var/tmp") as tmp:
            base = Path(tmp)
            host_dir, iperf = iperf_dir(base / "iperf")
            mount = ["-v", f"{base / 'iperf'}:{host_dir}:ro"]
            iperf_host = [shutil.which("iperf3") or "iperf3"]
            try:
                # 1. loopback of the sandbox: the reference
                def loopback() -> float:
                    server = subprocess.Popen(sandbox.enter([*iperf_host, "-s", "-1", "-p", str(LOOPBACK_PORT)]),
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    try:
                        time.sleep(0.3)
                        return gbits(check(sandbox.enter([*iperf_host, *client_args("127.0.0.1", LOOPBACK_PORT,
                                                                                     args.t)]), args.t + 30))
                    finally:
                        try:
                            server.wait(10)
                        except subprocess.TimeoutExpired:
                            server.kill()
                            server.wait()

                rows["loopback (sandbox netns)"] = measure(args.r, loopback)

                daemon = Berthd(base / "berth", None, None, "venv", netns=sandbox.path)
                daemon("image", "bootstrap", "busybox")
                # 2. container to container on the default bridge
                server = daemon("run", "-d", *mount, "-p", f"{PUBLISHED_PORT}:{SERVER_PORT}", "busybox",
                                *iperf, "-s", "--forceflush", "-p", str(SERVER_PORT))
                containers.append(server)
                wait_listening(daemon, server, SERVER_PORT)
                address = daemon("inspect", "-f", "{{.NetworkSettings.IPAddress}}", server)
                gateway = daemon("inspect", "-f", "{{.NetworkSettings.Gateway}}", server)
                if not address:
                    raise RuntimeError(f"server container {server[:12]} has no bridge address")

                def bridge() -> float:
                    return gbits(daemon("run", "--rm", *mount, "busybox", *iperf,
                                        *client_args(address, SERVER_PORT, args.t), timeout=args.t + 60))

                rows["bridge: container -> container"] = measure(args.r, bridge)

                # 3. the published port, from the sandbox namespace (as a client on the host would)
                def published(host: str) -> float:
                    return gbits(check(sandbox.enter([*iperf_host, *client_args(host, PUBLISHED_PORT, args.t)]),
                                       args.t + 30))

                rows["published: 127.0.0.1 -> container"] = measure(args.r, lambda: published("127.0.0.1"))
                if gateway:
                    rows[f"published: gateway {gateway} -> container"] = measure(args.r, lambda: published(gateway))
            finally:
                if daemon is not None:
                    for cid in containers:
                        subprocess.run(daemon.cli("rm", "-f", cid), capture_output=True)
                    daemon.stop()
    finally:
        sandbox.delete()
    reference = statistics.median(rows["loopback (sandbox netns)"])
    print(f"iperf3 TCP throughput, {args.r} runs of {args.t}s per row (median; receiver side); "
          f"ratio = row ÷ loopback of the same namespace, same run\n")
    print("| path | Gbit/s | min | max | ÷ loopback |")
    print("|---|---:|---:|---:|---:|")
    for name, values in rows.items():
        m = statistics.median(values)
        print(f"| {name} | {m:.2f} | {min(values):.2f} | {max(values):.2f} | {m / reference:.2f}× |")


if __name__ == "__main__":
    main()
