"""What a run measures: a berth graph driver, or a reference mount, behind one interface.

A target is prepared once (``prepare`` returns "" or the reason it cannot take part),
then for each workload set up, sampled once per repetition, and torn down; ``close``
removes everything it made. Container workloads run in a real container:

- on a **driver**: a container of the bench image in the driver's private berthd;
  the workload works on the container's own rootfs (``ROOT=/``);
- on a **reference**: a fresh mount of the reference over the same image layers,
  bound into a container at ``/ref`` (``ROOT=/ref``); that container runs in a
  berthd of its own on vfs, from a one-layer image (its rootfs is not measured).

Either way the workload script and the host's ``/usr`` (python3, tar, find) are
bound in read-only and the result comes back through a bound ``/out`` directory.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tempfile
import time
from typing import Callable

from berth.bench.storage import dataset, inside
from berth.bench.storage.daemon import PrivateDaemon
from berth.bench.storage.driverspec import DriverSpec
from berth.bench.storage.graphwork import DriverGraphWork, deep_read, new_id
from berth.bench.storage.references import ReferenceLayers, ReferenceMount
from berth.bench.storage.sample import Sample
from berth.bench.storage.settings import Settings
from berth.bench.storage.workloads import Workload

IMAGE_TAG = "berth-bench/storage:latest"
TOOLS_TAG = "berth-bench/tools:latest"


# ---------------------------------------------------------------------------
# what both kinds share: the bench image's files and the container workloads
# ---------------------------------------------------------------------------


class BenchData:
    """The run's seeded data on disk, made once: the image's layer tars and the tools image's."""

    def __init__(self, directory: str, settings: Settings):
        self.directory, self.settings = directory, settings
        self._layers: list[str] | None = None

    @property
    def layers(self) -> list[str]:
        if self._layers is None:
            os.makedirs(self.directory, exist_ok=True)
            self._layers = dataset.write_image_layers(self.directory, self.settings.seed, self.settings.sizes)
        return self._layers

    def image_archive(self, out) -> None:
        dataset.write_docker_archive(out, self.layers, IMAGE_TAG)

    def tools_archive(self, out) -> None:
        dataset.write_docker_archive(out, [dataset.base_layer_only(self.directory)], TOOLS_TAG)

    def tree_entries(self) -> int:
        return sum(1 for _ in dataset.tree_entries(self.settings.seed, self.settings.sizes.tree_files))


def workload_params(workload: str, settings: Settings, data: BenchData) -> dict:
    s, seed = settings.sizes, settings.seed
    return {
        "metadata-storm": {"files": s.storm_files},
        "seq-write": {"mib": s.big_mib, "seed": seed},
        "rand-read": {"count": s.random_reads, "seed": seed},
        "find": {"entries": data.tree_entries() + 1},
        "pkg-install": {"packages": s.packages, "files": s.package_files, "file_size": 2048, "seed": seed},
    }.get(workload, {})


def host_tools() -> tuple[str, list[str]]:
    """The python3 the workloads run with, and the read-only binds that bring it (and tar, find) in."""
    python = os.path.join(sys.base_prefix, "bin", "python3")
    binds = ["/usr:/usr:ro", f"{os.path.dirname(inside.__file__)}:/bench:ro"]
    if not os.path.realpath(sys.base_prefix).startswith("/usr"):
        binds.append(f"{sys.base_prefix}:{sys.base_prefix}:ro")
    return python, binds


def run_inside(daemon: PrivateDaemon, image: str, workload: str, root: str, params: dict, scratch: str,
               extra_binds: list[str], before_start: Callable[[], None] | None) -> Sample:
    """Run one container workload in a new container of ``image`` and read its result."""
    out = tempfile.mkdtemp(prefix="out-", dir=scratch)
    try:
        python, binds = host_tools()
        command = [python, "-I", "-S", "/bench/inside.py", workload, root, "/out/result.json", json.dumps(params)]
        wall, hooks = daemon.run(image, command, binds + [f"{out}:/out"] + extra_binds, before_start)
        with open(os.path.join(out, "result.json"), encoding="utf-8") as f:
            result = json.load(f)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return Sample(result["seconds"], wall=wall, bytes=result.get("bytes"), ops=result.get("ops"),
                  phases=result.get("phases") or {}, hooks=hooks)


# ---------------------------------------------------------------------------
# a berth graph driver
# ---------------------------------------------------------------------------


class DriverTarget:
    """Graph driver ``name``: graph workloads in this process, container workloads in its own berthd."""

    kind = "driver"

    def __init__(self, spec: DriverSpec, directory: str, settings: Settings, data: BenchData):
        self.spec, self.name = spec, spec.label
        self.directory, self.settings, self.data = directory, settings, data
        self.work: DriverGraphWork | None = None
        self.daemon: PrivateDaemon | None = None
        self.info: dict = {}

    def supports(self, workload: Workload) -> bool:
        return True

    def prepare(self, workloads: list[Workload]) -> str:
        from berth.bench.storage.graphdriver import open_graph, unavailable_reason

        root = os.path.join(self.directory, "graph")
        reason = unavailable_reason(self.spec.name, root)
        if reason:
            return reason
        if any(w.group == "graph" for w in workloads):
            graph, timer = open_graph(self.spec.name, root, self.spec.options)
            self.work = DriverGraphWork(graph, timer, self.settings.sizes, self.settings.seed)
            self.info["status"] = dict(graph.status())
        if any(w.group == "container" for w in workloads):
            self.daemon = PrivateDaemon(os.path.join(self.directory, "daemon"), self.spec.name,
                                        self.spec.storage_opt_args())
            self.daemon.start()
            self.info["daemon_status"] = dict(self.daemon.client.get("/info").get("DriverStatus") or [])
            began = time.perf_counter()
            self.daemon.load(self.data.image_archive)
            self.info["image_load_seconds"] = round(time.perf_counter() - began, 3)
        return ""

    def setup(self, workload: Workload) -> None:
        if workload.group == "graph":
            self.work.setup(workload.name)

    def sample(self, workload: Workload, before_start: Callable[[], None] | None = None) -> Sample:
        """One repetition; ``before_start`` runs just before a container workload starts (a cache drop)."""
        if workload.group == "graph":
            return self.work.sample(workload.name)
        return run_inside(self.daemon, IMAGE_TAG, workload.name, "/",
                          workload_params(workload.name, self.settings, self.data), self.directory, [], before_start)

    def teardown(self, workload: Workload) -> None:
        if workload.group == "graph":
            self.work.teardown(workload.name)

    def close(self) -> None:
        try:
            if self.work is not None:
                self.work.graph.cleanup()
        finally:
            if self.daemon is not None:
                self.daemon.stop()


