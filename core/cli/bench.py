"""``berth bench``: research benchmarks run on this host (no daemon needed: they start their own).

Only the option parsing lives here; the benchmark itself (:mod:`berth.bench`) is
imported when the command runs, so the rest of the CLI never pays for it.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse


def setup_bench(p: "argparse.ArgumentParser") -> None:
    from berth.cli.argparsing import Parser

    sub = p.add_subparsers(dest="benchmark", metavar="BENCHMARK", parser_class=Parser)
    sub.required = True
    storage = sub.add_parser(
        "storage", help="graph drivers against kernel overlayfs and fuse-overlayfs",
        description="Measure graph drivers (any installed, by name) on graph workloads after Moby's graphbench and "
                    "on container workloads in real containers, against kernel overlayfs and fuse-overlayfs mounted "
                    "over the same layers. Writes results.json, results.csv, hooks.csv, PNG plots and report.html. "
                    "Needs root.")
    storage.add_argument("--drivers", default="vfs,overlay,fuse-overlay",
                         help="comma-separated graph drivers, third-party ones included; NAME:KEY=VALUE+KEY=VALUE measures "
                              "a driver with storage options, next to its defaults (default: %(default)s)")
    storage.add_argument("--references", default="overlayfs,fuse-overlayfs",
                         help="reference mounts: overlayfs, fuse-overlayfs, or none (default: %(default)s)")
    storage.add_argument("--workloads", default="all",
                         help="comma-separated workloads, or the groups graph / container (default: all)")
    storage.add_argument("--quick", action="store_true", help="tiny sizes, 2 repetitions, no warm-up: a smoke run")
    storage.add_argument("--repeat", type=int, help="measured repetitions (default 5, 2 with --quick)")
    storage.add_argument("--warmup", type=int, help="repetitions run first and discarded (default 1, 0 with --quick)")
    storage.add_argument("--size", action="append", default=[], metavar="NAME=N",
                         help="change one size of the run (repeatable), e.g. storm_files=10000 or big_mib=256; "
                              "results.json's settings list them all")
    storage.add_argument("--seed", type=int, default=1, help="seed of the generated data (default: %(default)s)")
    storage.add_argument("--root", default="/var/tmp",
                         help="where the fresh roots go: the filesystem measured (default: %(default)s)")
    storage.add_argument("-o", "--output", help="directory for the results (default: ./berth-bench-storage-TIME)")
    storage.add_argument("--compare", metavar="OLD.json", help="show the change since a previous results.json")
    storage.add_argument("--no-drop-caches", action="store_true",
                         help="do not drop the page cache before cold workloads")
    storage.add_argument("--no-plots", action="store_true", help="write no PNG plots (no matplotlib needed)")


def run_bench(client: object, opts: "argparse.Namespace") -> int:
    _enable_site_packages()
    from berth.bench.storage.main import run

    opts.argv = sys.argv[sys.argv.index("storage") + 1:] if "storage" in sys.argv else []
    return run(opts)


def _enable_site_packages() -> None:
    """The installed ``berth`` launcher starts Python without ``site`` (-I -S: fast start-up for the other
    commands); the benchmark needs berth's dependencies (pluggy, matplotlib) from the environment."""
    if sys.flags.no_site:
        import site

        site.main()
