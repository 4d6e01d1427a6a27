"""PNG plots of a run (matplotlib, from the ``berth[bench]`` extra; imported only by this command).

- ``workloads.png``  per workload, each target's median with its interquartile range (bars) and min-max
- ``relative.png``   each target's median over the baseline reference's, per workload (log scale)
- ``hooks.png``      where time went: each target's per-hook seconds per workload (hooks nest: the naive
                     diff's graph_diff includes the graph_mount it makes), and the workload's time as a tick
- ``phases.png``     the metadata storm's phases per target
- ``compare.png``    with ``--compare``: new median over old, per target and workload
"""

from __future__ import annotations

import os

MISSING = "matplotlib is not installed: install berth's bench extra (pip install 'berth[bench]'), or pass --no-plots"


def require_matplotlib() -> str:
    """"" when matplotlib can be imported, else what to do."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return MISSING
    return ""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


DRIVER_COLOURS = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
REFERENCE_COLOURS = {"overlayfs": "#7f7f7f", "fuse-overlayfs": "#ff7f0e"}


def colours(doc: dict) -> dict[str, str]:
    drivers = [t["name"] for t in doc["targets"] if t["kind"] == "driver"]
    out = {name: DRIVER_COLOURS[i % len(DRIVER_COLOURS)] for i, name in enumerate(drivers)}
    for t in doc["targets"]:
        if t["kind"] == "reference":
            out[t["name"]] = REFERENCE_COLOURS.get(t["name"], "#d62728")
    return out


def _measured(doc: dict) -> dict[str, list[dict]]:
    by_workload: dict[str, list[dict]] = {}
    for r in doc["results"]:
        if "seconds" in r:
            by_workload.setdefault(r["workload"], []).append(r)
    return by_workload


def _save(plt, fig, path: str) -> bool:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _grid(plt, count: int, width: float = 4.0, height: float = 3.0):
    cols = min(4, max(1, count))
    rows = (count + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def workloads_png(doc: dict, path: str) -> None:
    plt = _pyplot()
    measured = _measured(doc)
    titles = {w["name"]: w["title"] for w in doc["workloads"]}
    colour = colours(doc)
    fig, axes = _grid(plt, len(measured))
    for ax, (workload, rows) in zip(axes, measured.items()):
        names = [r["target"] for r in rows]
        med = [r["seconds"]["median"] for r in rows]
        low = [r["seconds"]["median"] - r["seconds"]["q1"] for r in rows]
        high = [r["seconds"]["q3"] - r["seconds"]["median"] for r in rows]
        xs = range(len(rows))
        bars = ax.bar(xs, med, yerr=[low, high], capsize=4, color=[colour[n] for n in names],
                      edgecolor="black", linewidth=0.5)
        for bar, r in zip(bars, rows):
            if r["kind"] == "reference":
                bar.set_hatch("//")
        for x, r in zip(xs, rows):
            ax.plot([x, x], [r["seconds"]["min"], r["seconds"]["max"]], color="black", linewidth=0.6, alpha=0.6)
        ax.set_xticks(list(xs), names, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{titles.get(workload, workload)}", fontsize=10)
        ax.set_ylabel("seconds (median, IQR, min-max)", fontsize=7)
    fig.suptitle("berth bench storage: time per workload (lower is better)")
    _save(plt, fig, path)


def baseline(doc: dict) -> str | None:
    """The target the relative plot divides by: fuse-overlayfs, else kernel overlayfs, else none."""
    ok = {t["name"] for t in doc["targets"] if t["status"] == "ok" and t["kind"] == "reference"}
    for name in ("fuse-overlayfs", "overlayfs"):
        if name in ok:
            return name
    return None


def relative_png(doc: dict, path: str) -> bool:
    base = baseline(doc)
    if base is None:
        return False
    plt = _pyplot()
    measured = {w: rows for w, rows in _measured(doc).items() if any(r["target"] == base for r in rows)}
    targets = [t["name"] for t in doc["targets"] if t["status"] == "ok" and t["name"] != base]
    colour = colours(doc)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(measured)), 4.5))
    width = 0.8 / max(1, len(targets))
    for i, target in enumerate(targets):
        xs, ys = [], []
        for x, rows in enumerate(measured.values()):
            mine = next((r for r in rows if r["target"] == target), None)
            ref = next(r for r in rows if r["target"] == base)
            if mine and ref["seconds"]["median"]:
                xs.append(x + (i - (len(targets) - 1) / 2) * width)
                ys.append(mine["seconds"]["median"] / ref["seconds"]["median"])
        ax.bar(xs, ys, width=width, label=target, color=colour[target], edgecolor="black", linewidth=0.5)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.axhline(2.0, color="red", linewidth=0.8, linestyle="--", label="2x")
    ax.set_yscale("log")
    ax.set_xticks(range(len(measured)), list(measured), rotation=30, ha="right")
    ax.set_ylabel(f"median time / {base}'s (log)")
    ax.set_title(f"every target placed against {base} (below 1: faster)")
    ax.legend(fontsize=8)
    return _save(plt, fig, path)


def hooks_png(doc: dict, path: str) -> bool:
    rows = [r for r in doc["results"] if r.get("hooks")]
    if not rows:
        return False
    plt = _pyplot()
    hooks = sorted({h for r in rows for h in r["hooks"]})
    cmap = plt.get_cmap("tab10" if len(hooks) <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(10, max(3.0, 0.28 * len(rows) + 1.5)))
    labels = []
    for y, r in enumerate(rows):
        left = 0.0
        for i, hook in enumerate(hooks):
            value = r["hooks"].get(hook, {}).get("seconds", {}).get("median", 0.0)
            if value:
                seen = ax.get_legend_handles_labels()[1]
                ax.barh(y, value, left=left, color=cmap(i % cmap.N), label=None if hook in seen else hook)
                left += value
        total = (r.get("wall") or r["seconds"])["median"]
        ax.plot([total], [y], marker="|", color="black", markersize=12)
        labels.append(f"{r['workload']} / {r['target']}")
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.set_xscale("symlog", linthresh=1e-4)
    ax.invert_yaxis()
    ax.set_xlabel("seconds per sample (median per hook, stacked; | = the workload's time, wall time for containers)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title("where the time went: per-hook timings from the pluggy wrapper")
    return _save(plt, fig, path)


def phases_png(doc: dict, path: str) -> bool:
    rows = [r for r in doc["results"] if r.get("phases")]
    if not rows:
        return False
    plt = _pyplot()
    phases = list(rows[0]["phases"])
    colour = colours(doc)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(phases)), 4))
    width = 0.8 / len(rows)
    for i, r in enumerate(rows):
        xs = [x + (i - (len(rows) - 1) / 2) * width for x in range(len(phases))]
        ax.bar(xs, [r["phases"][p]["median"] for p in phases], width=width, label=r["target"],
               color=colour[r["target"]], edgecolor="black", linewidth=0.5)
    ax.set_xticks(range(len(phases)), phases)
    ax.set_ylabel("seconds (median)")
    ax.set_title(f"{rows[0]['workload']}: phases")
    ax.legend(fontsize=8)
    return _save(plt, fig, path)


def compare_png(rows: list[dict], path: str) -> bool:
    rows = [r for r in rows if r["ratio"]]
    if not rows:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, max(3.0, 0.25 * len(rows) + 1.5)))
    ax.barh(range(len(rows)), [r["ratio"] for r in rows],
            color=["#2ca02c" if r["ratio"] < 1 else "#d62728" for r in rows])
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yticks(range(len(rows)), [f"{r['workload']} / {r['target']}" for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("new median / old median (log; below 1: faster)")
    ax.set_title("change since the compared run")
    return _save(plt, fig, path)


def write_all(doc: dict, directory: str, compared: list[dict] | None) -> list[str]:
    """Every plot that has data; the file names written."""
    written = []
    if _measured(doc):
        workloads_png(doc, os.path.join(directory, "workloads.png"))
        written.append("workloads.png")
    for name, make in (("relative.png", relative_png), ("hooks.png", hooks_png), ("phases.png", phases_png)):
        if make(doc, os.path.join(directory, name)):
            written.append(name)
    if compared and compare_png(compared, os.path.join(directory, "compare.png")):
        written.append("compare.png")
    return written
