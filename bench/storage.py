"""Storage benchmark: the graph drivers side by side, measured in one run.

For every installed graph driver that works on this host (vfs, overlay, fuse-overlay...),
on a fresh data-root under --root, through berth's own image store:

* rootfs      create a container's layers (init + read-write) on a multi-layer image, mount, unmount
* apply       apply a 100 MiB layer (--apply-mib) on top of that image
* diff        changes + a full diff tar of a container with 10k changed files (--files)
* disk        bytes used by the driver's directory after all of the above (hard links counted once)

Times are medians of --repeat runs. Ratios are against the first driver listed
(vfs when it is installed), so the table reads "overlay takes 0.05x vfs's time".
Run as root (overlay mounts):  /opt/berth/venv/bin/python bench/storage.py
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
from typing import Callable

from berth import pluginmanager as pm_mod
from berth.defaults import GraphDefaults
from berth.drivers import GraphDriver
from berth.images.store import ImageStore
from berth.naivediff import NaiveDiff


def open_driver(name: str, root: str) -> GraphDriver | str:
    """The driver's facade as the engine builds it, or the reason it cannot run here."""
    entry = pm_mod.discover(pm_mod.GRAPH).get(pm_mod.normalise(name))
    if entry is None:
        return "not installed"
    reason = entry.probe(root)
    if reason:
        return reason
    driver = entry.cls(root=root, options={})
    naive = NaiveDiff()
    facade = GraphDriver(pm_mod.build_manager(pm_mod.GRAPH, driver, entry.name, defaults=[GraphDefaults(entry.name), naive]),
                         entry.name, driver)
    naive.graph = facade
    return facade


def layer_tar(files: int, size: int, prefix: str) -> bytes:
    buf = io.BytesIO()
    payload = secrets.token_bytes(size)
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        ti = tarfile.TarInfo(prefix)
        ti.type, ti.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(ti)
        for i in range(files):
            ti = tarfile.TarInfo(f"{prefix}/f{i}")
            ti.size, ti.mode = size, 0o644
            tar.addfile(ti, io.BytesIO(payload))
    return buf.getvalue()


def big_layer_file(directory: str, mib: int) -> str:
    path = os.path.join(directory, "big.tar")
    with tarfile.open(path, "w") as tar:
        chunk = secrets.token_bytes(1 << 20)
        for i in range(mib):
            ti = tarfile.TarInfo(f"big/chunk{i}")
            ti.size = len(chunk)
            tar.addfile(ti, io.BytesIO(chunk))
    return path


def disk_use(root: str) -> int:
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def median_time(repeat: int, setup: Callable[[int], object], run: Callable[[object], None],
                teardown: Callable[[object], None]) -> float:
    times = []
    for i in range(repeat):
        state = setup(i)
        started = time.perf_counter()
        run(state)
        times.append(time.perf_counter() - started)
        teardown(state)
    return statistics.median(times)


def bench_driver(name: str, base: str, args: argparse.Namespace, big_tar: str) -> dict[str, float] | str:
    data_root = tempfile.mkdtemp(prefix=f"{name}-", dir=base)
    graph = open_driver(name, os.path.join(data_root, name))
    if isinstance(graph, str):
        shutil.rmtree(data_root, ignore_errors=True)
        return graph
    store = ImageStore(data_root, graph)
    try:
        layers = []
        parent = None
        for i in range(args.layers):
            layer = store.add_layer(parent, io.BytesIO(layer_tar(args.files_per_layer, 4096, f"layer{i}")))
            layers.append(layer)
            parent = layer.chain_id
        image = store.create_image({"architecture": "amd64", "os": "linux", "config": {}}, layers, "bench:multi")
        result: dict[str, float] = {}

        def new_container(i: int) -> str:
            return f"bench{i:02d}" + secrets.token_hex(8)

        def create_rootfs(cid: str) -> None:
            store.create_container_layers(cid, image)
            graph.mount(cid)
            graph.unmount(cid)

        result["rootfs"] = median_time(args.repeat, new_container, create_rootfs, store.remove_container_layers)

        def apply(_: object) -> None:
            with open(big_tar, "rb") as f:
                layer = store.add_layer(image.top_layer, f)
            store.release_layer(layer.chain_id)

        result["apply"] = median_time(args.repeat, lambda i: None, apply, lambda s: None)

        def changed_container(i: int) -> str:
            cid = new_container(i)
            store.create_container_layers(cid, image)
            root = graph.mount(cid)
            try:
                os.makedirs(os.path.join(root, "changed"))
                for n in range(args.files):
                    with open(os.path.join(root, "changed", f"f{n}"), "wb") as f:
                        f.write(b"x")
            finally:
                graph.unmount(cid)
            return cid

        def diff(cid: str) -> None:
            base_layer = store.container_base_layer(cid, image.layer_id)
            graph.changes(cid, base_layer)
            with graph.diff(cid, base_layer) as stream:
                while stream.read(1 << 20):
                    pass

        result["diff"] = median_time(args.repeat, changed_container, diff, store.remove_container_layers)
        # disk: the image plus one container with the 10k changes and the applied big layer kept
        cid = changed_container(99)
        with open(big_tar, "rb") as f:
            store.add_layer(image.top_layer, f)
        result["disk"] = float(disk_use(os.path.join(data_root, name)))
        store.remove_container_layers(cid)
        return result
    finally:
        graph.cleanup()
        store.close()
        shutil.rmtree(data_root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--drivers", default="vfs,overlay,fuse-overlay", help="comma-separated graph drivers")
    p.add_argument("--root", default="/var/tmp", help="where the temporary data-roots go (not tmpfs for overlay)")
    p.add_argument("--layers", type=int, default=5, help="layers of the multi-layer image")
    p.add_argument("--files-per-layer", type=int, default=200)
    p.add_argument("--apply-mib", type=int, default=100)
    p.add_argument("--files", type=int, default=10_000, help="changed files in the diff benchmark")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/storage.py needs root (mounts)", file=sys.stderr)
        return 1
    base = tempfile.mkdtemp(prefix="berth-bench-storage-", dir=args.root)
    try:
        big_tar = big_layer_file(base, args.apply_mib)
        results: dict[str, dict[str, float]] = {}
        for name in [d.strip() for d in args.drivers.split(",") if d.strip()]:
            outcome = bench_driver(name, base, args, big_tar)
            if isinstance(outcome, str):
                print(f"# {name}: skipped ({outcome})")
            else:
                results[name] = outcome
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if not results:
        print("no graph driver could run")
        return 1
    reference = next(iter(results))
    columns = [("rootfs", f"rootfs ({args.layers} layers)", "ms"), ("apply", f"apply {args.apply_mib} MiB", "ms"),
               ("diff", f"diff {args.files} files", "ms"), ("disk", "disk use", "MiB")]
    header = ["driver"] + [f"{title}" for _, title, _ in columns]
    rows = []
    for name, r in results.items():
        row = [name]
        for key, _, unit in columns:
            value = r[key] * 1000 if unit == "ms" else r[key] / (1 << 20)
            ratio = r[key] / results[reference][key] if results[reference][key] else float("nan")
            row.append(f"{value:,.1f} {unit} ({ratio:.2f}x)")
        rows.append(row)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    print(f"# medians of {args.repeat} runs; ratios against {reference}, measured in this run")
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
