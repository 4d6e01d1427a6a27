"""vfs-specific behaviour: a child layer is an exact, independent copy of its parent."""

from __future__ import annotations

import os
import stat

from berth.testing.graph_kit import open_graph, tree_snapshot


def test_copy_keeps_special_files_xattrs_and_hardlinks(tmp_path):
    g = open_graph("vfs", str(tmp_path / "vfs"))
    g.create("base", None)
    path = g.mount("base")
    try:
        os.mkfifo(os.path.join(path, "fifo"), 0o620)
        os.mknod(os.path.join(path, "null"), stat.S_IFCHR | 0o666, os.makedev(1, 3))
        with open(os.path.join(path, "f"), "w") as f:
            f.write("data")
        os.setxattr(os.path.join(path, "f"), "user.k", b"v")
        os.link(os.path.join(path, "f"), os.path.join(path, "f2"))
        os.symlink("f", os.path.join(path, "ln"))
        os.chown(os.path.join(path, "ln"), 7, 8, follow_symlinks=False)
        os.makedirs(os.path.join(path, "d/e"))
        os.chmod(os.path.join(path, "d"), 0o3751)
    finally:
        g.unmount("base")
    g.create("child", "base")
    base, child = g.mount("base"), g.mount("child")
    try:
        assert tree_snapshot(child) == tree_snapshot(base)
        assert os.getxattr(os.path.join(child, "f"), "user.k") == b"v"
        assert os.stat(os.path.join(child, "f")).st_ino == os.stat(os.path.join(child, "f2")).st_ino
        assert os.stat(os.path.join(child, "f")).st_ino != os.stat(os.path.join(base, "f")).st_ino
        with open(os.path.join(child, "f"), "w") as f:
            f.write("changed")
        assert open(os.path.join(base, "f")).read() == "data"
    finally:
        g.unmount("base")
        g.unmount("child")
    assert dict(g.status())["Reflink"] in ("true", "false")
