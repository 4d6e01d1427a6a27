#!/usr/bin/env python3
"""User-namespace remapping (``berthd --userns-remap``): what id-mapped layers cost, against Docker's way.

Usage (as root)::

    /opt/berth/venv/bin/python bench/userns.py [-n 15] [--layers 1,10,40,100] [--deep 40]

berth keeps one copy of every layer, stored with the ids of its archive, and shows it to a
remapped container through id-mapped mounts (overlayfs over id-mapped layers; an id-mapped
bind for vfs). dockerd instead keeps a second layer tree per remapped root whose files are
chowned into the remapped range when they are unpacked. Three tables:

1. container start (``run --rm IMAGE true`` through the CLI, and berthd's own ``container.start``
   and ``native.create``): a plain and a remapped berthd side by side, on overlay and on vfs, for
   busybox and for an image of ``--deep`` layers (made by ``commit``); medians of ``-n``
   interleaved rounds after one warm-up;
2. mounting a container layer on N image layers: the graph driver's plain mount against its
   id-mapped one (one id-mapped clone per layer for overlay), median microseconds;
3. disk and time: what dockerd's separate remapped tree costs for the same images (copying the
   plain tree's layers and chowning every entry into the range), against nothing for berth
   (the remapped tree's layers are the same bytes as the plain tree's).

Not a test: nothing is asserted about time.
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
from start import Berthd, daemon_events, run_checked, timed  # noqa: E402

from berth.hookspecs.types import IdMap, IdRange  # noqa: E402
from berth.testing.graph_kit import open_graph  # noqa: E402

IDMAP = IdMap((IdRange(0, 100000, 65536),), (IdRange(0, 100000, 65536),))


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# -- 1. container start ------------------------------------------------------------------------


def start_daemons(work: Path, storage: str) -> dict[str, Berthd]:
    """A plain and a remapped berthd on ``storage``, each with busybox and a deep image."""
    daemons = {}
    for kind, extra in (("plain", ()), ("remapped", ("--userns-remap", "default"))):
        base = work / f"{storage}-{kind}"
        base.mkdir(mode=0o711)
        daemons[kind] = Berthd(base, None, storage, "venv", extra_args=extra)
        time.sleep(0.5)
        for _ in range(100):  # the socket exists before the API answers
            if subprocess.run(daemons[kind].cli("version"), capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        run_checked(daemons[kind].cli("image", "bootstrap", "busybox"))
    return daemons


def make_deep_image(d: Berthd, layers: int) -> str:
    """``deep:N``: busybox plus ``layers - 1`` committed layers of one small file each."""
    image = "busybox"
    for i in range(1, layers):
        cid = run_checked(d.cli("create", image, "sh", "-c", f"echo {i} > /layer-{i}")).strip()
        run_checked(d.cli("start", "-a", cid))
        image = f"deep:{i + 1}"
        run_checked(d.cli("commit", cid, image))
        run_checked(d.cli("rm", cid))
    return image


def start_table(daemons: dict[str, dict[str, Berthd]], images: list[str], rounds: int) -> list[str]:
    rows = ["| driver | image | plain ms | remapped ms | remapped ÷ plain | container.start plain / remapped ms |",
            "|---|---|---:|---:|---:|---:|"]
    for storage, pair in daemons.items():
        for image in images:
            samples: dict[str, list[float]] = {"plain": [], "remapped": []}
            marks = {kind: len(daemon_events(d.log_path.read_text()).get("container.start", []))
                     for kind, d in pair.items()}
            for n in range(rounds + 1):
                for kind, d in pair.items():
                    ms, _ = timed(d.cli("run", "--rm", image, "true"))
                    if n:
                        samples[kind].append(ms)
            daemon_ms = {kind: median(daemon_events(d.log_path.read_text()).get("container.start", [])[marks[kind] + 1:])
                         for kind, d in pair.items()}
            plain, remapped = median(samples["plain"]), median(samples["remapped"])
            rows.append(f"| {storage} | {image} | {plain:.1f} | {remapped:.1f} | {remapped / plain:.2f}× | "
                        f"{daemon_ms['plain']:.1f} / {daemon_ms['remapped']:.1f} |")
    return rows


def create_phases(pair: dict[str, Berthd]) -> list[str]:
    """The native driver's ``native.create`` phases (median ms), plain against remapped."""
    fields = ("duration", "fork_monitor", "cgroups", "fork_init", "namespaces", "cgroup_wait", "mounts",
              "paths", "ready")
    rows = ["| native.create | " + " | ".join(fields) + " |", "|---|" + "---:|" * len(fields)]
    for kind, d in pair.items():
        events = daemon_events(d.log_path.read_text())
        values = [median(events.get("native.create" if f == "duration" else f"native.create.{f}", [])) for f in fields]
        rows.append(f"| {kind} | " + " | ".join(f"{v:.1f}" for v in values) + " |")
    return rows


