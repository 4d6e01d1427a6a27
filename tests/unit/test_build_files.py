"""COPY/ADD file work: confined path resolution, Docker's COPY destination rules, wildcards, checksums."""

from __future__ import annotations

import os

import pytest

from berth.build import fscopy, sources
from berth.errors import InvalidArgument


def test_copy_file_into_existing_directory_and_to_a_new_name(tmp_path):
    root, src = tmp_path / "root", tmp_path / "src"
    (root / "dir").mkdir(parents=True)
    src.mkdir()
    (src / "f.txt").write_text("x")
    fscopy.copy_into(str(root), [str(src / "f.txt")], "/dir", "/", fscopy.Owner(), "COPY")
    fscopy.copy_into(str(root), [str(src / "f.txt")], "renamed", "/work", fscopy.Owner(), "COPY")
    assert (root / "dir" / "f.txt").read_text() == "x"
    assert (root / "work" / "renamed").read_text() == "x"


def test_copy_directory_copies_its_contents(tmp_path):
    root, src = tmp_path / "root", tmp_path / "src"
    root.mkdir()
    (src / "inner").mkdir(parents=True)
    (src / "inner" / "a").write_text("a")
    fscopy.copy_into(str(root), [str(src)], "/dest", "/", fscopy.Owner(uid=12, gid=34), "COPY")
    assert (root / "dest" / "inner" / "a").read_text() == "a"
    assert os.stat(root / "dest" / "inner" / "a").st_uid == 12


def test_several_sources_need_a_directory_destination(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "a").write_text("a")
    (tmp_path / "b").write_text("b")
    with pytest.raises(InvalidArgument, match="must be a directory and end with a /"):
        fscopy.copy_into(str(root), [str(tmp_path / "a"), str(tmp_path / "b")], "/x", "/", fscopy.Owner(), "COPY")


def test_wildcards_match_within_one_path_component(tmp_path):
    for rel in ("a.txt", "b.txt", "c.md", "sub/d.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    found = sources.expand(str(tmp_path), "*.txt", "COPY")
    assert [os.path.basename(p) for p in found] == ["a.txt", "b.txt"]
    assert [os.path.relpath(p, tmp_path) for p in sources.expand(str(tmp_path), "s?b/*.txt", "COPY")] == ["sub/d.txt"]
    with pytest.raises(InvalidArgument, match="no source files"):
        sources.expand(str(tmp_path), "*.nothing", "COPY")
    with pytest.raises(InvalidArgument, match="outside the build context"):
        sources.expand(str(tmp_path), "../x", "COPY")


def test_a_wildcard_source_follows_symlinks_inside_the_tree_never_out_of_it(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "a1" / "real").mkdir(parents=True)
    (root / "a1" / "real" / "secret").write_text("inside")
    outside.mkdir()
    (outside / "secret").write_text("host file")
    os.symlink(str(outside), root / "a1" / "abs")  # absolute: means the tree's own /…/outside
    os.symlink("real", root / "a1" / "rel")
    assert [open(p).read() for p in sources.expand(str(root), "a*/rel/secret", "COPY")] == ["inside"]
    with pytest.raises(InvalidArgument, match="no source files"):
        sources.expand(str(root), "a*/abs/secret", "COPY")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x").write_text("dot dir")
    assert [open(p).read() for p in sources.expand(str(root), "*/x", "COPY")] == ["dot dir"]


def test_checksum_follows_content_and_mode_not_mtime(tmp_path):
    f = tmp_path / "f"
    f.write_text("one")
    first = sources.checksum(str(f))
    os.utime(f, (1, 1))
    assert sources.checksum(str(f)) == first
    os.chmod(f, 0o600)
    assert sources.checksum(str(f)) != first
    f.write_text("two")
    assert sources.checksum(str(f)) != first
