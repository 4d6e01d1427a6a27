"""A layer's original tar comes back byte for byte from the store (tar-split), and changes are caught."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile

import pytest

from berth.errors import DriverError
from berth.images.bootstrap import build_layer
from berth.images.tarsplit import Recorder
from tests.helpers import data_root_fixture, store_fixture  # noqa: F401 - fixtures used by name


def awkward_tar() -> bytes:
    """GNU long names, PAX records, a hard link, an empty file, a symlink, odd sizes, trailing zero blocks."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        def add(name, data=b"", kind=tarfile.REGTYPE, link=""):
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname, ti.mtime, ti.size = kind, link, 7, len(data) if kind == tarfile.REGTYPE else 0
            tar.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
        add("d", kind=tarfile.DIRTYPE)
        add("d/" + "long" * 40, b"x" * 1000)
        add("d/empty")
        add("d/hard", kind=tarfile.LNKTYPE, link="d/" + "long" * 40)
        add("d/sym", kind=tarfile.SYMTYPE, link="/etc/passwd")
        add("d/odd", b"y" * 513)
    pax = io.BytesIO()
    with tarfile.open(fileobj=pax, mode="w", format=tarfile.PAX_FORMAT) as tar:
        ti = tarfile.TarInfo("p/ü-" + "n" * 120)
        data = b"pax content"
        ti.size, ti.mtime = len(data), 1.5
        tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue(), pax.getvalue()


def stored_tar(store, layer) -> bytes:
    size, stream = store.layer_tar(layer)
    with stream:
        data = stream.read()
    assert len(data) == size
    return data


@pytest.mark.parametrize("which", ["gnu", "pax", "busybox"])
def test_layer_tar_is_the_original_bytes(store, which):
    gnu, pax = awkward_tar()
    original = {"gnu": gnu, "pax": pax, "busybox": build_layer("/bin/busybox", 5) if os.path.exists("/bin/busybox") else gnu}[which]
    layer = store.add_layer(None, io.BytesIO(original))
    data = stored_tar(store, layer)
    assert data == original
    assert "sha256:" + hashlib.sha256(data).hexdigest() == layer.diff_id


def test_a_changed_layer_file_fails_the_stream(store):
    gnu, _ = awkward_tar()
    layer = store.add_layer(None, io.BytesIO(gnu))
    root = store.graph.mount(layer.cache_id)
    try:
        with open(os.path.join(root, "d/odd"), "r+b") as f:
            f.write(b"Z")  # same size, different bytes: only the digest can tell
    finally:
        store.graph.unmount(layer.cache_id)
    size, stream = store.layer_tar(layer)
    with stream, pytest.raises(DriverError, match="no longer hashes"):
        stream.read()


def test_recorder_splits_contents_from_metadata():
    gnu, _ = awkward_tar()
    rec = Recorder()
    for i in range(0, len(gnu), 77):  # arbitrary chunking
        rec.feed(gnu[i:i + 77])
    files = [e for e in rec.entries() if e[0] == "f"]
    assert [(f[1], f[2]) for f in files] == [("d/" + "long" * 40, 1000), ("d/odd", 513)]
    assert rec.total == len(gnu)
