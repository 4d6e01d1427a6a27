"""The monitor's log writer: Docker's json-file lines, the local format, rotation and compression."""

import gzip
import json
import os
import threading

from berth.containers import jsonlog, locallog, logfiles
from berth.containers.logwriter import PARTIAL_LIMIT, FileTarget, LogWriter, NonBlockingLogWriter, open_writer


def json_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def write_lines(writer, count, stream="stdout", width=40):
    for i in range(count):
        writer.write(stream, f"{i:06d} ".encode() + b"x" * (width - 8) + b"\n")


def test_json_file_lines_have_dockers_shape(tmp_path):
    path = tmp_path / "c-json.log"
    writer = open_writer({"log_path": str(path)})
    writer.write("stdout", b"hello\n")
    writer.write("stderr", b"oops\n")
    writer.close()
    raw = path.read_bytes().splitlines()
    assert raw[0].startswith(b'{"log":"hello\\n","stream":"stdout","time":"')
    assert raw[1].startswith(b'{"log":"oops\\n","stream":"stderr","time":"')
    for line in raw:
        record = json.loads(line)
        assert list(record) == ["log", "stream", "time"]
        assert len(record["time"]) == len("2026-01-01T00:00:00.000000000Z") and record["time"].endswith("Z")


def test_attributes_are_written_sorted_before_the_time(tmp_path):
    path = tmp_path / "c-json.log"
    writer = open_writer({"log_path": str(path), "log_attrs": {"tag": "web/1", "app": "x"}})
    writer.write("stdout", b"hi\n")
    writer.close()
    line = path.read_bytes()
    assert b'"stream":"stdout","attrs":{"app":"x","tag":"web/1"},"time":' in line


def test_a_line_is_one_entry_even_when_it_arrives_in_pieces(tmp_path):
    path = tmp_path / "c-json.log"
    writer = open_writer({"log_path": str(path)})
    writer.write("stdout", b"hel")
    writer.write("stdout", b"lo\nwor")
    writer.close()  # what is left without a newline at the exit is written as it is
    assert [r["log"] for r in json_lines(path)] == ["hello\n", "wor"]


def test_a_long_line_is_cut_into_16k_pieces(tmp_path):
    path = tmp_path / "c-json.log"
    writer = open_writer({"log_path": str(path)})
    writer.write("stdout", b"a" * (PARTIAL_LIMIT * 2 + 5) + b"\n")
    writer.close()
    assert [len(r["log"]) for r in json_lines(path)] == [PARTIAL_LIMIT, PARTIAL_LIMIT, 6]


def test_entry_times_strictly_increase(tmp_path):
    path = tmp_path / "c-json.log"
    writer = open_writer({"log_path": str(path)})
    for _ in range(50):
        writer.write("stdout", b"a\nb\nc\n")
    writer.close()
    times = [jsonlog.timestamp_ns(r["time"]) for r in json_lines(path)]
    assert len(times) == 150 and all(a < b for a, b in zip(times, times[1:]))


def test_rotation_keeps_max_file_files_each_closed_at_max_size(tmp_path):
    path = tmp_path / "c-json.log"
    writer = open_writer({"log_path": str(path), "log_max_size": 1000, "log_max_files": 3})
    write_lines(writer, 200)
    writer.close()
    assert sorted(os.listdir(tmp_path)) == ["c-json.log", "c-json.log.1", "c-json.log.2"]
    entry = len(json_lines(path)[0]) and os.path.getsize(path) // len(json_lines(path))
    for rotated in ("c-json.log.1", "c-json.log.2"):
        size = os.path.getsize(tmp_path / rotated)
        assert 1000 <= size < 1000 + entry + 1  # a write that finds the file full rotates first
    numbers = [int(r["log"][:6]) for name in ("c-json.log.2", "c-json.log.1", "c-json.log")
               for r in json_lines(tmp_path / name)]
    assert numbers == list(range(numbers[0], 200))  # the newest lines, in order, none lost between files


def test_max_file_1_keeps_no_rotated_file(tmp_path):
    path = tmp_path / "c-json.log"
    writer = open_writer({"log_path": str(path), "log_max_size": 500, "log_max_files": 1})
    write_lines(writer, 100)
    writer.close()
    assert os.listdir(tmp_path) == ["c-json.log"]
    assert os.path.getsize(path) < 600
    assert json_lines(path)[-1]["log"].startswith("000099")


def test_compressed_rotation_gzips_with_the_last_time_in_the_header(tmp_path):
    path = tmp_path / "c-json.log"
    writer = open_writer({"log_path": str(path), "log_max_size": 1000, "log_max_files": 3, "log_compress": True})
    write_lines(writer, 100)
    writer.close()
    assert sorted(os.listdir(tmp_path)) == ["c-json.log", "c-json.log.1.gz", "c-json.log.2.gz"]
    for name in ("c-json.log.1.gz", "c-json.log.2.gz"):
        with gzip.open(tmp_path / name) as f:
            records = [json.loads(line) for line in f]
        last = logfiles.gzip_last_time(str(tmp_path / name))
        assert jsonlog.timestamp_ns(last) == jsonlog.timestamp_ns(records[-1]["time"])


def test_an_uncompressed_rotated_file_left_by_a_crash_is_compressed_on_open(tmp_path):
    path = tmp_path / "c-json.log"
    (tmp_path / "c-json.log.1").write_bytes(b'{"log":"old\\n","stream":"stdout","time":"2026-01-01T00:00:00Z"}\n')
    writer = open_writer({"log_path": str(path), "log_max_size": 1000, "log_max_files": 2, "log_compress": True})
    writer.close()
    assert sorted(os.listdir(tmp_path)) == ["c-json.log", "c-json.log.1.gz"]
    assert gzip.open(tmp_path / "c-json.log.1.gz").read().startswith(b'{"log":"old')


