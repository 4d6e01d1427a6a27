"""``berth bench storage --quick`` end to end on a tiny configuration: real drivers, mounts and containers.

The third-party example driver (tests/plugins/berth-example) is measured by name next
to both references, so the run covers an in-process graph workload, a mount workload
and a container workload on each kind of target.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

WORKLOADS = "exists,deep-read,seq-read"


def _bench(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "berth.cli.main", "bench", "storage", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def quick_run(suite_tmp):
    if shutil.which("fuse-overlayfs") is None:
        pytest.fail("fuse-overlayfs is not installed (apt-get install fuse-overlayfs; .ci/install does it)")
    out = os.path.join(suite_tmp, "bench-quick")
    done = _bench("--quick", "--repeat", "1", "--drivers", "example", "--workloads", WORKLOADS,
                  "--root", suite_tmp, "-o", out)
    assert done.returncode == 0, done.stdout + done.stderr
    with open(os.path.join(out, "results.json"), encoding="utf-8") as f:
        return out, json.load(f), done


def test_every_target_is_measured_on_every_workload_it_takes(quick_run):
    _, doc, _ = quick_run
    assert [(t["name"], t["kind"], t["status"]) for t in doc["targets"]] == [
        ("example", "driver", "ok"), ("overlayfs", "reference", "ok"), ("fuse-overlayfs", "reference", "ok")]
    measured = {(r["target"], r["workload"]): r for r in doc["results"]}
    assert set(measured) == {("example", "exists"), ("example", "deep-read"), ("example", "seq-read"),
                             ("overlayfs", "deep-read"), ("overlayfs", "seq-read"),
                             ("fuse-overlayfs", "deep-read"), ("fuse-overlayfs", "seq-read")}
    assert all(r["status"] == "ok" and r["seconds"]["n"] == 1 for r in measured.values())


def test_the_driver_hooks_are_timed_by_the_wrapper_and_by_berthd(quick_run):
    _, doc, _ = quick_run
    measured = {(r["target"], r["workload"]): r for r in doc["results"]}
    assert measured[("example", "exists")]["hooks"]["graph_exists"]["calls"] == doc["settings"]["sizes"]["exists_calls"]
    container_hooks = measured[("example", "seq-read")]["hooks"]
    assert {"graph_create_rw", "graph_mount", "graph_unmount", "graph_remove"} <= set(container_hooks)
    assert measured[("fuse-overlayfs", "seq-read")]["hooks"].keys() == {"mount", "unmount"}


def test_container_workloads_read_the_seeded_file_in_full(quick_run):
    _, doc, _ = quick_run
    size = doc["settings"]["sizes"]["big_mib"] << 20
    for target in ("example", "overlayfs", "fuse-overlayfs"):
        result = next(r for r in doc["results"] if (r["target"], r["workload"]) == (target, "seq-read"))
        assert result["bytes"] == size
        assert result["wall"]["median"] > result["seconds"]["median"]


def test_machine_facts_are_recorded(quick_run):
    _, doc, _ = quick_run
    machine = doc["machine"]
    assert machine["kernel"] == os.uname().release
    assert machine["data_root_fs"] and machine["cpus"] == os.cpu_count()
    assert len(machine["load_average"]) == 3 and len(machine["load_average_after"]) == 3


def test_csv_plots_and_report_are_written(quick_run):
    out, doc, done = quick_run
    with open(os.path.join(out, "results.csv"), encoding="utf-8") as f:
        assert len(list(csv.DictReader(f))) == len(doc["results"])
    for name in ("workloads.png", "relative.png", "hooks.png"):
        with open(os.path.join(out, name), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", name
    with open(os.path.join(out, "report.html"), encoding="utf-8") as f:
        page = f.read()
    assert page.count('src="data:image/png;base64,') == 3
    assert "deep-read" in page and "fuse-overlayfs" in page
    assert "deep-read" in done.stdout  # the summary table


def test_compare_shows_the_change_since_a_previous_run(quick_run, suite_tmp):
    out, _, _ = quick_run
    again = os.path.join(suite_tmp, "bench-again")
    done = _bench("--quick", "--repeat", "1", "--drivers", "example", "--references", "none", "--workloads", "exists",
                  "--root", suite_tmp, "-o", again, "--compare", os.path.join(out, "results.json"))
    assert done.returncode == 0, done.stdout + done.stderr
    with open(os.path.join(again, "results.json"), encoding="utf-8") as f:
        rows = json.load(f)["compare"]["rows"]
    assert [(r["target"], r["workload"]) for r in rows] == [("example", "exists")]
    assert rows[0]["ratio"] > 0
    assert "change since" in done.stdout and os.path.exists(os.path.join(again, "compare.png"))


def test_a_driver_that_is_not_installed_is_reported_and_nothing_is_measured(suite_tmp):
    out = os.path.join(suite_tmp, "bench-none")
    done = _bench("--quick", "--drivers", "no-such-driver", "--references", "none", "--workloads", "exists",
                  "--root", suite_tmp, "-o", out)
    assert done.returncode == 1
    with open(os.path.join(out, "results.json"), encoding="utf-8") as f:
        target = json.load(f)["targets"][0]
    assert target["name"] == "no-such-driver" and target["status"].startswith("not installed")
    assert "no-such-driver: not installed" in done.stdout


def test_bad_options_are_refused_before_anything_runs(suite_tmp):
    done = _bench("--references", "zfs", "--root", suite_tmp, "-o", os.path.join(suite_tmp, "bench-bad"))
    assert done.returncode == 125
    assert "unknown reference(s) zfs" in done.stderr
    done = _bench("--workloads", "nosuch", "--root", suite_tmp, "-o", os.path.join(suite_tmp, "bench-bad"))
    assert done.returncode == 125 and "unknown workload(s) nosuch" in done.stderr
    done = _bench("--drivers", "vfs:size", "--root", suite_tmp, "-o", os.path.join(suite_tmp, "bench-bad"))
    assert done.returncode == 125 and "'size' is not KEY=VALUE" in done.stderr


def test_a_driver_with_storage_options_is_measured_next_to_its_defaults(suite_tmp):
    out = os.path.join(suite_tmp, "bench-variants")
    variant = "fuse-overlay:fuse-overlay.writeback=false+fuse-overlay.cache_timeout=1"
    done = _bench("--quick", "--repeat", "1", "--drivers", f"fuse-overlay,{variant}", "--references", "none",
                  "--workloads", "exists,seq-write", "--no-plots", "--root", suite_tmp, "-o", out)
    assert done.returncode == 0, done.stdout + done.stderr
    with open(os.path.join(out, "results.json"), encoding="utf-8") as f:
        doc = json.load(f)
    options = {t["name"]: (t["info"]["status"]["Serve Options"], t["info"]["daemon_status"]["Serve Options"])
               for t in doc["targets"]}
    assert options == {"fuse-overlay": ("writeback=true fast_loop=true cache_timeout=60 read_ahead_kb=1024",) * 2,
                       variant: ("writeback=false fast_loop=true cache_timeout=1 read_ahead_kb=1024",) * 2}
    assert {(r["target"], r["workload"]) for r in doc["results"] if r["status"] == "ok"} == {
        (t, w) for t in options for w in ("exists", "seq-write")}
