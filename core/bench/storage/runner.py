"""The run: prepare every target, then each workload with interleaved repetitions, then clean up.

For each workload every target that takes it is set up, then repetition after
repetition each target is sampled once, in an order rotated every repetition (so no
target always runs first, right after a cache drop or after a neighbour's writes),
the first ``warmup`` repetitions thrown away. A machine shared with other work
drifts; interleaving spreads that drift over all targets instead of on one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass, field

from berth.bench.storage import machine
from berth.bench.storage.driverspec import DriverSpec
from berth.bench.storage.progress import Progress
from berth.bench.storage.sample import Sample
from berth.bench.storage.settings import Settings
from berth.bench.storage.targets import BenchData, DriverTarget, ReferenceTarget, ReferenceTrees
from berth.bench.storage.workloads import Workload


@dataclass
class RunResult:
    """Everything a run measured, before it is written out."""

    settings: Settings
    workloads: list[Workload]
    machine_before: dict
    targets: list[dict] = field(default_factory=list)  # name, kind, status ("ok" or why not), info
    samples: dict[tuple[str, str], list[Sample]] = field(default_factory=dict)
    errors: dict[tuple[str, str], str] = field(default_factory=dict)
    load_after: list[float] = field(default_factory=list)
    seconds: float = 0.0


def make_targets(drivers: list[DriverSpec], references: list[str], base: str, settings: Settings) -> tuple[list, ReferenceTrees]:
    data = BenchData(os.path.join(base, "dataset"), settings)
    trees = ReferenceTrees(os.path.join(base, "references"), settings, data)
    targets: list = [DriverTarget(spec, os.path.join(base, f"driver-{i}"), settings, data)
                     for i, spec in enumerate(drivers)]
    targets += [ReferenceTarget(name, trees, settings, data) for name in references]
    return targets, trees


def _prepare(targets: list, workloads: list[Workload], result: RunResult, progress: Progress) -> list:
    ready = []
    for target in targets:
        progress.note(f"preparing {target.kind} {target.name} ...")
        try:
            reason = target.prepare(workloads)
        except Exception as exc:  # a driver that breaks is reported, the others still run
            reason = f"{type(exc).__name__}: {exc}"
        result.targets.append({"name": target.name, "kind": target.kind, "status": reason or "ok",
                               "info": getattr(target, "info", {})})
        if reason:
            progress.note(f"  {target.name}: skipped ({reason})")
        else:
            ready.append(target)
    return ready


def _run_workload(workload: Workload, targets: list, settings: Settings, result: RunResult,
                  progress: Progress) -> None:
    active = []
    for target in targets:
        try:
            target.setup(workload)
            active.append(target)
        except Exception as exc:
            result.errors[(target.name, workload.name)] = f"set-up failed: {type(exc).__name__}: {exc}"
            progress.note(f"  {target.name} {workload.name}: set-up failed: {exc}")
    rounds = settings.warmup + settings.repeat
    for rep in range(rounds):
        shift = rep % max(1, len(active))
        for target in active[shift:] + active[:shift]:
            if (target.name, workload.name) in result.errors:
                progress.step(f"{workload.name} {target.name}: skipped after an error")
                continue
            try:
                sample = target.sample(workload, machine.drop_caches if workload.cold and settings.drop_caches else None)
            except Exception as exc:
                result.errors[(target.name, workload.name)] = f"{type(exc).__name__}: {exc}"
                progress.note(f"  {target.name} {workload.name} failed:\n{traceback.format_exc(limit=4)}")
                progress.step(f"{workload.name} {target.name}: failed")
                continue
            measured = rep >= settings.warmup
            if measured:
                result.samples.setdefault((target.name, workload.name), []).append(sample)
            label = f"rep {rep - settings.warmup + 1}/{settings.repeat}" if measured else "warm-up"
            progress.step(f"{workload.name:<15} {target.name:<15} {label:<9} {sample.seconds:9.4f} s")
    for target in active:
        try:
            target.teardown(workload)
        except Exception as exc:
            result.errors.setdefault((target.name, workload.name), f"tear-down failed: {type(exc).__name__}: {exc}")


def run(drivers: list[DriverSpec], references: list[str], workloads: list[Workload], settings: Settings,
        scratch_parent: str, progress_stream=None) -> RunResult:
    """Measure every driver and reference on every workload it takes; nothing is left behind."""
    base = tempfile.mkdtemp(prefix="berth-bench-storage-", dir=scratch_parent)
    result = RunResult(settings, workloads, machine.facts(base))
    began = time.monotonic()
    targets, trees = make_targets(drivers, references, base, settings)
    rounds = settings.warmup + settings.repeat
    total = sum(rounds for w in workloads for t in targets if t.supports(w))
    progress = Progress(total, progress_stream)
    try:
        ready = _prepare(targets, workloads, result, progress)
        for workload in workloads:
            _run_workload(workload, [t for t in ready if t.supports(workload)], settings, result, progress)
    finally:
        for target in targets:
            try:
                target.close()
            except Exception as exc:
                progress.note(f"closing {target.name}: {exc}")
        trees.close()
        _unmount_leftovers(base)
        shutil.rmtree(base, ignore_errors=True)
    result.seconds = time.monotonic() - began
    result.load_after = machine.load_average()
    progress.finish()
    return result


def _unmount_leftovers(base: str) -> None:
    from berth.plugins.graphdrivers.mounts import mounts_under, sys_umount

    for point in reversed(mounts_under(base)):
        sys_umount(point)

