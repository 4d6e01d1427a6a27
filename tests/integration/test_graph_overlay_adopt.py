"""overlay's ``graph_adopt_diff``: moving a build step's upper directory into a new layer gives exactly
what diffing it and applying the tar gives (the classic builder's commit without the tar round trip)."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import stat

import pytest

from berth.errors import NotSupported
from berth.plugins.graphdrivers.whiteout import is_whiteout
from berth.testing.graph_kit import mounts_under, open_graph
from tests.integration.test_graph_overlay import make_tar

SUBSECOND = 1_700_000_000_123_456_789


@pytest.fixture
def graph(tmp_path):
    root = str(tmp_path / "overlay")
    g = open_graph("overlay", root)
    g.create("base", None)
    g.apply_diff("base", None, make_tar(("d", None), ("d/old", b"old"), ("gone", b"g"), ("keep", b"k"),
                                        ("opq", None), ("opq/hidden", b"h")))
    yield g
    g.cleanup()
    assert mounts_under(root) == []


def step(graph, layer_id: str, change) -> None:
    """A build step: a read-write layer on ``base`` changed through its mount, then unmounted."""
    graph.create_rw(layer_id, "base", {})
    path = graph.mount(layer_id)
    try:
        change(path)
    finally:
        graph.unmount(layer_id)


def many_kinds(root: str) -> None:
    os.unlink(os.path.join(root, "gone"))                       # a whiteout
    with open(os.path.join(root, "d", "old"), "a") as f:        # a copied-up file (overlay xattrs on d)
        f.write("+")
    for name in os.listdir(os.path.join(root, "opq")):           # an opaque directory
        os.unlink(os.path.join(root, "opq", name))
    os.rmdir(os.path.join(root, "opq"))
    os.mkdir(os.path.join(root, "opq"))
    os.makedirs(os.path.join(root, "new", "deep"))
    with open(os.path.join(root, "new", "deep", "file"), "wb") as f:
        f.write(os.urandom(5000))
    os.chmod(os.path.join(root, "new", "deep", "file"), 0o4755)
    os.chown(os.path.join(root, "new", "deep", "file"), 1000, 1000)
    os.setxattr(os.path.join(root, "new", "deep", "file"), "user.note", b"kept")
    os.link(os.path.join(root, "new", "deep", "file"), os.path.join(root, "new", "hard"))
    os.symlink("deep/file", os.path.join(root, "new", "link"))
    os.mkfifo(os.path.join(root, "new", "fifo"))
    for rel in ("new/deep/file", "new/deep", "new", "d/old"):
        os.utime(os.path.join(root, rel), ns=(SUBSECOND, SUBSECOND))


def snapshot(graph, layer_id: str) -> dict:
    """Everything a layer's upper directory holds (atimes aside: reading a file may move them)."""
    upper = os.path.join(graph.driver.root, layer_id, "diff")
    out = {}
    for current, dirs, files in os.walk(upper):
        for name in dirs + files:
            path = os.path.join(current, name)
            st = os.lstat(path)
            entry = {"type": stat.S_IFMT(st.st_mode), "whiteout": is_whiteout(st)}
            if not is_whiteout(st):  # extraction makes whiteouts anew, at its own time
                entry.update(mode=stat.S_IMODE(st.st_mode), owner=(st.st_uid, st.st_gid), mtime=st.st_mtime_ns,
                             nlink=st.st_nlink,
                             xattrs={n: os.getxattr(path, n, follow_symlinks=False)
                                     for n in sorted(os.listxattr(path, follow_symlinks=False))})
            if stat.S_ISREG(st.st_mode):
                entry["sha"] = hashlib.sha256(open(path, "rb").read()).hexdigest()
            if stat.S_ISLNK(st.st_mode):
                entry["target"] = os.readlink(path)
            out[os.path.relpath(path, upper)] = entry
    return out


def test_adopting_a_step_gives_the_layer_its_diff_would_give(graph):
    step(graph, "step", many_kinds)
    with graph.diff("step", "base") as stream:
        tar = stream.read()
    graph.create("applied", "base")
    applied_size = graph.apply_diff("applied", "base", io.BytesIO(tar))
    graph.create("adopted", "base")
    adopted_size = graph.adopt_diff("adopted", "base", "step", "base")
    assert adopted_size == applied_size
    assert snapshot(graph, "adopted") == snapshot(graph, "applied")
    with graph.diff("adopted", "base") as stream:
        assert stream.read() == tar


def test_an_adopted_step_leaves_its_source_empty_and_removable(graph):
    step(graph, "step", many_kinds)
    graph.create("adopted", "base")
    graph.adopt_diff("adopted", "base", "step", "base")
    assert os.listdir(os.path.join(graph.driver.root, "step", "diff")) == []
    graph.remove("step")
    assert not graph.exists("step")


def test_a_socket_is_not_adopted_and_nothing_moves(graph):
    def with_socket(root: str) -> None:
        with open(os.path.join(root, "file"), "w") as f:
            f.write("x")
        socket.socket(socket.AF_UNIX).bind(os.path.join(root, "sock"))

    step(graph, "step", with_socket)
    graph.create("adopted", "base")
    with pytest.raises(NotSupported, match="socket"):
        graph.adopt_diff("adopted", "base", "step", "base")
    assert sorted(os.listdir(os.path.join(graph.driver.root, "step", "diff"))) == ["file", "sock"]
    assert os.listdir(os.path.join(graph.driver.root, "adopted", "diff")) == []


def test_a_symlink_climbing_out_of_the_layer_is_not_adopted(graph):
    step(graph, "step", lambda root: os.symlink("../../etc/passwd", os.path.join(root, "out")))
    graph.create("adopted", "base")
    with pytest.raises(NotSupported, match="symlink out of the layer"):
        graph.adopt_diff("adopted", "base", "step", "base")


def test_a_mounted_layer_is_not_adopted(graph):
    graph.create_rw("step", "base", {})
    graph.mount("step")
    try:
        graph.create("adopted", "base")
        with pytest.raises(NotSupported, match="mounted"):
            graph.adopt_diff("adopted", "base", "step", "base")
    finally:
        graph.unmount("step")


def test_a_source_diffed_against_another_layer_is_not_adopted(graph):
    graph.create("mid", "base")
    graph.create_rw("step", "mid", {})
    graph.create("adopted", "base")
    with pytest.raises(NotSupported, match="own parent"):
        graph.adopt_diff("adopted", "base", "step", "base")
