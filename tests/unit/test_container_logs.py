"""Reading logs back: tail from the end in blocks, across rotated (and compressed) files, since/until, follow."""

import asyncio
import gzip
import json
import os
import threading
import time

import pytest

from berth.containers import logfiles, logs
from berth.containers.jsonlog import timestamp
from berth.containers.logs import LogSource
from berth.containers.logwriter import open_writer

BASE_NS = 1_800_000_000 * 10**9
MS = 1_000_000


def write_log(path, n, torn=False, first=0):
    with open(path, "w") as f:
        for i in range(first, first + n):
            f.write(json.dumps({"log": f"line {i}\n", "stream": "stdout", "time": timestamp(BASE_NS + i * MS)}) + "\n")
        if torn:
            f.write('{"log": "half')


def entries(source, streams=("stdout",), **kw):
    """Every entry ``read_log`` gives (without follow)."""
    if not isinstance(source, LogSource):
        source = LogSource(str(source))
    kw.setdefault("tail", None)

    async def run():
        return [e async for batch in logs.read_log(source, follow=False, streams=set(streams),
                                                   running=lambda: False, **kw) for e in batch]

    return asyncio.run(run())


def collect(source, streams=("stdout",), **kw):
    return [entry.data.decode() for entry in entries(source, streams, **kw)]


def numbers(lines):
    return [int(line.split()[-1]) for line in lines]


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
    got = collect(path)
    assert got == [f"line {i}\n" for i in range(20)]


def test_a_missing_log_yields_nothing(tmp_path):
    assert collect(tmp_path / "absent.log") == []
    assert collect(tmp_path / "absent.log", tail=5) == []


def rotated_log(tmp_path, compress, driver="json-file"):
    """Lines 0..199 written through the real writer with a small max-size: several files."""
    path = tmp_path / ("container.log" if driver == "local" else "c-json.log")
    writer = open_writer({"log_path": str(path), "log_driver": driver, "log_max_size": 1500, "log_max_files": 4,
                          "log_compress": compress})
    for i in range(200):
        writer.write("stdout" if i % 2 == 0 else "stderr", f"line {i}\n".encode())
    writer.close()
    return LogSource(str(path), driver, 4)


@pytest.mark.parametrize("compress", [False, True])
def test_all_lines_are_read_across_rotated_files_in_order(tmp_path, compress):
    source = rotated_log(tmp_path, compress)
    assert len(logfiles.rotated_files(source.path, 4)) == 3
    got = numbers(collect(source, streams=("stdout", "stderr")))
    assert got == list(range(got[0], 200)) and got[0] > 0  # the oldest were rotated away, nothing else lost


@pytest.mark.parametrize("compress", [False, True])
def test_tail_reaches_back_into_rotated_files(tmp_path, compress, monkeypatch):
    monkeypatch.setattr(logs, "_BLOCK", 128)
    source = rotated_log(tmp_path, compress)
    current = len(open(source.path).readlines())
    want = current + 25  # more than the current file holds
    assert numbers(collect(source, streams=("stdout", "stderr"), tail=want)) == list(range(200 - want, 200))


def test_streams_are_filtered_after_the_tail_is_counted(tmp_path):
    source = rotated_log(tmp_path, False)
    assert numbers(collect(source, streams=("stderr",), tail=4)) == [197, 199]  # as Docker counts them


def test_since_skips_rotated_files_by_the_time_in_their_gzip_header(tmp_path):
    path = tmp_path / "c-json.log"
    write_log(path, 5, first=100)
    old = tmp_path / "c-json.log.1"
    write_log(old, 5, first=50)
    logfiles.compress_file(str(old), BASE_NS + 10 * MS)  # the header says it ends long before its entries do
    source = LogSource(str(path), "json-file", 2)
    assert numbers(collect(source, since_ns=BASE_NS + 40 * MS)) == [100, 101, 102, 103, 104]
    assert numbers(collect(source))[:2] == [50, 51]  # without since the file is read


def test_until_ends_the_read(tmp_path):
    path = tmp_path / "c-json.log"
    write_log(path, 10)
    assert numbers(collect(path, until_ns=BASE_NS + 3 * MS)) == [0, 1, 2, 3]
    assert numbers(collect(path, since_ns=BASE_NS + 7 * MS)) == [7, 8, 9]
    assert numbers(collect(path, since_ns=BASE_NS + 7 * MS + 1)) == [8, 9]  # to the nanosecond


@pytest.mark.parametrize("compress", [False, True])
def test_the_local_format_reads_back_across_rotations_with_streams(tmp_path, compress):
    source = rotated_log(tmp_path, compress, driver="local")
    stdout = numbers(collect(source, streams=("stdout",)))
    assert stdout and all(n % 2 == 0 for n in stdout) and stdout[-1] == 198
    assert numbers(collect(source, streams=("stdout", "stderr"), tail=30)) == list(range(170, 200))


def test_local_entries_keep_their_times(tmp_path):
    path = tmp_path / "container.log"
    writer = open_writer({"log_path": str(path), "log_driver": "local"})
    before = time.time_ns()
    writer.write("stderr", b"x\n")
    writer.close()

    (entry,) = entries(LogSource(str(path), "local"), streams=("stderr",))
    assert entry.stream == "stderr" and before <= entry.ns <= time.time_ns()
    assert entry.time == timestamp(entry.ns)


