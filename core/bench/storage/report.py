"""report.html: one self-contained page (the plots embedded as data URIs) and the text summary."""

from __future__ import annotations

import base64
import html
import os

HOW = ("Each target ran each workload {repeat} times after {warmup} warm-up run(s), interleaved: repetition by "
       "repetition every target ran once, in an order rotated each time. Times are medians with the interquartile "
       "range (q1-q3) and the spread (IQR / median). Container workloads time their own file system work inside "
       "the container (interpreter start-up excluded; wall time, container creation included, is shown apart). "
       "Cold workloads ran after the page cache was dropped{drop}. The references are mounted directly over the "
       "same layer trees (same seeded tars) and their containers bind the mount at /ref. Per-hook timings come "
       "from a pluggy wrapper around the driver (graph workloads) or from berthd's own tracing (containers). "
       "Seed {seed}.")


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def cell(r: dict | None) -> str:
    """One result as '<median> [q1-q3]', with the throughput or rate when it has one."""
    if r is None:
        return "-"
    if "seconds" not in r:
        return f"({r['status']})"
    s = r["seconds"]
    text = f"{_fmt(s['median'])} [{_fmt(s['q1'])}-{_fmt(s['q3'])}]"
    if r.get("mib_per_s") and r["workload"] in ("seq-read", "seq-write", "copy-up"):
        text += f" {r['mib_per_s']:.0f} MiB/s"
    return text


def summary_rows(doc: dict) -> tuple[list[str], list[list[str]]]:
    """The results as a table: a row per workload, a column per target that took part."""
    targets = [t["name"] for t in doc["targets"] if t["status"] == "ok"]
    index = {(r["workload"], r["target"]): r for r in doc["results"]}
    rows = [[w["name"]] + [cell(index.get((w["name"], t))) for t in targets] for w in doc["workloads"]]
    return ["workload"] + targets, rows


def summary_text(doc: dict) -> str:
    header, rows = summary_rows(doc)
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    skipped = [f"{t['name']}: {t['status']}" for t in doc["targets"] if t["status"] != "ok"]
    if skipped:
        lines.append("not measured: " + "; ".join(skipped))
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _image(directory: str, name: str) -> str:
    with open(os.path.join(directory, name), "rb") as f:
        data = base64.b64encode(f.read()).decode()
    return f'<figure><img alt="{name}" src="data:image/png;base64,{data}"><figcaption>{name}</figcaption></figure>'


def write(doc: dict, directory: str, plots: list[str], compared: list[dict] | None) -> str:
    """Write report.html into ``directory``; its path."""
    settings, machine = doc["settings"], doc["machine"]
    header, rows = summary_rows(doc)
    errors = [[r["target"], r["workload"], r["status"]] for r in doc["results"] if r["status"] != "ok"]
    skipped = [[t["name"], t["kind"], t["status"]] for t in doc["targets"] if t["status"] != "ok"]
    how = HOW.format(repeat=settings["repeat"], warmup=settings["warmup"], seed=settings["seed"],
                     drop="" if settings["drop_caches"] else " (NOT: --no-drop-caches was given)")
    parts = [
        "<!doctype html><meta charset='utf-8'><title>berth bench storage</title>",
        "<style>body{font-family:sans-serif;max-width:1300px;margin:auto}table{border-collapse:collapse;"
        "font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}img{max-width:100%}"
        "figure{margin:12px 0}</style>",
        f"<h1>berth bench storage</h1><p>{html.escape(doc['started'])}, {doc['seconds']} s: "
        f"<code>{html.escape(' '.join(doc['command']))}</code></p>",
        f"<p>{html.escape(how)}</p>",
        "<h2>Results</h2>", _table(header, rows),
    ]
    if skipped:
        parts += ["<h2>Not measured</h2>", _table(["target", "kind", "why"], skipped)]
    if errors:
        parts += ["<h2>Failures</h2>", _table(["target", "workload", "error"], errors)]
    if compared is not None:
        parts += ["<h2>Change since the compared run</h2>", _table(
            ["workload", "target", "old median", "new median", "new / old"],
            [[c["workload"], c["target"], _fmt(c["old_median_s"]), _fmt(c["new_median_s"]),
              "" if c["ratio"] is None else f"{c['ratio']:.2f}x"] for c in compared])]
    parts += ["<h2>Plots</h2>"] + [_image(directory, name) for name in plots]
    parts += ["<h2>Machine</h2>", _table(["fact", "value"], [[k, str(v)] for k, v in machine.items()]),
              "<h2>Settings</h2>", _table(["setting", "value"], [[k, str(v)] for k, v in settings.items()]),
              "<h2>Targets</h2>", _table(["target", "kind", "details"],
                                         [[t["name"], t["kind"], str(t.get("info", ""))] for t in doc["targets"]])]
    path = os.path.join(directory, "report.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(parts) + "\n")
    return path
