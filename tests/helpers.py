"""Small helpers shared by several test modules (fixtures are imported where they are used).

``api`` sends one raw Engine API request to a berthd (status codes and bodies exactly as
sent, for tests that compare them with dockerd's). The image-store tests run on a real vfs
graph driver in a temp dir; ``layer_tar`` makes the layer tars they feed it, ``make_image``
stacks one on an image. The image and filesystem command tests run against
``storage_daemon``: one berthd per graph driver.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile

import pytest

from berth.images.store import Image, ImageStore
from berth.testing.graph_kit import open_graph
from tests.conftest import Daemon, _unmount_all
from tests.unixhttp import UnixHTTPConnection


def api(daemon, method: str, path: str, body=None, raw: bytes | None = None,
        headers: dict | None = None) -> tuple[int, object]:
    """One request; the decoded JSON body (or the raw text when it is not JSON)."""
    conn = UnixHTTPConnection(daemon.socket)
    try:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        text = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(text) if text else None
    except ValueError:
        return resp.status, text.decode(errors="replace")


def layer_tar(files: dict[str, bytes]) -> bytes:
    """An uncompressed layer tar of regular files (sorted, mtime 1, so equal input gives equal bytes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in sorted(files.items()):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime = len(data), 1
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def open_store(data_root: str) -> ImageStore:
    """An image store under ``data_root`` on the vfs graph driver (``<data_root>/vfs``)."""
    return ImageStore(data_root, open_graph("vfs", os.path.join(data_root, "vfs")))


def make_image(store: ImageStore, files: dict[str, bytes], ref: str, parent_image: Image | None = None) -> Image:
    """An image tagged ``ref``: ``parent_image``'s layers plus one layer holding ``files``."""
    parent_chain = parent_image.top_layer if parent_image else None
    layer = store.add_layer(parent_chain, io.BytesIO(layer_tar(files)))
    layers = [*(store.image_layers(parent_image) if parent_image else []), layer]
    return store.create_image({"architecture": "amd64", "os": "linux", "created": ref, "config": {}}, layers, ref,
                              parent=parent_image.id if parent_image else "")


@pytest.fixture(name="data_root")
def data_root_fixture(tmp_path) -> str:
    """The data-root of the test's image store (reopen it there to test persistence)."""
    return str(tmp_path / "data")


@pytest.fixture(name="store")
def store_fixture(data_root: str):
    """An image store on vfs in ``data_root``, closed after the test."""
    s = open_store(data_root)
    yield s
    s.close()


@pytest.fixture(name="daemon", scope="module", params=["vfs", "overlay"])
def storage_daemon(request, suite_tmp, busybox_path):
    """A berthd on each graph driver in turn (``daemon.driver``), busybox bootstrapped, shared by the module."""
    base = tempfile.mkdtemp(prefix=f"{request.param}-", dir=suite_tmp)
    d = Daemon(base, ["-s", request.param]).start()
    result = d.cli("image", "bootstrap", "busybox")
    assert result.returncode == 0, result.stderr.decode() + d.log()
    d.driver = request.param
    yield d
    d.remove_everything()
    d.stop()
    _unmount_all(base)
