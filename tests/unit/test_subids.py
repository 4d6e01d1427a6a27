"""/etc/subuid and /etc/subgid: reading ranges, and adding one for berth's own user without disturbing others."""

from __future__ import annotations

import os
import threading

import pytest

from berth import subids
from berth.errors import ConfigError


def _write(path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_ranges_are_found_by_user_name_or_uid(tmp_path):
    path = _write(tmp_path / "subuid", "alice:100000:65536\n1001:200000:1000\nbob:300000:10\n")
    assert [(r.first, r.count) for r in subids.ranges_of(path, "alice", 1001)] == [(100000, 65536), (200000, 1000)]


def test_a_malformed_line_is_refused_with_its_number(tmp_path):
    path = _write(tmp_path / "subuid", "alice:100000:65536\nbroken line\n")
    with pytest.raises(ConfigError, match="line 2"):
        subids.read(path)


def test_the_next_free_range_skips_every_overlap():
    taken = [subids.SubIdRange("a", 100000, 65536), subids.SubIdRange("b", 165536, 100),
             subids.SubIdRange("c", 400000, 65536)]
    assert subids.next_free_start(taken) == 165636
    assert subids.next_free_start([]) == 100000
    assert subids.next_free_start([subids.SubIdRange("x", 300000, 5)]) == 100000


def test_adding_a_range_keeps_other_lines_byte_for_byte(tmp_path):
    original = "# local ranges\nalice:100000:65536\nbob:165536:65536"  # no final newline
    path = _write(tmp_path / "subuid", original)
    os.chmod(path, 0o640)
    added = subids.add_range(path, "berthremap")
    assert (added.first, added.count) == (231072, 65536)
    with open(path) as f:
        assert f.read() == original + "\nberthremap:231072:65536\n"
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert sorted(os.listdir(tmp_path)) == ["subuid"]  # no lock or temp file left


def test_an_owner_with_a_range_is_left_alone(tmp_path):
    path = _write(tmp_path / "subuid", "berthremap:500000:65536\n")
    assert subids.add_range(path, "berthremap").first == 500000
    with open(path) as f:
        assert f.read() == "berthremap:500000:65536\n"


def test_a_missing_file_is_created(tmp_path):
    path = str(tmp_path / "subgid")
    subids.add_range(path, "berthremap")
    with open(path) as f:
        assert f.read() == "berthremap:100000:65536\n"


def test_a_stale_lock_is_removed_and_a_live_one_waited_for(tmp_path):
    path = _write(tmp_path / "subuid", "")
    with open(path + ".lock", "w") as f:
        f.write("999999999")  # no such process
    subids.add_range(path, "a")
    with open(path + ".lock", "w") as f:
        f.write(str(os.getpid()))  # held by a live process (us) until released
    releaser = threading.Timer(0.3, os.unlink, [path + ".lock"])
    releaser.start()
    subids.add_range(path, "b")
    releaser.join()
    with open(path) as f:
        assert f.read() == "a:100000:65536\nb:165536:65536\n"
