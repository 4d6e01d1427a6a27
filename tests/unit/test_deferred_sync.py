"""One flush instead of many: writes inside ``deferred_sync`` skip their fsyncs until the caller's syncfs."""

from __future__ import annotations

import os

from berth import fsutil
from berth.images.metadata import MetadataDB


def count_fsyncs(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    return calls


def test_atomic_write_fsyncs_file_and_directory_by_default(tmp_path, monkeypatch):
    calls = count_fsyncs(monkeypatch)
    fsutil.atomic_write(str(tmp_path / "state"), b"x")
    assert len(calls) == 2


def test_atomic_write_without_sync_skips_its_fsyncs_but_still_replaces_atomically(tmp_path, monkeypatch):
    (tmp_path / "hosts").write_bytes(b"old")
    calls = count_fsyncs(monkeypatch)
    fsutil.atomic_write(str(tmp_path / "hosts"), b"new", sync=False)
    assert calls == []
    assert (tmp_path / "hosts").read_bytes() == b"new" and os.listdir(tmp_path) == ["hosts"]


def test_a_containers_etc_files_are_written_without_fsyncs(tmp_path, monkeypatch):
    from berth.containers import etcfiles

    calls = count_fsyncs(monkeypatch)
    written = etcfiles.write_etc_files(str(tmp_path), "box", "127.0.0.1 localhost\n", "nameserver 10.0.0.1\n")
    assert calls == [] and open(written["/etc/hostname"]).read() == "box\n"


def test_atomic_write_inside_deferred_sync_skips_its_fsyncs_but_still_replaces_atomically(tmp_path, monkeypatch):
    calls = count_fsyncs(monkeypatch)
    with fsutil.deferred_sync():
        fsutil.atomic_write(str(tmp_path / "state"), b"new")
        fsutil.fsync_dir(str(tmp_path))
    assert calls == []
    assert (tmp_path / "state").read_bytes() == b"new" and os.listdir(tmp_path) == ["state"]
    fsutil.fsync_dir(str(tmp_path))
    assert len(calls) == 1  # outside the block, durable again


def synchronous(db: MetadataDB) -> int:
    return db.query("PRAGMA synchronous")[0][0]


def test_metadata_commits_inside_deferred_sync_do_not_wait_for_the_disk(tmp_path):
    db = MetadataDB(str(tmp_path / "metadata.db"))
    try:
        with fsutil.deferred_sync():
            with db.tx() as conn:
                assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
            with db.tx(durable=True) as conn:
                assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL, asked for
        assert synchronous(db) == 2
        with db.tx() as conn:
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    finally:
        db.close()
