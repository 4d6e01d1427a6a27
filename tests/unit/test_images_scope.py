"""Path resolution inside a root (the one used by cp, the init layer, the builder and the native driver)."""

from __future__ import annotations

import os

import pytest

from berth.errors import InvalidArgument
from berth.images.scope import Tree, clean, resolve_in_root


def test_absolute_symlinks_restart_at_the_root(tmp_path):
    (tmp_path / "etc").mkdir()
    os.symlink("/etc", tmp_path / "abs")
    assert resolve_in_root(str(tmp_path), "/abs/passwd") == str(tmp_path / "etc" / "passwd")


def test_climbing_out_with_dotdot_stops_at_the_root(tmp_path):
    (tmp_path / "etc").mkdir()
    os.symlink("../../../../etc", tmp_path / "escape")
    os.symlink("../../../..", tmp_path / "up")
    assert resolve_in_root(str(tmp_path), "/escape/x") == str(tmp_path / "etc" / "x")
    assert resolve_in_root(str(tmp_path), "/up/etc") == str(tmp_path / "etc")
    assert resolve_in_root(str(tmp_path), "/../../x") == str(tmp_path / "x")


def test_a_final_symlink_is_kept_when_not_followed(tmp_path):
    os.symlink("/etc", tmp_path / "escape")
    assert resolve_in_root(str(tmp_path), "/escape", follow_final=False) == str(tmp_path / "escape")
    assert resolve_in_root(str(tmp_path), "/escape") == str(tmp_path / "etc")


def test_missing_components_are_appended_unresolved(tmp_path):
    (tmp_path / "file").write_text("x")
    assert resolve_in_root(str(tmp_path), "/no/such/dir") == str(tmp_path / "no" / "such" / "dir")
    assert resolve_in_root(str(tmp_path), "/file/below") == str(tmp_path / "file" / "below")


def test_symlink_loops_are_refused(tmp_path):
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    with pytest.raises(InvalidArgument, match="too many levels of symbolic links"):
        resolve_in_root(str(tmp_path), "/a/x")


def test_clean_makes_paths_absolute_and_normal():
    assert clean("a/../b/./c/") == "/b/c"
    assert clean("") == "/"


@pytest.fixture
def mounted(tmp_path):
    """A root with /etc, and a volume (a host directory elsewhere) mounted on /vol."""
    root, volume = tmp_path / "root", tmp_path / "volume"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0::/:/bin/sh\n")
    volume.mkdir()
    (volume / "v.txt").write_text("v")
    os.symlink("/etc", volume / "etc-link")
    os.symlink("/vol", root / "lnk")
    return Tree(str(root), {"/vol": str(volume)}), root, volume


def test_a_path_in_a_mount_lives_in_the_mounted_directory(mounted):
    tree, root, volume = mounted
    assert tree.resolve("/vol/v.txt") == str(volume / "v.txt")
    assert tree.resolve("/lnk/v.txt") == str(volume / "v.txt")
    assert tree.host("/") == str(root) + "/"


def test_a_mounted_directorys_absolute_symlink_leads_to_the_containers_root(mounted):
    tree, root, _ = mounted
    assert tree.resolve("/vol/etc-link/passwd") == str(root / "etc" / "passwd")
    assert tree.resolve_container_path("/vol/etc-link/passwd") == "/etc/passwd"


def test_a_walk_crosses_into_mounts_even_where_nothing_lies_beneath(mounted):
    tree, _, volume = mounted
    entries = {rel: host for rel, host, _ in tree.walk("/")}
    assert entries["vol"] == str(volume)
    assert entries["vol/v.txt"] == str(volume / "v.txt")
    assert list(entries) == sorted(entries)


def test_mounts_below_a_directory_are_keyed_relative_to_it(mounted):
    tree, _, volume = mounted
    assert tree.mounts_below("/") == {"vol": str(volume)}
    assert tree.mounts_below("/etc") == {}
