"""``berth bench storage``: check the request, run it, write the results, plots and report."""

from __future__ import annotations

import os
import sys
import time

from berth.bench.storage import driverspec, output, workloads
from berth.bench.storage.references import REFERENCES
from berth.bench.storage.settings import Settings


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip() and n.strip() != "none"]


def _check(opts, references: list[str]) -> str:
    """"" when the request can run here, else what is wrong."""
    if os.geteuid() != 0:
        return "berth bench storage needs root (it mounts layers and runs containers)"
    unknown = [r for r in references if r not in REFERENCES]
    if unknown:
        return f"unknown reference(s) {', '.join(unknown)}; choose from {', '.join(REFERENCES)} or none"
    if opts.repeat is not None and opts.repeat < 1:
        return "--repeat must be at least 1"
    if opts.compare and not os.path.isfile(opts.compare):
        return f"--compare {opts.compare}: no such file"
    if not opts.no_plots:
        from berth.bench.storage.plots import require_matplotlib

        return require_matplotlib()
    return ""


def run(opts) -> int:
    """The command; its exit status (1 when nothing could be measured)."""
    from berth.bench.storage import machine, runner

    references = _names(opts.references)
    problem = _check(opts, references)
    if problem:
        print(f"berth bench storage: {problem}", file=sys.stderr)
        return 125
    drop = not opts.no_drop_caches
    if drop and machine.can_drop_caches():
        print(f"berth bench storage: {machine.can_drop_caches()}; pass --no-drop-caches", file=sys.stderr)
        return 125
    try:
        settings = Settings.make(opts.quick, opts.repeat, opts.warmup, opts.seed, drop, opts.size)
        drivers = [driverspec.parse(item) for item in _names(opts.drivers)]
        chosen = workloads.select(settings.sizes, opts.workloads)
        old = output.load_json(opts.compare) if opts.compare else None
    except (ValueError, OSError) as exc:
        print(f"berth bench storage: {exc}", file=sys.stderr)
        return 125
    out_dir = opts.output or time.strftime("berth-bench-storage-%Y%m%d-%H%M%S")
    os.makedirs(out_dir, exist_ok=True)
    started = time.time()
    result = runner.run(drivers, references, chosen, settings, opts.root)
    doc = output.to_json(result, ["berth", "bench", "storage", *opts.argv], started)
    compared = output.compare(old, doc) if old is not None else None
    if compared is not None:
        doc["compare"] = {"with": opts.compare, "rows": compared}
    output.write_json(doc, os.path.join(out_dir, "results.json"))
    output.write_csv(doc, out_dir)
    _report(doc, out_dir, compared, opts)
    return 0 if any("seconds" in r for r in doc["results"]) else 1


def _report(doc: dict, out_dir: str, compared, opts) -> None:
    from berth.bench.storage import report

    plots = []
    if not opts.no_plots:
        from berth.bench.storage.plots import write_all

        plots = write_all(doc, out_dir, compared)
    path = report.write(doc, out_dir, plots, compared)
    print(report.summary_text(doc))
    if compared is not None:
        print(output.compare_text(compared, opts.compare))
    print(f"results: {os.path.join(out_dir, 'results.json')}, results.csv, hooks.csv; report: {path}")
