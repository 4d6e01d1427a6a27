"""The catalogue of workloads: names, what each measures, and which samples start from a cold cache.

Graph workloads call the driver's hooks in this process (after Moby's graphbench);
container workloads run :mod:`berth.bench.storage.inside` in a real container on
the driver. The references (kernel overlayfs, fuse-overlayfs) are mounts, not
drivers: they take the container workloads and the graph workloads that are about
mounts (``references`` below).
"""

from __future__ import annotations

from dataclasses import dataclass

from berth.bench.storage.settings import Sizes


@dataclass(frozen=True)
class Workload:
    name: str
    group: str  # "graph" (hooks called in-process) or "container" (inside a container on the driver)
    title: str  # the name in Moby's graphbench, or a short title
    description: str
    cold: bool = False  # drop the page cache before each sample (reads of lower-layer data)
    references: bool = False  # also measured on the reference mounts
    metadata: bool = False  # a metadata workload (issue 16's 2x goal for fuse-overlay)


def catalogue(sizes: Sizes) -> list[Workload]:
    """Every workload, in the order they run, described with this run's sizes."""
    s = sizes
    return [
        Workload("exists", "graph", "Exists", f"{s.exists_calls} graph_exists calls on a base layer"),
        Workload("get-empty", "graph", "GetEmpty", "create an empty layer, mount it and unmount it",
                 references=True),
        Workload("diff-base", "graph", "DiffBase", "diff of a base layer of 3 files, read to the end"),
        Workload("diff-n", "graph", "DiffN", f"diff of a layer of {s.diff_files} small files over a parent "
                 f"of {s.diff_files}"),
        Workload("diff-apply-n", "graph", "DiffApplyN", f"that diff applied to a new layer ({s.diff_files} files)"),
        Workload("deep-read", "graph", "DeepLayerRead", f"{s.deep_reads} reads of a file "
                 f"{s.deep_layers + 1} layers down (mounted, warm)", references=True),
        Workload("untar", "container", "untar", f"tar -xf of a {s.tree_files}-file source tree from a lower layer",
                 cold=True, references=True, metadata=True),
        Workload("metadata-storm", "container", "metadata storm", f"create, stat, readdir, rename, unlink "
                 f"{s.storm_files} files", references=True, metadata=True),
        Workload("seq-write", "container", "sequential write", f"write {s.big_mib} MiB and fsync",
                 references=True),
        Workload("seq-read", "container", "sequential read", f"read a {s.big_mib} MiB lower-layer file",
                 cold=True, references=True),
        Workload("rand-read", "container", "random 4k reads", f"{s.random_reads} random 4 KiB reads of it",
                 cold=True, references=True),
        Workload("copy-up", "container", "copy-up", f"write one byte of the {s.big_mib} MiB lower file",
                 cold=True, references=True),
        Workload("find", "container", "find", f"find -size over the {s.tree_files}-file tree in a lower layer",
                 cold=True, references=True, metadata=True),
        Workload("pkg-install", "container", "package install", f"{s.packages} packages of {s.package_files} "
                 "files, each written, fsynced and renamed", references=True, metadata=True),
    ]


def select(sizes: Sizes, names: str) -> list[Workload]:
    """The workloads named in a comma-separated list ("" or "all": every one); unknown names raise ValueError."""
    every = catalogue(sizes)
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    if not wanted or wanted == ["all"]:
        return every
    groups = {"graph", "container"}
    known = {w.name for w in every}
    unknown = [n for n in wanted if n not in known and n not in groups]
    if unknown:
        raise ValueError(f"unknown workload(s) {', '.join(unknown)}; choose from: all, graph, container, "
                         f"{', '.join(w.name for w in every)}")
    return [w for w in every if w.name in wanted or w.group in wanted]
