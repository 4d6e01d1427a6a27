"""The sizes, repetitions and seed of one run: the full research run, or ``--quick``, each size
changeable with ``--size NAME=N``.

Every number that shapes a measurement lives here and is written into the results,
so a run can be repeated (same seed, same sizes: the same bytes on disk).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

MIB = 1 << 20


@dataclass(frozen=True)
class Sizes:
    """How big each workload is."""

    exists_calls: int = 1000  # graph_exists calls per sample
    diff_files: int = 10_000  # DiffN / DiffApplyN: files in the base layer and again in the upper one
    deep_layers: int = 24  # DeepLayerRead: layers above the one holding the file (Moby benches 20-100)
    deep_reads: int = 200  # reads of that file per sample
    tree_files: int = 10_000  # the source tree (untar, find)
    big_mib: int = 1024  # the large file (sequential read, random reads, copy-up) and the sequential write
    image_layers: int = 20  # thin layers on top of the bench image, so every lookup crosses 20+ layers
    storm_files: int = 100_000  # metadata storm: create, stat, readdir, rename, unlink
    random_reads: int = 20_000  # 4 KiB reads at random offsets of the large file
    packages: int = 100  # package-manager-like install: packages...
    package_files: int = 100  # ...of this many small files each, every file fsynced


QUICK = Sizes(exists_calls=100, diff_files=200, deep_layers=21, deep_reads=20, tree_files=200, big_mib=8,
              image_layers=20, storm_files=500, random_reads=200, packages=5, package_files=10)


@dataclass(frozen=True)
class Settings:
    """One run's settings (see ``berth bench storage --help``)."""

    sizes: Sizes = Sizes()
    repeat: int = 5  # measured repetitions per target and workload
    warmup: int = 1  # repetitions run first and thrown away
    seed: int = 1
    drop_caches: bool = True  # drop the page cache before the workloads that read cold data
    quick: bool = False

    @classmethod
    def make(cls, quick: bool, repeat: int | None, warmup: int | None, seed: int, drop_caches: bool,
             sizes: list[str] = ()) -> "Settings":
        """The run's settings; ``sizes``: ``NAME=N`` overrides of the (full or quick) sizes."""
        base = cls(sizes=QUICK, repeat=2, warmup=0, quick=True) if quick else cls()
        return replace(base, repeat=base.repeat if repeat is None else repeat,
                       warmup=base.warmup if warmup is None else warmup, seed=seed, drop_caches=drop_caches,
                       sizes=replace(base.sizes, **parse_sizes(sizes)))

    def as_dict(self) -> dict:
        return asdict(self)


def parse_sizes(items: list[str]) -> dict[str, int]:
    """``NAME=N`` items as Sizes fields; ValueError naming the known sizes for anything else."""
    known = list(Sizes.__dataclass_fields__)
    out: dict[str, int] = {}
    for item in items:
        name, _, value = item.partition("=")
        if name not in known:
            raise ValueError(f"unknown size {name!r} in --size {item}; sizes: {', '.join(known)}")
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"--size {item}: the size must be a whole number of at least 1")
        out[name] = int(value)
    return out
