"""overlay-specific behaviour beyond the conformance kit: on-disk layout, whiteout conversion, probing."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile

import pytest

from berth.fsutil import is_mountpoint
from berth.plugins.graphdrivers.overlay import OPAQUE_XATTR, OverlayDriver
from berth.testing.graph_kit import mounts_under, open_graph


@pytest.fixture
def graph(tmp_path):
    root = str(tmp_path / "overlay")
    g = open_graph("overlay", root)
    yield g
    g.cleanup()
    assert mounts_under(root) == []


def make_tar(*entries) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in entries:
            ti = tarfile.TarInfo(name)
            if data is None:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(ti)
            else:
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
    buf.seek(0)
    return buf


def base_with_files(graph):
    graph.create("base", None)
    graph.apply_diff("base", None, make_tar(("d", None), ("d/old", b"old"), ("f", b"f"), ("keep", b"k")))


def test_layout_has_short_links_and_lower_chain(graph):
    base_with_files(graph)
    graph.create("mid", "base")
    graph.create("top", "mid")
    root = graph.driver.root
    short = {lid: open(os.path.join(root, lid, "link")).read() for lid in ("base", "mid", "top")}
    assert all(len(s) == 26 for s in short.values())
    assert os.readlink(os.path.join(root, "l", short["base"])) == "../base/diff"
    assert open(os.path.join(root, "top", "lower")).read() == f"l/{short['mid']}:l/{short['base']}"
    assert not os.path.exists(os.path.join(root, "base", "lower"))
    meta = graph.metadata("top")
    assert meta["UpperDir"] == os.path.join(root, "top", "diff")
    assert meta["LowerDir"].split(":") == [os.path.join(root, "mid", "diff"), os.path.join(root, "base", "diff")]
    assert meta["WorkDir"].endswith("/top/work") and meta["MergedDir"].endswith("/top/merged")
    assert dict(graph.status())["Native Overlay Diff"] == "true"


def test_native_diff_turns_overlay_whiteouts_into_oci_ones(graph):
    base_with_files(graph)
    graph.create_rw("c", "base")
    path = graph.mount("c")
    try:
        os.unlink(os.path.join(path, "f"))
        os.unlink(os.path.join(path, "d", "old"))
        os.rmdir(os.path.join(path, "d"))
        os.mkdir(os.path.join(path, "d"))
        with open(os.path.join(path, "d", "new"), "w") as f:
            f.write("new")
    finally:
        graph.unmount("c")
    upper = os.path.join(graph.driver.root, "c", "diff")
    wh = os.lstat(os.path.join(upper, "f"))
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == 0
    assert os.getxattr(os.path.join(upper, "d"), OPAQUE_XATTR) == b"y"
    stream = graph.diff("c", "base")
    try:
        names = tarfile.open(fileobj=io.BytesIO(stream.read())).getnames()
    finally:
        stream.close()
    assert names == ["d", "d/.wh..wh..opq", "d/new", ".wh.f"]


def test_apply_turns_oci_whiteouts_into_overlay_ones(graph):
    base_with_files(graph)
    graph.create("layer", "base")
    graph.apply_diff("layer", "base", make_tar((".wh.f", b""), ("d", None), ("d/.wh..wh..opq", b""), ("d/x", b"x")))
    upper = os.path.join(graph.driver.root, "layer", "diff")
    assert stat.S_ISCHR(os.lstat(os.path.join(upper, "f")).st_mode)
    assert os.getxattr(os.path.join(upper, "d"), OPAQUE_XATTR) == b"y"
    assert not os.path.exists(os.path.join(upper, ".wh.f"))
    path = graph.mount("layer")
    try:
        assert sorted(os.listdir(path)) == ["d", "keep"]
        assert os.listdir(os.path.join(path, "d")) == ["x"]
    finally:
        graph.unmount("layer")


def test_diff_against_a_non_parent_uses_the_naive_diff(graph):
    base_with_files(graph)
    graph.create("mid", "base")
    graph.apply_diff("mid", "base", make_tar(("m", b"mm")))
    graph.create("top", "mid")
    graph.apply_diff("top", "mid", make_tar(("t", b"ttt")))
    assert [c.path for c in graph.changes("top", "base")] == ["/m", "/t"]
    assert graph.diff_size("top", "base") == 5
    assert graph.diff_size("top", "mid") == 3


def test_mount_refcount_and_mountpoint(graph):
    base_with_files(graph)
    graph.create_rw("c", "base")
    merged = graph.mount("c")
    assert graph.mount("c") == merged and is_mountpoint(merged)
    graph.unmount("c")
    assert is_mountpoint(merged)
    graph.unmount("c")
    assert not os.path.exists(merged)


def test_removing_a_mounted_layer_is_refused(graph):
    base_with_files(graph)
    graph.create_rw("c", "base")
    graph.mount("c")
    with pytest.raises(Exception, match="mounted"):
        graph.remove("c")
    graph.unmount("c")
    graph.remove("c")
    assert not graph.exists("c")


def test_probe_refuses_a_root_on_overlayfs(tmp_path):
    dirs = {n: tmp_path / n for n in ("lower", "upper", "work", "merged")}
    for d in dirs.values():
        d.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={dirs['lower']},upperdir={dirs['upper']},workdir={dirs['work']}", str(dirs["merged"])],
                   check=True)
    try:
        reason = OverlayDriver.probe(str(dirs["merged"] / "data"))
    finally:
        subprocess.run(["umount", str(dirs["merged"])], check=True)
    assert reason and "overlayfs" in reason
    assert OverlayDriver.probe(str(tmp_path / "ok")) is None
