"""``berth bench storage``'s pieces that need no root: statistics, workload choice, outputs, the hook timer."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pluggy
import pytest

from berth import hookimpl, hookspec
from berth.bench.storage import driverspec, output, report, stats, workloads
from berth.bench.storage.settings import QUICK, Settings
from berth.tracing import HookTimer


def test_summary_gives_median_quartiles_and_spread():
    s = stats.summary([4.0, 1.0, 3.0, 2.0, 5.0])
    assert (s["n"], s["median"], s["q1"], s["q3"], s["min"], s["max"]) == (5, 3.0, 2.0, 4.0, 1.0, 5.0)
    assert s["spread"] == pytest.approx(2.0 / 3.0)


def test_summary_of_one_sample_has_no_spread():
    assert stats.summary([0.5]) == {"n": 1, "median": 0.5, "q1": 0.5, "q3": 0.5, "min": 0.5, "max": 0.5,
                                    "spread": 0.0}


def test_workloads_are_chosen_by_name_or_group():
    chosen = workloads.select(QUICK, "exists,container")
    assert chosen[0].name == "exists"
    assert {w.group for w in chosen[1:]} == {"container"}
    assert [w.name for w in workloads.select(QUICK, "all")] == [w.name for w in workloads.catalogue(QUICK)]


def test_an_unknown_workload_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="unknown workload.*nosuch.*deep-read"):
        workloads.select(QUICK, "deep-read,nosuch")


def test_quick_settings_are_small_and_overridable():
    quick = Settings.make(True, None, None, 7, True)
    assert (quick.repeat, quick.warmup, quick.seed, quick.sizes) == (2, 0, 7, QUICK)
    assert Settings.make(False, 9, 3, 1, False).repeat == 9


def test_size_options_change_single_sizes_of_the_run():
    settings = Settings.make(False, None, None, 1, True, ["storm_files=5000", "big_mib=64"])
    assert (settings.sizes.storm_files, settings.sizes.big_mib, settings.sizes.tree_files) == (5000, 64, 10_000)


@pytest.mark.parametrize("item, message", [("nosuch=1", "unknown size 'nosuch'.*storm_files"),
                                           ("big_mib=0", "at least 1"), ("big_mib", "at least 1")])
def test_bad_size_options_are_refused(item, message):
    with pytest.raises(ValueError, match=message):
        Settings.make(True, None, None, 1, True, [item])


def test_a_driver_item_may_carry_storage_options():
    spec = driverspec.parse("fuse-overlay:fuse-overlay.writeback=false+fuse-overlay.cache_timeout=1")
    assert (spec.label, spec.name) == ("fuse-overlay:fuse-overlay.writeback=false+fuse-overlay.cache_timeout=1",
                                       "fuse-overlay")
    assert spec.storage_opt_args() == ["--storage-opt", "fuse-overlay.writeback=false",
                                       "--storage-opt", "fuse-overlay.cache_timeout=1"]
    assert driverspec.parse("vfs") == driverspec.DriverSpec("vfs", "vfs", {})


def test_a_driver_option_without_a_value_is_refused():
    with pytest.raises(ValueError, match="'writeback' is not KEY=VALUE"):
        driverspec.parse("fuse-overlay:writeback")


class _Spec:
    @hookspec(firstresult=True)
    def graph_mount(self, layer_id: str) -> str:
        """Mount."""

    @hookspec(firstresult=True)
    def graph_exists(self, layer_id: str) -> bool:
        """Exists."""


class _Driver:
    @hookimpl
    def graph_mount(self, layer_id):
        if layer_id == "bad":
            raise OSError("no such layer")
        return "/mnt/" + layer_id

    @hookimpl
    def graph_exists(self, layer_id):
        return True


def test_hook_timer_times_every_call_of_every_hook_failures_included():
    pm = pluggy.PluginManager("berth")
    pm.add_hookspecs(_Spec)
    pm.register(_Driver())
    timer = HookTimer(["graph_mount", "graph_exists"])
    pm.register(timer)
    assert pm.hook.graph_mount(layer_id="a") == "/mnt/a"  # the wrapper passes the answer through
    with pytest.raises(OSError):
        pm.hook.graph_mount(layer_id="bad")
    pm.hook.graph_exists(layer_id="a")
    taken = timer.take()
    assert {hook: len(times) for hook, times in taken.items()} == {"graph_mount": 2, "graph_exists": 1}
    assert all(t >= 0 for times in taken.values() for t in times)
    assert timer.take() == {}


def _doc(median_old: float = 2.0, median_new: float = 1.0) -> tuple[dict, dict]:
    def result(median: float) -> dict:
        return {"target": "vfs", "kind": "driver", "workload": "seq-read", "group": "container", "status": "ok",
                "seconds": stats.summary([median]), "samples": [median], "bytes": 1 << 20, "mib_per_s": 1 / median,
                "hooks": {"graph_mount": {"calls": 1, "seconds": stats.summary([0.01])}}}

    base = {"format": output.FORMAT, "targets": [{"name": "vfs", "kind": "driver", "status": "ok"}],
            "workloads": [w.__dict__ for w in workloads.select(QUICK, "seq-read")]}
    return {**base, "results": [result(median_old)]}, {**base, "results": [result(median_new)]}


def test_compare_gives_the_ratio_of_new_to_old_medians():
    old, new = _doc(2.0, 1.0)
    rows = output.compare(old, new)
    assert [(r["target"], r["workload"], r["ratio"]) for r in rows] == [("vfs", "seq-read", 0.5)]
    assert "0.50x" in output.compare_text(rows, "old.json")


def test_load_json_refuses_a_file_that_is_not_a_bench_result(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not a results.json"):
        output.load_json(str(path))


def test_csv_files_have_a_row_per_result_and_per_hook(tmp_path):
    _, doc = _doc()
    output.write_csv(doc, str(tmp_path))
    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["target"], r["workload"], float(r["median_s"])) for r in rows] == [("vfs", "seq-read", 1.0)]
    with open(tmp_path / "hooks.csv") as f:
        assert [(r["hook"], r["calls"]) for r in csv.DictReader(f)] == [("graph_mount", "1")]


def test_summary_table_has_a_row_per_workload_and_a_column_per_target():
    _, doc = _doc()
    header, rows = report.summary_rows(doc)
    assert header == ["workload", "vfs"]
    assert rows[0][0] == "seq-read" and rows[0][1].startswith("1.00 s")


def test_the_cli_imports_no_benchmark_code_until_the_command_runs():
    code = ("import sys; from berth.cli import main; main.build_parser('bench'); "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('berth.bench', 'matplotlib', 'pluggy')))))")
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []
