"""Path resolution inside a root (the one used by cp, the init layer, the builder and the native driver)."""

from __future__ import annotations

import os

import pytest

from berth.errors import InvalidArgument
from berth.images.scope import clean, resolve_in_root


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