# ---------------------------------------------------------------------------
# a reference mount
# ---------------------------------------------------------------------------


class ReferenceTrees:
    """What the references share: the layer trees (made once) and the berthd their containers run in."""

    def __init__(self, directory: str, settings: Settings, data: BenchData):
        self.directory, self.settings, self.data = directory, settings, data
        self.layers: ReferenceLayers | None = None
        self.lowers: dict[str, list[str]] = {}  # "image", "deep", "empty" -> lower dirs, nearest first
        self.daemon: PrivateDaemon | None = None

    def _chain(self, tars: list) -> list[str]:
        parent = None
        for tar in tars:
            layer = new_id()
            self.layers.graph_create(layer, parent)
            if isinstance(tar, bytes):
                self.layers.graph_apply_diff(layer, parent, io.BytesIO(tar))
            elif tar is not None:
                with open(tar, "rb") as f:
                    self.layers.graph_apply_diff(layer, parent, f)
            parent = layer
        return [os.path.join(self.layers.root, parent, "diff")] + self.layers.lower_dirs(parent)

    def ensure(self, workloads: list[Workload]) -> None:
        if self.layers is not None:
            return
        self.layers = ReferenceLayers(os.path.join(self.directory, "layers"))
        names = {w.name for w in workloads}
        if "get-empty" in names:
            self.lowers["empty"] = self._chain([None])
        if "deep-read" in names:
            sizes = self.settings.sizes
            self.lowers["deep"] = self._chain([dataset.deep_base()] + [dataset.deep_layer(i)
                                                                        for i in range(sizes.deep_layers)])
        if any(w.group == "container" for w in workloads):
            self.lowers["image"] = self._chain(self.data.layers)
            self.daemon = PrivateDaemon(os.path.join(self.directory, "tools-daemon"), "vfs")
            self.daemon.start()
            self.daemon.load(self.data.tools_archive)

    def close(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()


class ReferenceTarget:
    """Kernel overlayfs or fuse-overlayfs mounted over :class:`ReferenceTrees`' layers."""

    kind = "reference"

    def __init__(self, name: str, trees: ReferenceTrees, settings: Settings, data: BenchData):
        self.name, self.trees, self.settings, self.data = name, trees, settings, data
        self.mounts = ReferenceMount(name, os.path.join(trees.directory, "mounts"))
        self.merged = ""
        self.info: dict = {}

    def supports(self, workload: Workload) -> bool:
        return workload.references

    def prepare(self, workloads: list[Workload]) -> str:
        os.makedirs(self.mounts.scratch, exist_ok=True)
        reason = self.mounts.unavailable()
        if reason:
            return reason
        self.info["version"] = self.mounts.version()
        self.trees.ensure(workloads)
        return ""

    def setup(self, workload: Workload) -> None:
        if workload.name == "deep-read":
            self.merged = self.mounts.mount(self.trees.lowers["deep"])

    def _timed_mount(self, lowers: list[str]) -> tuple[str, float]:
        began = time.perf_counter()
        merged = self.mounts.mount(lowers)
        return merged, time.perf_counter() - began

    def sample(self, workload: Workload, before_start: Callable[[], None] | None = None) -> Sample:
        """One repetition; ``before_start`` runs just before a container workload starts (a cache drop)."""
        if workload.name == "deep-read":
            return deep_read(self.merged, self.settings.sizes.deep_reads)
        began = time.perf_counter()
        merged, mount_seconds = self._timed_mount(self.trees.lowers["empty" if workload.name == "get-empty" else "image"])
        sample = None
        try:
            if workload.group == "container":
                sample = run_inside(self.trees.daemon, TOOLS_TAG, workload.name, "/ref",
                                    workload_params(workload.name, self.settings, self.data), self.trees.directory,
                                    [f"{merged}:/ref"], before_start)
        finally:
            unmounting = time.perf_counter()
            self.mounts.unmount(merged)
            unmount_seconds = time.perf_counter() - unmounting
        hooks = {"mount": (1, mount_seconds), "unmount": (1, unmount_seconds)}
        if sample is None:  # get-empty: the mount and unmount are the workload
            return Sample(time.perf_counter() - began, ops=1, hooks=hooks)
        sample.wall = time.perf_counter() - began
        sample.hooks = hooks
        return sample

    def teardown(self, workload: Workload) -> None:
        if self.merged:
            self.mounts.unmount(self.merged)
            self.merged = ""

    def close(self) -> None:
        self.teardown(None)  # type: ignore[arg-type]
