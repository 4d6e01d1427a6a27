"""A run's results as data: results.json (everything), results.csv and hooks.csv, and ``--compare``.

results.json is the record: settings, machine facts, every target's status and
every raw sample, with the summaries (median, quartiles, spread) next to them.
The CSV files are the same summaries flat, for spreadsheets and pandas.
"""

from __future__ import annotations

import csv
import json
import os
import time

from berth.bench.storage import stats
from berth.bench.storage.runner import RunResult
from berth.bench.storage.sample import Sample

FORMAT = "berth-bench-storage/1"
MIB = 1 << 20


def _hooks(samples: list[Sample]) -> dict[str, dict]:
    names = sorted({hook for s in samples for hook in s.hooks})
    out = {}
    for hook in names:
        calls = [s.hooks.get(hook, (0, 0.0))[0] for s in samples]
        seconds = [s.hooks.get(hook, (0, 0.0))[1] for s in samples]
        out[hook] = {"calls": stats.summary(calls)["median"], "seconds": stats.summary(seconds)}
    return out


def _entry(result: RunResult, target: dict, workload) -> dict:
    key = (target["name"], workload.name)
    samples = result.samples.get(key, [])
    entry = {"target": target["name"], "kind": target["kind"], "workload": workload.name, "group": workload.group,
             "status": result.errors.get(key, "ok" if samples else "no samples")}
    if not samples:
        return entry
    seconds = stats.summary([s.seconds for s in samples])
    entry.update({"seconds": seconds, "samples": [s.seconds for s in samples]})
    walls = [s.wall for s in samples if s.wall is not None]
    if walls:
        entry.update({"wall": stats.summary(walls), "wall_samples": walls})
    if samples[0].bytes is not None:
        entry["bytes"] = samples[0].bytes
        entry["mib_per_s"] = samples[0].bytes / MIB / seconds["median"] if seconds["median"] else None
    if samples[0].ops is not None:
        entry["ops"] = samples[0].ops
        entry["ops_per_s"] = samples[0].ops / seconds["median"] if seconds["median"] else None
    phases = sorted({p for s in samples for p in s.phases})
    if phases:
        entry["phases"] = {p: stats.summary([s.phases.get(p, 0.0) for s in samples]) for p in phases}
    entry["hooks"] = _hooks(samples)
    return entry


def to_json(result: RunResult, command: list[str], started: float) -> dict:
    applicable = [(t, w) for w in result.workloads for t in result.targets
                  if t["status"] == "ok" and (t["kind"] == "driver" or w.references)]
    return {
        "format": FORMAT,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "seconds": round(result.seconds, 1),
        "command": command,
        "settings": result.settings.as_dict(),
        "machine": {**result.machine_before, "load_average_after": result.load_after},
        "targets": result.targets,
        "workloads": [w.__dict__ for w in result.workloads],
        "results": [_entry(result, t, w) for t, w in applicable],
    }


def write_json(doc: dict, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, sort_keys=False)
        f.write("\n")


def load_json(path: str) -> dict:
    """A previous results.json; ValueError when it is not one."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{path} is not a results.json of berth bench storage (format {FORMAT})")
    return doc


RESULT_COLUMNS = ["target", "kind", "workload", "group", "status", "n", "median_s", "q1_s", "q3_s", "min_s", "max_s",
                  "spread", "wall_median_s", "mib_per_s", "ops_per_s"]


def write_csv(doc: dict, directory: str) -> None:
    """results.csv (one row per target and workload) and hooks.csv (one row per hook of each)."""
    with open(os.path.join(directory, "results.csv"), "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(RESULT_COLUMNS)
        for r in doc["results"]:
            s = r.get("seconds", {})
            out.writerow([r["target"], r["kind"], r["workload"], r["group"], r["status"], s.get("n", 0),
                          *(_num(s.get(k)) for k in ("median", "q1", "q3", "min", "max", "spread")),
                          _num(r.get("wall", {}).get("median")), _num(r.get("mib_per_s")), _num(r.get("ops_per_s"))])
    with open(os.path.join(directory, "hooks.csv"), "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["target", "workload", "hook", "calls", "median_s", "q1_s", "q3_s"])
        for r in doc["results"]:
            for hook, h in r.get("hooks", {}).items():
                out.writerow([r["target"], r["workload"], hook, h["calls"],
                              *(_num(h["seconds"].get(k)) for k in ("median", "q1", "q3"))])


def _num(value) -> str:
    return "" if value is None else f"{value:.6g}"


def compare(old: dict, new: dict) -> list[dict]:
    """Each target and workload in both runs: the old and new medians and the change."""
    before = {(r["target"], r["workload"]): r for r in old.get("results", []) if "seconds" in r}
    rows = []
    for r in new["results"]:
        was = before.get((r["target"], r["workload"]))
        if was is None or "seconds" not in r:
            continue
        old_median, new_median = was["seconds"]["median"], r["seconds"]["median"]
        rows.append({"target": r["target"], "workload": r["workload"], "old_median_s": old_median,
                     "new_median_s": new_median, "ratio": new_median / old_median if old_median else None,
                     "old_spread": was["seconds"].get("spread"), "new_spread": r["seconds"].get("spread")})
    return rows


def compare_text(rows: list[dict], old_path: str) -> str:
    if not rows:
        return f"nothing to compare with {old_path}: no target measured the same workload in both runs"
    lines = [f"change since {old_path} (new median / old median; below 1.00 is faster):"]
    for row in rows:
        ratio = "n/a" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        lines.append(f"  {row['workload']:<15} {row['target']:<15} {row['old_median_s']:10.4f} s -> "
                     f"{row['new_median_s']:10.4f} s  {ratio}")
    return "\n".join(lines)
