"""bench/all.py's reading of the scripts' output: markdown tables and the berth ÷ peer figures."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("bench_all", Path(__file__).parents[2] / "bench" / "all.py")
bench_all = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_all)

OUTPUT = """pull from the lab registry: 7 rounds

| case | berth (overlay) | docker (overlay2) | berth ÷ docker |
|---|---:|---:|---:|
| cold pull | 271 | 506 | 0.54× |
| shared-base pull | 209 | 426 | 0.49× |

where berth's pulls went:
  image.pull  124.5 ms
"""


def test_each_markdown_table_is_read_as_header_and_rows_without_the_rule():
    [table] = bench_all.tables(OUTPUT)
    assert table["header"] == ["case", "berth (overlay)", "docker (overlay2)", "berth ÷ docker"]
    assert table["rows"] == [["cold pull", "271", "506", "0.54×"], ["shared-base pull", "209", "426", "0.49×"]]


def test_a_table_at_the_very_end_of_the_output_is_read():
    assert bench_all.tables("| a | b |\n|---|---|\n| 1 | 2 |")[0]["rows"] == [["1", "2"]]


def test_text_without_tables_has_none():
    assert bench_all.tables("builder   cold   cached\nberth     120    30\n") == []


def test_the_summary_takes_every_cell_under_a_ratio_column():
    assert bench_all.ratios("pull", bench_all.tables(OUTPUT)) == [
        ("pull", "cold pull", "berth ÷ docker", "0.54×"), ("pull", "shared-base pull", "berth ÷ docker", "0.49×")]


def test_cells_without_a_figure_are_left_out_of_the_summary():
    found = bench_all.tables("| op | berth ÷ crun | berth ÷ docker |\n|---|---:|---:|\n| create | – | 1.05× |\n")
    assert bench_all.ratios("start", found) == [("start", "create", "berth ÷ docker", "1.05×")]


def test_every_bench_script_is_in_the_suite():
    scripts = {path.stem for path in (Path(__file__).parents[2] / "bench").glob("*.py")}
    assert scripts - bench_all.NOT_BENCHMARKS == set(bench_all.SUITE)
