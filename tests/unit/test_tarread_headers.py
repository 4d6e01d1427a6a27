"""The tar header reader (``berth.images.tarread.CheckedTarInfo.frombuf``): its fast path for common headers
reads every header exactly as ``tarfile``'s own reader does, also damaged ones."""

from __future__ import annotations

import io
import random
import tarfile

from berth.images.tarread import CheckedTarInfo
from tests.hostile_archives import entry, layer_cases, make_tar

FIELDS = ("name", "mode", "uid", "gid", "size", "mtime", "chksum", "type", "linkname", "uname", "gname",
          "devmajor", "devminor")


def read(cls, block: bytes):
    """Every field ``cls`` reads from ``block``, or the name of the error it raises."""
    try:
        info = cls.frombuf(block, "utf-8", "surrogateescape")
    except Exception as exc:  # noqa: BLE001 - the error is the answer compared
        return type(exc).__name__
    return tuple(getattr(info, f) for f in FIELDS) + (getattr(info, "_sparse_structs", None),)


def header_blocks() -> list[bytes]:
    """Every 512-byte block of archives in each format tarfile writes, and of the hostile corpus."""
    archives = [case.data for case in layer_cases("/sentinel") if isinstance(getattr(case, "data", None), bytes)]
    archives.append(make_tar(entry("a/b", data=b"x"), entry("d", "dir"), entry("l", "symlink", linkname="/etc")))
    for fmt in (tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
            for name, kind in (("a/b/c", tarfile.REGTYPE), ("dir/", tarfile.DIRTYPE), ("x" * 150 + "/y", tarfile.REGTYPE),
                               ("l", tarfile.SYMTYPE), ("v7dir/", tarfile.AREGTYPE)):
                info = tarfile.TarInfo(name)
                info.type, info.linkname, info.uid = kind, "t" if kind == tarfile.SYMTYPE else "", 70000
                info.mtime = 2 ** 33 if fmt == tarfile.GNU_FORMAT else 5  # base-256 in GNU's format
                tar.addfile(info)
        archives.append(buf.getvalue())
    blocks = {data[i:i + 512] for data in archives for i in range(0, len(data) - 511, 512)}
    return sorted(blocks)


def damaged(block: bytes, rnd: random.Random) -> bytes:
    """``block`` with a few bytes changed, its checksum mostly recomputed so the damage is read."""
    out = bytearray(block)
    for _ in range(rnd.randint(1, 3)):
        out[rnd.randrange(512)] = rnd.choice([0, 32, 47, 48, 55, 56, 0x80, 0xFF, rnd.randrange(256)])
    if rnd.random() < 0.7:
        out[148:156] = b" " * 8
        out[148:156] = b"%06o\0 " % sum(out)
    return bytes(out)


def test_the_header_corpus_has_headers_of_every_kind():
    kinds = {read(tarfile.TarInfo, block)[7] for block in header_blocks() if isinstance(read(tarfile.TarInfo, block), tuple)}
    assert {tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME} <= kinds


def test_headers_are_read_exactly_as_tarfile_reads_them():
    rnd = random.Random(17)
    for block in header_blocks():
        damage = isinstance(read(tarfile.TarInfo, block), tuple)  # a header: read it damaged in many ways too
        for variant in [block] + [damaged(block, rnd) for _ in range(60 if damage else 0)]:
            assert read(CheckedTarInfo, variant) == read(tarfile.TarInfo, variant), variant
