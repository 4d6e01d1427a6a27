"""Safe layer extraction (berth.images.tarsafe) against a hostile corpus built in code.

Every hostile archive is aimed at a sentinel directory *outside* the extraction
root; each test checks both the error and that the sentinel is untouched.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile

import pytest

from berth.errors import InvalidArgument, UnsafeArchive
from berth.images.tarsafe import DeleteWhiteouts, extract_layer


# ---------------------------------------------------------------------------
# building archives
# ---------------------------------------------------------------------------


def entry(name, kind="file", data=b"", mode=None, uid=0, gid=0, mtime=1_000_000, linkname="", xattrs=None,
          dev=(0, 0)):
    return dict(name=name, kind=kind, data=data, mode=mode, uid=uid, gid=gid, mtime=mtime,
                linkname=linkname, xattrs=xattrs or {}, dev=dev)


_TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
          "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE, "chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE}


def make_tar(*entries) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            ti = tarfile.TarInfo(e["name"])
            ti.type = _TYPES[e["kind"]]
            ti.mode = e["mode"] if e["mode"] is not None else (0o755 if e["kind"] == "dir" else 0o644)
            ti.uid, ti.gid, ti.mtime = e["uid"], e["gid"], e["mtime"]
            ti.linkname = e["linkname"]
            ti.devmajor, ti.devminor = e["dev"]
            for k, v in e["xattrs"].items():
                ti.pax_headers["SCHILY.xattr." + k] = v.decode("utf-8", "surrogateescape")
            if e["kind"] == "file":
                ti.size = len(e["data"])
                tar.addfile(ti, io.BytesIO(e["data"]))
            else:
                tar.addfile(ti)
    return buf.getvalue()


@pytest.fixture
def dirs(tmp_path):
    """(root, outside): extraction root and a sentinel directory that must never change."""
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret").write_text("original")
    return root, outside


def outside_untouched(outside):
    assert sorted(os.listdir(outside)) == ["secret"]
    assert (outside / "secret").read_text() == "original"
    assert os.stat(outside / "secret").st_nlink == 1


def extract(data: bytes, root, whiteouts=None):
    return extract_layer(io.BytesIO(data), str(root), whiteouts)


# ---------------------------------------------------------------------------
# escapes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../escape", "a/../../escape", "./../escape", "a/b/../../../escape"])
def test_dotdot_names_are_refused(dirs, name):
    root, outside = dirs
    with pytest.raises(UnsafeArchive, match="outside the layer"):
        extract(make_tar(entry(name, data=b"x")), root)
    assert not (root.parent / "escape").exists()
    outside_untouched(outside)


def test_absolute_names_are_rooted_in_the_layer(dirs):
    root, outside = dirs
    extract(make_tar(entry(str(outside / "secret"), data=b"pwned")), root)
    outside_untouched(outside)
    assert (root / str(outside / "secret").lstrip("/")).read_bytes() == b"pwned"


def test_absolute_symlink_parent_is_followed_inside_the_root(dirs):
    root, outside = dirs
    extract(make_tar(entry("evil", "symlink", linkname=str(outside)), entry("evil/pwned", data=b"x")), root)
    outside_untouched(outside)
    assert (root / str(outside).lstrip("/") / "pwned").read_bytes() == b"x"
    assert os.readlink(root / "evil") == str(outside)


def test_symlink_to_root_then_write_stays_inside(dirs):
    root, outside = dirs
    extract(make_tar(entry("sub", "dir"), entry("sub/up", "symlink", linkname=".."),
                     entry("sub/up/sub/up/sub/up/top", data=b"t")), root)
    assert (root / "top").read_bytes() == b"t"
    outside_untouched(outside)


@pytest.mark.parametrize("target", ["../../..", "../outside", "a/../../.."])
def test_relative_symlink_escaping_the_layer_is_refused(dirs, target):
    root, outside = dirs
    with pytest.raises(UnsafeArchive, match="symlink"):
        extract(make_tar(entry("evil", "symlink", linkname=target), entry("evil/secret", data=b"x")), root)
    outside_untouched(outside)


def test_symlink_as_final_component_is_replaced_not_followed(dirs):
    root, outside = dirs
    extract(make_tar(entry("x", "symlink", linkname=str(outside / "secret")), entry("x", data=b"new")), root)
    outside_untouched(outside)
    assert not (root / "x").is_symlink()
    assert (root / "x").read_bytes() == b"new"


def test_existing_symlink_in_the_tree_is_followed_inside_the_root(dirs):
    root, outside = dirs
    os.symlink(str(outside), root / "preexisting")
    extract(make_tar(entry("preexisting/secret", data=b"pwned")), root)
    outside_untouched(outside)
    assert (root / str(outside).lstrip("/") / "secret").read_bytes() == b"pwned"


def test_symlink_loops_are_refused(dirs):
    root, outside = dirs
    with pytest.raises(UnsafeArchive, match="too many levels"):
        extract(make_tar(entry("loop", "symlink", linkname="loop"), entry("loop/x", data=b"x")), root)
    outside_untouched(outside)


@pytest.mark.parametrize("target", ["../outside/secret", "a/../../outside/secret"])
def test_hardlink_outside_the_layer_is_refused(dirs, target):
    root, outside = dirs
    with pytest.raises(UnsafeArchive, match="hard link"):
        extract(make_tar(entry("leak", "hardlink", linkname=target)), root)
    outside_untouched(outside)


def test_hardlink_through_a_symlink_resolves_inside_the_root(dirs):
    root, outside = dirs
    with pytest.raises(InvalidArgument, match="does not exist"):
        extract(make_tar(entry("h", "symlink", linkname=str(outside)), entry("leak", "hardlink", linkname="h/secret")), root)
    outside_untouched(outside)


def test_hardlink_to_absolute_path_means_inside_the_layer(dirs):
    root, outside = dirs
    extract(make_tar(entry("etc", "dir"), entry("etc/f", data=b"x"), entry("g", "hardlink", linkname="/etc/f")), root)
    assert os.stat(root / "g").st_ino == os.stat(root / "etc" / "f").st_ino


@pytest.mark.parametrize("kind,label", [("chr", "character"), ("blk", "block")])
def test_device_nodes_are_refused(dirs, kind, label):
    root, outside = dirs
    with pytest.raises(UnsafeArchive, match=f"{label} device node"):
        extract(make_tar(entry("dev", "dir"), entry("dev/sda", kind, dev=(8, 0))), root)
    assert not (root / "dev" / "sda").exists()


def test_whiteout_with_no_name_is_refused(dirs):
    root, _ = dirs
    with pytest.raises(UnsafeArchive, match="whiteout"):
        extract(make_tar(entry(".wh..")), root)


# ---------------------------------------------------------------------------
# malformed streams
# ---------------------------------------------------------------------------


def test_garbage_is_not_a_tar(dirs):
    root, _ = dirs
    with pytest.raises(InvalidArgument, match="not a valid tar") as info:
        extract(b"this is not a tar archive" * 100, root)
    assert not isinstance(info.value, UnsafeArchive)


def test_truncated_file_data_is_reported(dirs):
    root, _ = dirs
    data = make_tar(entry("big", data=b"a" * 5000))
    with pytest.raises(InvalidArgument, match="truncated"):
        extract(data[:512 + 2000], root)


def test_truncated_header_after_first_member_is_reported(dirs):
    root, _ = dirs
    data = make_tar(entry("a", data=b"1"), entry("b", data=b"2"))
    second_header = 1024 if data[1024:1025] != b"\0" else 1536
    with pytest.raises(InvalidArgument, match="truncated or corrupt"):
        extract(data[:second_header + 100], root)


def test_garbage_after_a_valid_member_is_reported(dirs):
    root, _ = dirs
    first = make_tar(entry("a", data=b"1"))
    end = first.index(b"\0" * 1024, 1024)  # start of end-of-archive blocks
    with pytest.raises(InvalidArgument, match="truncated or corrupt"):
        extract(first[:end] + b"\x01garbage" * 128, root)


def test_empty_stream_is_an_empty_layer(dirs):
    root, _ = dirs
    assert extract(b"", root).entries == 0
    assert os.listdir(root) == []


# ---------------------------------------------------------------------------
# fidelity
# ---------------------------------------------------------------------------


def test_modes_owners_times_are_exact(dirs):
    root, _ = dirs
    cap = b"\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    result = extract(make_tar(
        entry("d", "dir", mode=0o2750, uid=12, gid=34, mtime=111),
        entry("d/suid", data=b"abc", mode=0o4755, uid=1000, gid=1000, mtime=222, xattrs={"security.capability": cap}),
        entry("d/sgid", data=b"", mode=0o2711, uid=5, gid=6, mtime=333, xattrs={"user.note": b"hi\x00there"}),
        entry("tmp", "dir", mode=0o1777, mtime=444),
        entry("d/fifo", "fifo", mode=0o640, uid=7, gid=8, mtime=555),
        entry("d/link", "symlink", linkname="suid", uid=9, gid=10, mtime=666),
        entry("d/hard", "hardlink", linkname="d/suid"),
    ), root)
    d = os.lstat(root / "d")
    assert (stat.S_IMODE(d.st_mode), d.st_uid, d.st_gid, d.st_mtime) == (0o2750, 12, 34, 111)
    s = os.lstat(root / "d" / "suid")
    assert (stat.S_IMODE(s.st_mode), s.st_uid, s.st_gid, s.st_mtime, s.st_nlink) == (0o4755, 1000, 1000, 222, 2)
    assert os.getxattr(root / "d" / "suid", "security.capability") == cap
    g = os.lstat(root / "d" / "sgid")
    assert (stat.S_IMODE(g.st_mode), g.st_uid, g.st_gid) == (0o2711, 5, 6)
    assert os.getxattr(root / "d" / "sgid", "user.note") == b"hi\x00there"
    assert stat.S_IMODE(os.lstat(root / "tmp").st_mode) == 0o1777
    f = os.lstat(root / "d" / "fifo")
    assert stat.S_ISFIFO(f.st_mode) and (stat.S_IMODE(f.st_mode), f.st_uid, f.st_gid, f.st_mtime) == (0o640, 7, 8, 555)
    link = os.lstat(root / "d" / "link")
    assert (link.st_uid, link.st_gid, link.st_mtime) == (9, 10, 666)
    assert os.stat(root / "d" / "hard").st_ino == s.st_ino
    assert result.size == 3  # regular file bytes; the hard link adds none


def test_root_entry_sets_root_metadata(dirs):
    root, _ = dirs
    extract(make_tar(entry("./", "dir", mode=0o700, uid=3, mtime=99)), root)
    st = os.lstat(root)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_mtime) == (0o700, 3, 99)


def test_file_replaces_directory_and_directory_replaces_file(dirs):
    root, _ = dirs
    (root / "was_dir").mkdir()
    (root / "was_dir" / "child").write_text("c")
    (root / "was_file").write_text("f")
    extract(make_tar(entry("was_dir", data=b"now a file"), entry("was_file", "dir")), root)
    assert (root / "was_dir").read_bytes() == b"now a file"
    assert (root / "was_file").is_dir()


def test_missing_parents_are_created_0755_root(dirs):
    root, _ = dirs
    extract(make_tar(entry("a/b/c", data=b"x")), root)
    st = os.lstat(root / "a" / "b")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o755, 0, 0)


# ---------------------------------------------------------------------------
# whiteouts
# ---------------------------------------------------------------------------


def test_whiteout_deletes_files_and_trees(dirs):
    root, _ = dirs
    (root / "f").write_text("x")
    (root / "d").mkdir()
    (root / "d" / "inner").write_text("y")
    (root / "keep").write_text("z")
    extract(make_tar(entry(".wh.f"), entry(".wh.d"), entry(".wh.absent")), root)
    assert sorted(os.listdir(root)) == ["keep"]


def test_opaque_directory_hides_lower_entries_but_keeps_its_own(dirs):
    root, _ = dirs
    (root / "d" / "old").mkdir(parents=True)
    (root / "d" / "old" / "file").write_text("lower")
    (root / "d" / "lowerfile").write_text("lower")
    extract(make_tar(entry("d", "dir"), entry("d/new", data=b"n"), entry("d/sub/x", data=b"x"),
                     entry("d/.wh..wh..opq")), root)
    assert sorted(os.listdir(root / "d")) == ["new", "sub"]
    assert os.listdir(root / "d" / "sub") == ["x"]


def test_whiteouts_go_to_the_handler(dirs):
    root, _ = dirs
    calls = []

    class Recorder:
        def whiteout(self, parent_fd, name, rel, member):
            calls.append(("whiteout", rel))

        def opaque(self, dir_fd, rel, member, extracted):
            calls.append(("opaque", rel))

    (root / "gone").write_text("still here")
    extract(make_tar(entry("d", "dir"), entry("d/.wh..wh..opq"), entry(".wh.gone"), entry("d/.wh..wh.plnk")), root, Recorder())
    assert calls == [("opaque", "d"), ("whiteout", "gone")]
    assert (root / "gone").exists()
    assert not (root / ".wh.gone").exists()


def test_default_handler_is_delete(dirs):
    root, _ = dirs
    (root / "f").write_text("x")
    extract_layer(io.BytesIO(make_tar(entry(".wh.f"))), str(root), DeleteWhiteouts())
    assert not (root / "f").exists()