def test_a_torn_json_line_is_ended_before_new_lines_are_appended(tmp_path):
    path = tmp_path / "c-json.log"
    path.write_bytes(b'{"log":"half')
    writer = open_writer({"log_path": str(path)})
    writer.write("stdout", b"next\n")
    writer.close()
    lines = path.read_bytes().splitlines()
    assert lines[0] == b'{"log":"half' and json.loads(lines[1])["log"] == "next\n"


def test_local_records_keep_stream_data_and_time(tmp_path):
    path = tmp_path / "container.log"
    writer = open_writer({"log_path": str(path), "log_driver": "local"})
    writer.write("stdout", b"out\n")
    writer.write("stderr", b"err \xff\n")  # bytes are kept as written, not re-encoded
    writer.close()
    records, used = locallog.split_records(path.read_bytes())
    assert used == os.path.getsize(path)
    entries = [locallog.decode(r) for r in records]
    assert [(e.stream, e.data) for e in entries] == [("stdout", b"out\n"), ("stderr", b"err \xff\n")]
    assert entries[0].ns < entries[1].ns
    assert os.path.getsize(path) == 2 * locallog.OVERHEAD + len(b"out\n") + len(b"err \xff\n")


def test_a_torn_local_record_is_cut_before_new_records_are_appended(tmp_path):
    path = tmp_path / "container.log"
    writer = open_writer({"log_path": str(path), "log_driver": "local"})
    writer.write("stdout", b"one\n")
    writer.close()
    whole = path.read_bytes()
    path.write_bytes(whole + locallog.LocalFormat().encode("stdout", b"two\n", 1)[:9])
    writer = open_writer({"log_path": str(path), "log_driver": "local"})
    writer.write("stdout", b"three\n")
    writer.close()
    records, _ = locallog.split_records(path.read_bytes())
    assert [locallog.decode(r).data for r in records] == [b"one\n", b"three\n"]


class _StuckFile(logfiles.RotatingFile):
    """A disk that does not take writes until released."""

    def __init__(self, path):
        super().__init__(path)
        self.release = threading.Event()
        self.written = []

    def write(self, entries, last_ns):
        self.release.wait(10)
        self.written.extend(entries)


def test_non_blocking_mode_drops_what_does_not_fit_instead_of_waiting(tmp_path):
    stuck = _StuckFile(str(tmp_path / "c-json.log"))
    writer = NonBlockingLogWriter([FileTarget(jsonlog.JsonFileFormat(), stuck)], max_buffer=2000)
    done = threading.Event()

    def produce():
        write_lines(writer, 500)  # far more than 2000 bytes, while the disk is stuck
        done.set()

    threading.Thread(target=produce).start()
    assert done.wait(5), "a stuck log write held up the container's output"
    stuck.release.set()
    writer.close()
    assert 0 < len(stuck.written) < 500 and writer.dropped == 500 - len(stuck.written)


def test_blocking_mode_writes_everything(tmp_path):
    path = tmp_path / "c-json.log"
    writer = LogWriter([FileTarget(jsonlog.JsonFileFormat(), logfiles.RotatingFile(str(path)))])
    write_lines(writer, 500)
    writer.close()
    assert len(json_lines(path)) == 500


def test_nothing_is_logged_without_a_log_path():
    assert open_writer({"log_path": None}) is None


class _FullDisk:
    """``os.write`` that takes ``room`` more bytes and then fails with ENOSPC (a short write at the edge)."""

    def __init__(self, room: int):
        self.room = room
        self.real = os.write

    def __call__(self, fd, data):
        import errno

        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        taken = self.real(fd, bytes(data[: self.room]))
        self.room -= taken
        return taken


def test_an_entry_that_does_not_fit_on_the_disk_is_not_half_written(tmp_path, monkeypatch):
    path = tmp_path / "c-json.log"
    file = logfiles.RotatingFile(str(path))
    file.write([b"first\n"], 1)
    monkeypatch.setattr(logfiles.os, "write", _FullDisk(3))
    try:
        file.write([b"second\n"], 2)
        raise AssertionError("the write should have failed")
    except OSError as exc:
        assert exc.errno == 28
    assert path.read_bytes() == b"first\n"


def test_entries_lost_to_a_full_disk_are_counted_and_the_log_says_so_once_it_has_room(tmp_path, monkeypatch):
    path = tmp_path / "c-json.log"
    writer = LogWriter([FileTarget(jsonlog.JsonFileFormat(), logfiles.RotatingFile(str(path)))])
    writer.write("stdout", b"before\n")
    full = _FullDisk(0)
    monkeypatch.setattr(logfiles.os, "write", full)
    writer.write("stdout", b"lost 1\nlost 2\n")  # the container runs on: no error reaches it
    writer.write("stderr", b"lost 3\n")
    full.room = 1 << 20
    writer.write("stdout", b"after\n")
    writer.close()
    records = json_lines(path)
    assert [(r["stream"], r["log"]) for r in records] == [
        ("stdout", "before\n"),
        ("stderr", "berth: 3 log entries (21 bytes) of this container were not logged: No space left on device\n"),
        ("stdout", "after\n")]
    times = [r["time"] for r in records]
    assert times == sorted(times) and len(set(times)) == 3
