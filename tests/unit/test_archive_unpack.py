"""Unpacking an image archive for ``load`` (berth.images.unpacked): digests, links, disk.

The whole corpus runs through berthd in tests/integration/test_hostile_archives.py; these pin
what the scratch copy itself does.
"""

from __future__ import annotations

import io
import os

import pytest

from berth.errors import InvalidArgument, UnsafeArchive
from berth.images.unpacked import UnpackedArchive
from tests.hostile_archives import entry, make_tar, sha256


def unpack(tmp_path, data: bytes) -> UnpackedArchive:
    archive = UnpackedArchive(str(tmp_path))
    archive.unpack(io.BytesIO(data))
    return archive


def test_a_file_of_zeros_is_unpacked_as_a_hole(tmp_path):
    archive = unpack(tmp_path, make_tar(entry("zeros", data=b"x" + bytes(64 << 20))))
    st = os.stat(archive.path("zeros"))
    assert st.st_size == (64 << 20) + 1 and st.st_blocks * 512 <= (2 << 20)  # the first chunk holds the x
    assert archive.sha256["zeros"] == sha256(b"x" + bytes(64 << 20))


def test_a_blob_is_checked_against_its_name_as_it_is_written(tmp_path):
    with pytest.raises(InvalidArgument, match=f"blobs/sha256/{sha256(b'a')} in the image archive does not match"):
        unpack(tmp_path, make_tar(entry(f"blobs/sha256/{sha256(b'a')}", data=b"b")))


def test_a_config_named_after_its_digest_is_checked(tmp_path):
    with pytest.raises(InvalidArgument, match="does not match its digest"):
        unpack(tmp_path, make_tar(entry(f"{sha256(b'{}')}.json", data=b'{"x": 1}')))


def test_a_blob_reached_through_a_link_is_checked_when_used(tmp_path):
    name = f"blobs/sha256/{sha256(b'a')}"
    archive = unpack(tmp_path, make_tar(entry("other", data=b"b"), entry(name, "symlink", linkname="../../other")))
    with pytest.raises(InvalidArgument, match="does not match its digest"):
        archive.path(name)


def test_a_matching_blob_through_a_hard_link_is_found(tmp_path):
    name = f"blobs/sha256/{sha256(b'a')}"
    archive = unpack(tmp_path, make_tar(entry("real", data=b"a"), entry(name, "hardlink", linkname="real")))
    assert open(archive.path(name), "rb").read() == b"a"


def test_an_entry_under_a_link_of_the_archive_is_refused(tmp_path):
    with pytest.raises(UnsafeArchive, match="passes through 'blobs'"):
        unpack(tmp_path, make_tar(entry("blobs", "symlink", linkname="/"), entry("blobs/x", data=b"x")))