def test_attributes_come_back_with_the_entries(tmp_path):
    path = tmp_path / "c-json.log"
    writer = open_writer({"log_path": str(path), "log_attrs": {"tag": "web"}})
    writer.write("stdout", b"x\n")
    writer.close()

    assert [e.attrs for e in entries(path)] == [{"tag": "web"}]


def follow_while_writing(path, max_files, compress):
    """Lines 0..399 written (with short pauses) while a reader follows the log; what the reader got.

    Line 0 is written first; the rest once the reader has it, so nothing is rotated away before it looks.
    """
    writer = open_writer({"log_path": str(path), "log_max_size": 2000, "log_max_files": max_files,
                          "log_compress": compress})
    writer.write("stdout", b"line 0\n")
    reading, finished = threading.Event(), threading.Event()

    def produce():
        reading.wait(30)
        for i in range(1, 400):
            writer.write("stdout", f"line {i}\n".encode())
            if i % 5 == 0:
                time.sleep(0.005)  # ~26 lines fill a file: rotations between some of the reader's polls
        writer.close()
        finished.set()

    async def follow():
        got = []
        threading.Thread(target=produce).start()
        async for batch in logs.read_log(LogSource(str(path), "json-file", max_files), follow=True, tail=None,
                                         streams={"stdout"}, running=lambda: not finished.is_set(), poll=0.005):
            got.extend(entry.data.decode() for entry in batch)
            reading.set()
        return got

    return numbers(asyncio.run(follow()))


@pytest.mark.parametrize("compress", [False, True])
def test_follow_goes_on_across_rotations(tmp_path, compress):
    """A reader following the log while the writer rotates sees every line once, in order."""
    assert follow_while_writing(tmp_path / "c-json.log", 6, compress) == list(range(400))


def test_follow_with_max_file_1_never_repeats_or_reorders(tmp_path):
    """With no rotated file kept, a file filled and dropped between two polls is gone (as in Docker)."""
    got = follow_while_writing(tmp_path / "c-json.log", 1, False)
    assert got[0] == 0 and got[-1] == 399 and all(a < b for a, b in zip(got, got[1:]))


def test_follow_reads_on_past_blocks_whose_entries_are_all_filtered_out(tmp_path, monkeypatch):
    monkeypatch.setattr(logs, "_BLOCK", 256)
    path = tmp_path / "c-json.log"
    writer = open_writer({"log_path": str(path)})
    for i in range(100):
        writer.write("stdout", f"out {i}\n".encode())
    writer.write("stderr", b"the one\n")
    writer.close()

    async def follow():
        return [e.data async for batch in logs.read_log(LogSource(str(path)), follow=True, tail=None,                                                         streams={"stderr"}, running=lambda: False)
                for e in batch]

    assert asyncio.run(follow()) == [b"the one\n"]


@pytest.mark.parametrize("line,expected", [
    (b'{"log":"hi\\n","stream":"stdout","time":"2026-01-01T00:00:00.5Z"}', ("stdout", b"hi\n", None)),
    (b'{"log":"a \\u003cb\\u003e \\"q\\" \\u00e9","stream":"stderr","attrs":{"tag":"x,\\"time\\":\\"y"},'
     b'"time":"2026-01-01T00:00:00Z"}', ("stderr", 'a <b> "q" \u00e9'.encode(), {"tag": 'x,"time":"y'})),
    (b'{"log": "spaced\\n", "stream": "stdout", "time": "2026-01-01T00:00:00Z"}', ("stdout", b"spaced\n", None)),
    (b'{"time":"2026-01-01T00:00:00Z","stream":"stdout","log":"reordered"}', ("stdout", b"reordered", None)),
])
def test_json_file_lines_decode_in_any_json_shape(line, expected):
    from berth.containers import jsonlog

    entry = jsonlog.decode(line)
    assert (entry.stream, entry.data, entry.attrs) == expected


@pytest.mark.parametrize("line", [b'{"log":"x","stream":"stdout","time":"yesterday"}', b"\xff\xfe", b"[1]",
                                  b'{"log":5,"stream":"stdout","time":"2026-01-01T00:00:00Z"}', b'{"log":"half'])
def test_damaged_lines_decode_to_nothing(line):
    from berth.containers import jsonlog

    assert jsonlog.decode(line) is None


@pytest.mark.parametrize("compress", [False, True])
def test_follow_catches_up_on_several_rotations_it_did_not_see(tmp_path, compress):
    """The reader holds a file the writer then rotates away five times: it reads on in the rotated files."""
    path = tmp_path / "c-json.log"
    writer = open_writer({"log_path": str(path), "log_max_size": 500, "log_max_files": 8, "log_compress": compress})
    writer.write("stdout", b"line 0\n")
    done = threading.Event()

    async def follow():
        stream = logs.read_log(LogSource(str(path), "json-file", 8), follow=True, tail=None, streams={"stdout"},
                               running=lambda: not done.is_set(), poll=0.005)
        got = [e.data.decode() for e in await stream.__anext__()]
        for i in range(1, 41):  # while the reader waits: ~3000 bytes, five or six rotations
            writer.write("stdout", f"line {i}\n".encode())
        writer.close()
        done.set()
        assert len(logfiles.rotated_files(str(path), 8)) >= 5
        async for batch in stream:
            got.extend(e.data.decode() for e in batch)
        return got

    assert numbers(asyncio.run(follow())) == list(range(41))
