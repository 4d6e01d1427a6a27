"""Reading json-file logs: tail from the end in blocks, everything streamed, torn lines left for follow."""

import asyncio
import json

from berth.containers import logs


def write_log(path, n, torn=False):
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"log": f"line {i}\n", "stream": "stdout", "time": "2026-01-01T00:00:00.000000001Z"}) + "\n")
        if torn:
            f.write('{"log": "half')


def collect(path, **kw):
    async def run():
        out = []
        async for entry in logs.read_log(str(path), follow=False, since=0, until=0, streams={"stdout"},
                                         running=lambda: False, **kw):
            out.append(entry.data.decode())
        return out

    return asyncio.run(run())


def test_tail_reads_only_the_last_lines_across_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(logs, "_BLOCK", 100)  # many blocks, so the backwards read is exercised
    path = tmp_path / "c-json.log"
    write_log(path, 50, torn=True)
    assert collect(path, tail=3) == ["line 47\n", "line 48\n", "line 49\n"]
    assert collect(path, tail=0) == []


def test_everything_is_streamed_and_a_torn_last_line_is_left_out(tmp_path, monkeypatch):
    monkeypatch.setattr(logs, "_BLOCK", 64)
    path = tmp_path / "c-json.log"
    write_log(path, 20, torn=True)
    got = collect(path, tail=None)
    assert got == [f"line {i}\n" for i in range(20)]


def test_a_missing_log_yields_nothing(tmp_path):
    assert collect(tmp_path / "absent.log", tail=None) == []
    assert collect(tmp_path / "absent.log", tail=5) == []
