"""Reading compressed layers: gzip through ISA-L, zstd through the standard binding, sniffed by magic."""

from __future__ import annotations

import gzip
import io
import os

import pytest

from berth.errors import InvalidArgument
from berth.images import compression
from berth.images.compression import Decompressing, decompressed

try:
    from compression import zstd  # type: ignore[import-not-found]
except ImportError:
    from backports import zstd  # type: ignore[no-redef]

DATA = os.urandom(300_000) + b"a" * 1_000_000 + os.urandom(5_000)


def read_all(blob: bytes, size: int = 1 << 16) -> bytes:
    stream, out = decompressed(io.BytesIO(blob)), []
    while chunk := stream.read(size):
        out.append(chunk)
    return b"".join(out)


def test_gzip_layers_go_through_isal():
    assert compression.gzip_backend() == "isal"


@pytest.mark.parametrize("kind, compress", [("gzip", gzip.compress), ("zstd", zstd.compress)])
def test_every_member_or_frame_is_read(kind, compress):
    assert read_all(compress(DATA) + compress(b"second")) == DATA + b"second"


def test_a_plain_tar_passes_through_unchanged():
    assert read_all(b"plain tar bytes") == b"plain tar bytes"


def test_zero_padding_after_the_last_gzip_member_is_tolerated():
    assert read_all(gzip.compress(DATA) + b"\0" * 1000) == DATA


def test_data_after_the_last_gzip_member_is_refused():
    with pytest.raises(InvalidArgument, match="unexpected data after the last member"):
        read_all(gzip.compress(DATA) + b"junk")


@pytest.mark.parametrize("kind, compress", [("gzip", gzip.compress), ("zstd", zstd.compress)])
def test_a_truncated_stream_is_refused(kind, compress):
    with pytest.raises(InvalidArgument, match=f"not valid {kind}: the stream is truncated"):
        read_all(compress(DATA)[:-5])


def test_a_gzip_member_whose_checksum_fails_is_refused():
    blob = bytearray(gzip.compress(os.urandom(100_000)))  # stored blocks: flipped bytes only break the CRC
    blob[5000] ^= 0xFF
    with pytest.raises(InvalidArgument, match="not valid gzip"):
        read_all(bytes(blob))


def test_garbage_after_a_zstd_frame_is_refused():
    with pytest.raises(InvalidArgument, match="not valid zstd"):
        read_all(zstd.compress(DATA) + b"junk")


@pytest.mark.parametrize("kind, compress", [("gzip", gzip.compress), ("zstd", zstd.compress)])
def test_one_read_of_a_bomb_returns_no_more_than_was_asked(kind, compress):
    stream = Decompressing(io.BytesIO(compress(b"\0" * (64 << 20))), kind)
    buf = bytearray(4096)
    assert stream.readinto(buf) == 4096
