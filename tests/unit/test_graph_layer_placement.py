"""Where graph drivers put their layers on disk: spread over the filesystem's block groups where it can."""

from __future__ import annotations

import os

from berth.testing.graph_kit import open_graph
from tests.helpers import open_store


def _topdir_flag(path) -> bool | None:
    """Whether ``path`` has ext4's ``+T`` (top of a directory hierarchy) flag; None where flags are unknown."""
    import fcntl
    import struct

    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return bool(struct.unpack("i", fcntl.ioctl(fd, 0x80086601, bytes(8))[:4])[0] & 0x00020000)
    except OSError:
        return None
    finally:
        os.close(fd)


def test_layer_directories_are_spread_over_the_filesystem_where_it_can(tmp_path):
    """overlay's root and vfs's layer directory carry ext4's +T, so a layer made right after another was
    removed does not land in its block group (where ext4 without a journal walks the freed inodes)."""
    from berth.plugins.graphdrivers.fsinfo import spread_subdirectories

    open_graph("overlay", str(tmp_path / "o"))
    open_store(str(tmp_path / "v"))
    if _topdir_flag(tmp_path) is None:
        assert not spread_subdirectories(str(tmp_path))
    else:
        assert _topdir_flag(tmp_path / "o") and _topdir_flag(tmp_path / "v" / "vfs" / "dir")
        assert not _topdir_flag(tmp_path)
