"""A blob in flight between its download (writer) and the layer's extraction (reader, another thread)."""

from __future__ import annotations

import os
import threading

import pytest

from berth.registry.errors import DigestMismatch
from berth.registry.spool import BlobSpool, SpoolReader


def read_all(spool: BlobSpool) -> bytes:
    reader, out = SpoolReader(spool), []
    while chunk := reader.read(7000):
        out.append(chunk)
    return b"".join(out)


def test_bytes_come_out_in_order_across_memory_and_the_overflow_file(tmp_path):
    spool = BlobSpool(str(tmp_path), memory_limit=10_000)
    chunks = [os.urandom(n) for n in (4000, 5000, 3000, 8000, 100)]
    for chunk in chunks:  # 9000 bytes fit in memory, the rest goes to the file
        spool.write(chunk)
    head = SpoolReader(spool).read(3000)
    spool.write(b"tail")  # memory has room again, but the file still holds earlier bytes
    spool.finish()
    assert head + read_all(spool) == b"".join(chunks) + b"tail"


def test_the_overflow_file_has_no_name(tmp_path):
    spool = BlobSpool(str(tmp_path), memory_limit=10)
    spool.write(os.urandom(1000))
    assert os.listdir(tmp_path) == []
    spool.finish()
    assert len(read_all(spool)) == 1000
    spool.close()


def test_a_reader_waits_for_bytes_that_have_not_arrived_yet(tmp_path):
    spool = BlobSpool(str(tmp_path))
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(read_all(spool)))
    reader.start()
    spool.write(b"early ")
    spool.write(b"late")
    assert reader.is_alive()  # no end yet: still waiting
    spool.finish()
    reader.join(30)
    assert got == [b"early late"]


def test_a_failed_download_fails_the_reader_instead_of_ending_it(tmp_path):
    spool = BlobSpool(str(tmp_path))
    spool.write(b"some bytes")
    spool.fail(DigestMismatch("blob sha256:x failed verification"))
    with pytest.raises(DigestMismatch, match="failed verification"):
        read_all(spool)


def test_an_abort_wakes_a_waiting_reader(tmp_path):
    spool = BlobSpool(str(tmp_path))
    errors: list[BaseException] = []

    def read() -> None:
        try:
            read_all(spool)
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    spool.abort(RuntimeError("the pull stopped"))
    reader.join(30)
    assert not reader.is_alive() and str(errors[0]) == "the pull stopped"
