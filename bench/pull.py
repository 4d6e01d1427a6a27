#!/usr/bin/env python3
"""Pull benchmark: ``berth pull`` against ``docker pull``, ``podman pull`` and ``skopeo copy``, in one run.

Usage (as root)::

    /opt/berth/venv/bin/python bench/pull.py [-n 7] [-s overlay|vfs] [--cli lean|venv] [--no-peers]

Every tool pulls the same images from the same registry: the lab's distribution
registry (``/work/shared/peers/start-registry.sh``), which serves one storage
directory on 127.0.0.1:5000 twice, in the host's network namespace (berth, podman,
skopeo) and inside the lab namespace ``labpeer`` where the lab dockerd lives
(as ``measure-peers.sh`` reaches it). The images are the lab's deterministic ones:

* ``bench/cold``: 3 layers (~6.3 MiB gzip) no other image has; every tool fetches and
  extracts all of them (cold pull);
* ``bench/shared``: busybox's layer plus 2 of its own; busybox is present in every
  store, so only 2 layers are fetched (shared-base pull).

Before each timed pull the image is removed untimed, layers included, the way each tool
does it: ``berth rmi`` + ``berth image prune -f``, ``docker rmi`` + ``docker image prune
-f``, ``podman rmi`` (which drops unused layers), an empty OCI directory for skopeo (which
for the shared case first gets busybox, untimed), then ``sync`` so no tool pays for
the writeback of what the one before it left dirty (berth syncs its layers before it
records the image; docker and podman do not sync). berth is a private berthd (temp
data-root, ``--bridge none``) driven by the lean CLI launcher users get (``.ci/install``),
on the storage driver matching the peers' (``-s overlay``: docker overlay2 at
/run/lab-docker.sock, podman's overlay store; ``-s vfs``: the vfs dockerd at
/run/lab-docker-vfs.sock, podman's vfs store). The script starts no peer: a peer that
does not answer is skipped with a note. Rounds are interleaved (each tool once per
round, after one warm-up round) so drift on the shared cores hits every tool alike;
the table shows medians in ms and berth's ratio to each peer. Not a test.
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
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from start import LAB_IMAGES, Berthd, _docker_alive, daemon_events, run_checked  # noqa: E402  (bench/start.py)

REGISTRY = "127.0.0.1:5000"  # the lab registry (start-registry.sh)
LAB_NETNS = "/run/netns/labpeer"
LAB_PODMAN_DIR = Path("/etc/lab-podman")
DOCKER_SOCKETS = {"overlay": "/run/lab-docker.sock", "vfs": "/run/lab-docker-vfs.sock"}
CASES = {"cold pull": "bench/cold:latest", "shared-base pull": "bench/shared:latest"}
BASE_IMAGE = f"{REGISTRY}/busybox:latest"
#: beside the peers' stores (/var/lib/lab-docker, /var/lib/lab-podman): the same filesystem, the same
#: part of it, not /var/tmp where every test suite on the machine churns through files
WORK_DIR = "/var/lib/berth-bench"


def quiet(argv: list[str], env: dict | None = None) -> None:
    """Run an untimed clean-up step; its failure (nothing to remove) does not matter."""
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)


class Tool:
    """One way of pulling: ``reset(image)`` removes it (untimed), ``pull(image)`` is what is timed."""

    def __init__(self, name: str, cli: list[str], env: dict | None = None):
        self.name, self.cli, self.env = name, cli, env
        self.samples: dict[str, list[float]] = {case: [] for case in CASES}

    def reset(self, image: str) -> None:
        quiet([*self.cli, "rmi", "-f", image], self.env)
        quiet([*self.cli, "image", "prune", "-f"], self.env)

    def pull_argv(self, image: str) -> list[str]:
        return [*self.cli, "pull", "-q", image]

    def pull(self, image: str) -> float:
        start = time.perf_counter()
        run_checked(self.pull_argv(image), self.env)
        return (time.perf_counter() - start) * 1000

    def close(self) -> None:
        for image in CASES.values():
            self.reset(f"{REGISTRY}/{image}")


class Podman(Tool):
    def reset(self, image: str) -> None:
        quiet([*self.cli, "rmi", "-f", image], self.env)  # unused layers go with the image

    def pull_argv(self, image: str) -> list[str]:
        return [*self.cli, "pull", "-q", "--tls-verify=false", image]


class Skopeo(Tool):
    """``skopeo copy`` into an OCI layout: fetch + verify + store the blobs, no extraction (a floor)."""

    def __init__(self, work: Path):
        super().__init__("skopeo", ["skopeo"])
        self.dest = work / "skopeo-oci"

    def _copy(self, image: str) -> None:
        tag = image.rsplit("/", 1)[-1].replace(":", "-")
        run_checked(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{image}", f"oci:{self.dest}:{tag}"])

    def reset(self, image: str) -> None:
        shutil.rmtree(self.dest, ignore_errors=True)
        if image.endswith(CASES["shared-base pull"]):
            self._copy(BASE_IMAGE)  # the base layer is "present", as in the other stores

    def pull(self, image: str) -> float:
        start = time.perf_counter()
        self._copy(image)
        return (time.perf_counter() - start) * 1000

    def close(self) -> None:
        shutil.rmtree(self.dest, ignore_errors=True)


# -- set-up --------------------------------------------------------------------------------------


def registry_alive(netns: bool) -> bool:
    """The lab registry answers on 127.0.0.1:5000 (inside labpeer when ``netns``)."""
    url = f"http://{REGISTRY}/v2/bench/cold/tags/list"
    if not netns:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False
    if not os.path.exists(LAB_NETNS):
        return False
    done = subprocess.run(["nsenter", f"--net={LAB_NETNS}", "curl", "-fsS", "--max-time", "2", url],
                          capture_output=True)
    return done.returncode == 0


def docker_tool(storage: str, notes: list[str]) -> Tool | None:
    sock = DOCKER_SOCKETS[storage]
    cli = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker")
    if not cli:
        notes.append("docker: skipped, no docker CLI")
        return None
    if not _docker_alive(sock):
        notes.append(f"docker: skipped, no dockerd answers at {sock} "
                     f"(/work/shared/peers/start-dockerd.sh {'overlay2' if storage == 'overlay' else 'vfs'})")
        return None
    if not registry_alive(netns=True):
        notes.append(f"docker: skipped, the lab registry does not answer inside {LAB_NETNS} (start-registry.sh)")
        return None
    tool = Tool(f"docker ({'overlay2' if storage == 'overlay' else 'vfs'})", [cli, "-H", f"unix://{sock}"])
    if subprocess.run([*tool.cli, "image", "inspect", "busybox:latest"], capture_output=True).returncode != 0:
        run_checked([*tool.cli, "load", "-q", "-i", str(LAB_IMAGES / "busybox.tar")])
        notes.append("docker: loaded busybox (the shared base) from the lab archive")
    return tool


def podman_tool(storage: str, notes: list[str]) -> Tool | None:
    if not shutil.which("podman"):
        notes.append("podman: skipped, not installed")
        return None
    conf = {"CONTAINERS_CONF": LAB_PODMAN_DIR / f"containers-{storage}.conf",
            "CONTAINERS_STORAGE_CONF": LAB_PODMAN_DIR / f"storage-{storage}.conf",
            "CONTAINERS_REGISTRIES_CONF": LAB_PODMAN_DIR / "registries.conf"}
    if not all(p.exists() for p in conf.values()):
        notes.append("podman: skipped, lab config missing (never run with the stock config: it pulls from the "
                     "internet); run /work/shared/peers/setup-podman.sh")
        return None
    env = {**os.environ, **{k: str(v) for k, v in conf.items()}}
    tool = Podman(f"podman ({storage})", ["podman"], env)
    if subprocess.run(["podman", "image", "exists", "busybox:latest"], env=env).returncode != 0:
        run_checked(["podman", "load", "-q", "-i", str(LAB_IMAGES / "busybox.tar")], env)
        notes.append("podman: loaded busybox (the shared base) from the lab archive")
    return tool


# -- report --------------------------------------------------------------------------------------


def table(tools: list[Tool]) -> str:
    peers = tools[1:]
    head = ["case", *(t.name for t in tools), *(f"berth ÷ {t.name.split()[0]}" for t in peers)]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for case in CASES:
        meds = [statistics.median(t.samples[case]) for t in tools]
        ratios = [f"{meds[0] / m:.2f}×" for m in meds[1:]]
        lines.append("| " + " | ".join([case, *(f"{m:.0f}" for m in meds), *ratios]) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=7, help="rounds (median reported; default 7)")
    parser.add_argument("-s", "--storage-driver", choices=("overlay", "vfs"), default="overlay",
                        help="berth's storage driver; peers use the matching one (default overlay)")
    parser.add_argument("--cli", choices=("lean", "venv"), default="lean", help="berth CLI launcher")
    parser.add_argument("--no-peers", action="store_true", help="berth and skopeo only")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/pull.py needs root (berthd, docker, podman)")
    if not registry_alive(netns=False):
        sys.exit(f"the lab registry does not answer on {REGISTRY}: run /work/shared/peers/start-registry.sh")
    notes: list[str] = []
    os.makedirs(WORK_DIR, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pull-", dir=WORK_DIR) as tmp:
        base = Path(tmp)
        daemon = Berthd(base / "berth", None, args.storage_driver, args.cli)
        tools: list[Tool] = []
        try:
            berth = Tool(f"berth ({args.storage_driver})", daemon.cli())
            run_checked(berth.pull_argv(BASE_IMAGE))  # the shared base, as busybox is in the peers' stores
            tools = [berth, Skopeo(base)]
            if not args.no_peers:
                tools += [t for t in (docker_tool(args.storage_driver, notes),
                                      podman_tool(args.storage_driver, notes)) if t is not None]
            for i in range(args.n + 1):  # round 0 warms caches and is not kept
                for case, image in CASES.items():
                    for tool in tools:
                        tool.reset(f"{REGISTRY}/{image}")
                        os.sync()  # no tool pays for writing back what the one before it left dirty
                        ms = tool.pull(f"{REGISTRY}/{image}")
                        if i:
                            tool.samples[case].append(ms)
        finally:
            for tool in tools:
                tool.close()
            daemon.stop()
        events = daemon_events(daemon.log_path.read_text(errors="replace"))
    print(f"pull from the lab registry {REGISTRY}: {args.n} interleaved rounds, medians in ms "
          f"(berth: berthd -s {args.storage_driver}, CLI {args.cli}); ratio = berth ÷ peer, same run\n")
    print(table(tools))
    print("\nwhere berth's pulls went (berthd's image.pull and layer.apply events, medians over every pull):")
    for key, values in events.items():
        if key.startswith(("image.pull", "layer.apply")):
            print(f"  {key:<28} {statistics.median(values):7.1f} ms  (n={len(values)})")
    for note in notes:
        print(f"\nnote: {note}")


if __name__ == "__main__":
    main()
