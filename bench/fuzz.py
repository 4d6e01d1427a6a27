#!/usr/bin/env python3
"""The long API fuzz: schemathesis, driven by Moby's v1.45 spec, against a private berthd.

Usage (as root, from the checkout)::

    /opt/berth/venv/bin/python bench/fuzz.py [-n 200] [--seed S] [--routes 'POST /containers/create,...']

The same judgement as ``tests/integration/test_api_fuzz.py`` (see ``tests/apifuzz``): no hang, no
traceback, Docker's error bodies, the spec's response schemas, and no 5xx unless the lab's dockerd
answers the same request with a 5xx (or the test's excuses say why). The test sends a few fixed
examples per route; this sends ``-n`` random ones per route (a new seed each run unless ``--seed``),
then checks that the keepers are intact and that berthd logged no traceback. berthd runs in a
network namespace of its own (``berth-fuzz-PID``) on a temp data-root with its default bridge.
Prints the findings per route, each with a curl command that reproduces it; exit status 1 when
there are any.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(CHECKOUT))

from tests.apifuzz import spec  # noqa: E402
from tests.apifuzz.dockerd import LabDockerd  # noqa: E402
from tests.apifuzz.runner import Fuzzer  # noqa: E402
from tests.conftest import Daemon, _unmount_all  # noqa: E402
from tests.integration import test_api_fuzz as judged  # noqa: E402  (its excuses are this run's too)


def fuzz(daemon: Daemon, scratch: str, routes: list[str], examples: int, seed: int) -> dict[str, list[str]]:
    lab = LabDockerd()
    fuzzer = Fuzzer(daemon.socket, scratch, judged.SERVER_ERRORS_EXCUSED, judged.SCHEMA_EXCUSES,
                    judged.SERVER_ERROR_MESSAGES_EXCUSED, lab=lab if lab.available() else None)
    print(f"{len(routes)} routes, {examples} examples each, seed {seed}; "
          f"dockerd {'judges 5xx' if fuzzer.lab else 'absent: every 5xx is a finding'}", flush=True)
    findings: dict[str, list[str]] = {}
    try:
        fuzzer.objects.make_keepers()
        for number, route in enumerate(routes, 1):
            started = time.monotonic()
            found = fuzzer.run_route(route, examples, random_seed=seed + number)
            print(f"[{number}/{len(routes)}] {route}: {fuzzer.counts[route]} requests, {len(found)} findings, "
                  f"{time.monotonic() - started:.0f} s", flush=True)
            if found:
                findings[route] = found
        if problems := fuzzer.objects.keeper_problems():
            findings["state lost"] = problems
        fuzzer.objects.remove_keepers()
    finally:
        fuzzer.objects.remove_victims()
        lab.close()
    return findings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=200, help="examples per route")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--routes", default="", help="comma-separated 'METHOD /path' (default: every route)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/fuzz.py needs root (netns, berthd)")
    routes = [r.strip() for r in args.routes.split(",") if r.strip()] or sorted(spec.operations())
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    netns = f"berth-fuzz-{os.getpid():x}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    base = tempfile.mkdtemp(prefix="berth-bench-fuzz-", dir="/var/tmp")
    daemon = Daemon(base, ["-s", "vfs", "--bip", "10.236.0.1/24"], netns=netns)
    try:
        subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
        daemon.start()
        if daemon.cli("image", "bootstrap", "busybox").returncode != 0:
            sys.exit(daemon.log()[-2000:])
        findings = fuzz(daemon, os.path.join(base, "binds"), routes, args.n, seed)
        if daemon.proc.poll() is not None:
            findings["berthd"] = [f"berthd exited ({daemon.proc.returncode})"]
        elif "Traceback" in (log := daemon.log()):
            findings["berthd log"] = [log[log.index("Traceback") - 500:][:4000]]
    finally:
        daemon.remove_everything()
        daemon.stop()
        _unmount_all(base)
        subprocess.run(["rm", "-rf", base], check=False)
        subprocess.run(["ip", "netns", "delete", netns], check=False)
    for route, found in findings.items():
        print(f"\n== {route}: {len(found)}")
        for finding in found[:10]:
            print("  " + finding.replace("\n", "\n  "))
    print(f"\n{sum(map(len, findings.values()))} findings on {len(findings)} routes (seed {seed})")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
