#!/usr/bin/env python3
"""Every benchmark against the peers in one go: one markdown page and one JSON file.

Usage (as root)::

    /opt/berth/venv/bin/python bench/all.py [-o DIR] [--only start,bridge,...] [--quick]

Runs the scripts of ``bench/`` one after the other (never at once: they share the
two cores), each with the arguments in ``SUITE`` (``--quick``: fewer rounds), and
writes to ``DIR`` (default ``/var/lib/berth-bench/all-<UTC time>``):

* ``results.md``: a summary of every "berth ÷ peer" figure (each table cell whose
  column header has a ``÷``), then each script's own output as it printed it;
* ``results.json``: per script its command, exit status, wall time, the load
  average before and after, every markdown table it printed (header and rows) and
  its whole output.

The scripts start no peer; a peer that does not answer is a note in their output.
A script that fails is recorded with its exit status and error output, and the
others still run. Nothing here asserts anything about time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: name -> (arguments, arguments with --quick), in the order they run
SUITE: dict[str, tuple[list[str], list[str]]] = {
    "start": (["-n", "15"], ["-n", "5"]),
    "bridge": (["-n", "15"], ["-n", "5"]),
    "pull": (["-n", "7"], ["-n", "3"]),
    "build": (["--runs", "5", "--storage-driver", "overlay"], ["--runs", "2", "--storage-driver", "overlay"]),
    "api": (["-n", "30"], ["-n", "10"]),
    "logs": (["-n", "5"], ["-n", "2", "--lines", "50000"]),
    "network": (["-t", "5", "-r", "3"], ["-t", "2", "-r", "1"]),
    "health": ([], ["-n", "10", "--seconds", "5"]),
    "userns": (["-n", "15"], ["-n", "5"]),
    "load": (["--concurrent", "50", "--running", "200", "--cycles", "1000", "--log-mb", "500"],
             ["--concurrent", "10", "--running", "20", "--cycles", "50", "--log-mb", "20"]),
}
#: bench scripts that are not run here: helpers of the others, and the fuzzer (no peer, no timing)
NOT_BENCHMARKS = {"all", "sandbox", "fuzz"}
TIMEOUT = 3600  # per script, seconds


def tables(text: str) -> list[dict]:
    """The markdown tables in ``text``: each as its header cells and its rows' cells."""
    found: list[dict] = []
    block: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        stripped = line.strip()
        if stripped.startswith("|") and stripped.endswith("|"):
            block.append([cell.strip() for cell in stripped[1:-1].split("|")])
            continue
        if len(block) >= 2:
            rows = [row for row in block[1:] if not all(set(cell) <= set("-: ") for cell in row)]
            found.append({"header": block[0], "rows": rows})
        block = []
    return found


def ratios(name: str, found: list[dict]) -> list[tuple[str, str, str, str]]:
    """(script, row label, column, value) for each cell under a header with ``÷``."""
    out = []
    for table in found:
        columns = [i for i, head in enumerate(table["header"]) if "÷" in head]
        for row in table["rows"]:
            for i in columns:
                if i < len(row) and row[i] not in ("", "–", "-"):  # a dash: no figure (the peer did not run it)
                    out.append((name, row[0], table["header"][i], row[i]))
    return out


def run_one(name: str, args: list[str]) -> dict:
    """Run ``bench/<name>.py`` with ``args``; what it printed and how it went."""
    argv = [sys.executable, str(HERE / f"{name}.py"), *args]
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT)
        status, out, err = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        status, out, err = "timeout", exc.stdout or "", f"killed after {TIMEOUT} s"
        out = out.decode(errors="replace") if isinstance(out, bytes) else out
    return {"command": " ".join(["bench/" + name + ".py", *args]), "status": status,
            "seconds": round(time.monotonic() - started, 1), "load_before": round(load_before, 2),
            "load_after": round(os.getloadavg()[0], 2), "tables": tables(out), "output": out,
            "errors": err[-4000:] if status != 0 else ""}


def markdown(results: dict[str, dict], started: str) -> str:
    """The page: when and where, the summary of ratios, then each script's output."""
    lines = [f"# berth benchmarks, {started}", "",
             f"Kernel {os.uname().release}, {os.cpu_count()} CPUs; each script after the one before, "
             "each with its peers interleaved in its own rounds (see bench/README.md).", "",
             "## berth ÷ peer, every figure", "", "| bench | case | column | value |", "|---|---|---|---:|"]
    for name, result in results.items():
        lines += [f"| {n} | {row} | {column} | {value} |" for n, row, column, value in ratios(name, result["tables"])]
    for name, result in results.items():
        lines += ["", f"## {name}: `{result['command']}`", "",
                  f"exit status {result['status']}, {result['seconds']} s, load average "
                  f"{result['load_before']} before, {result['load_after']} after", ""]
        output = result["output"].rstrip()
        lines += [output] if result["tables"] else ["```", output, "```"]
        if result["errors"]:
            lines += ["", "```", result["errors"].rstrip(), "```"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", help="directory for results.md and results.json")
    parser.add_argument("--only", help="comma-separated scripts, of: " + ", ".join(SUITE))
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/all.py needs root (the scripts start berthds and namespaces)")
    names = args.only.split(",") if args.only else list(SUITE)
    unknown = [n for n in names if n not in SUITE]
    if unknown:
        sys.exit(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(SUITE)}")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    out_dir = Path(args.output or f"/var/lib/berth-bench/all-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    for name in names:
        print(f"bench/all.py: {name} ...", file=sys.stderr, flush=True)
        results[name] = run_one(name, SUITE[name][1 if args.quick else 0])
        # written after each script, so an interrupted run keeps what it measured
        (out_dir / "results.json").write_text(json.dumps({"started": started, "results": results}, indent=1))
        (out_dir / "results.md").write_text(markdown(results, started))
    print((out_dir / "results.md").read_text())
    print(f"written: {out_dir}/results.md, {out_dir}/results.json", file=sys.stderr)


if __name__ == "__main__":
    main()