# -- 2. mounting -----------------------------------------------------------------------------------


def mount_table(storage: str, layer_counts: list[int], rounds: int, work: Path) -> list[str]:
    rows = [f"| {storage}: layers | plain mount µs | id-mapped mount µs | id-mapped ÷ plain |", "|---:|---:|---:|---:|"]
    for count in layer_counts:
        root = work / f"graph-{storage}-{count}"
        root.mkdir(mode=0o711)
        graph = open_graph(storage, str(root))
        parent = None
        for i in range(count):
            graph.create(f"l{i}", parent)
            parent = f"l{i}"
        graph.create_rw("c", parent)
        times = {"plain": [], "idmapped": []}
        for _ in range(rounds + 1):
            for kind, mount, unmount in (("plain", lambda: graph.mount("c"), lambda: graph.unmount("c")),
                                         ("idmapped", lambda: graph.mount_idmapped("c", IDMAP),
                                          lambda: graph.unmount_idmapped("c"))):
                start = time.perf_counter()
                mount()
                times[kind].append((time.perf_counter() - start) * 1e6)
                unmount()
        plain, mapped = median(times["plain"][1:]), median(times["idmapped"][1:])
        rows.append(f"| {count} | {plain:.0f} | {mapped:.0f} | {mapped / plain:.2f}× |")
        graph.cleanup()
    return rows


# -- 3. disk ---------------------------------------------------------------------------------------


def du(path: Path) -> int:
    return int(run_checked(["du", "-s", "-B1", str(path)]).split()[0])


def shifted_copy_table(plain: Berthd, storage: str, work: Path) -> list[str]:
    """Docker's remapped tree for the same images: a copy of every layer, each entry chowned into the range."""
    layers = plain.base / "data" / storage
    copy = work / f"shifted-{storage}"
    start = time.perf_counter()
    subprocess.run(["cp", "-a", "--reflink=never", str(layers), str(copy)], check=True)
    entries = 0
    for dirpath, dirnames, filenames in os.walk(copy):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            os.lchown(path, st.st_uid + 100000, st.st_gid + 100000)
            entries += 1
    seconds = time.perf_counter() - start
    remapped_tree = plain.base.parent / f"{storage}-remapped" / "data" / "100000.100000" / storage
    return ["| driver | plain tree's layers | berth's remapped tree | a shifted copy (dockerd's way) | entries | copy + chown s |",
            "|---|---:|---:|---:|---:|---:|",
            f"| {storage} | {du(layers) / 1e6:.1f} MB | {du(remapped_tree) / 1e6:.1f} MB (its own pulls; no copy made "
            f"for remapping) | +{du(copy) / 1e6:.1f} MB | {entries} | {seconds:.2f} |"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=15)
    ap.add_argument("--layers", default="1,10,40,100")
    ap.add_argument("--deep", type=int, default=40)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="berth-bench-userns-", dir="/var/tmp"))
    os.chmod(work, 0o711)
    daemons: dict[str, dict[str, Berthd]] = {}
    try:
        print(f"kernel {os.uname().release}; n={args.n}\n")
        for storage in ("overlay", "vfs"):
            daemons[storage] = start_daemons(work, storage)
        deep = {s: make_deep_image(pair["plain"], args.deep) for s, pair in daemons.items()}
        for s, pair in daemons.items():
            assert make_deep_image(pair["remapped"], args.deep) == deep[s]
        print("\n".join(start_table(daemons, ["busybox", deep["overlay"]], args.n)), "\n")
        print("\n".join(create_phases(daemons["overlay"])), "\n")
        for storage in ("overlay", "vfs"):
            print("\n".join(mount_table(storage, [int(c) for c in args.layers.split(",")], args.n, work)), "\n")
        for storage in ("overlay", "vfs"):
            print("\n".join(shifted_copy_table(daemons[storage]["plain"], storage, work)), "\n")
    finally:
        for pair in daemons.values():
            for d in pair.values():
                subprocess.run(d.cli("rm", "-f", *run_checked(d.cli("ps", "-aq")).split()), capture_output=True)
                d.stop()
        subprocess.run(["umount", "-R", "-l", str(work)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
