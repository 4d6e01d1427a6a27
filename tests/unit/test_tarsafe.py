"""Safe layer extraction (berth.images.tarsafe) against a hostile corpus built in code.

Every hostile archive is aimed at a sentinel directory *outside* the extraction
root; each test checks both the error and that the sentinel is untouched. The
corpus itself lives in ``tests/hostile_archives.py`` (the API tests use it too).
"""

from __future__ import annotations

import io
import os
import stat

import pytest

from berth.errors import InvalidArgument, UnsafeArchive
from berth.images.tarsafe import DeleteWhiteouts, extract_layer, extract_tree
from berth.plugins.graphdrivers.overlay_layers import OverlayLowers, OverlayWhiteouts
from tests.hostile_archives import entry, layer_cases, make_tar, sparse_file, stacked_cases

SENTINEL = "/berth-sentinel-outside"  # where the corpus aims; each test's real sentinel is checked too


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
# the hostile corpus
# ---------------------------------------------------------------------------


def _cases(builder):
    return [pytest.param(case, id=case.name) for case in builder(SENTINEL)]


def nothing_escaped(root, outside):
    """The sentinel is untouched, and nothing was made at the corpus's absolute target outside the root."""
    outside_untouched(outside)
    assert not os.path.exists(SENTINEL)


@pytest.mark.parametrize("case", _cases(layer_cases))
def test_each_hostile_layer_is_refused_or_contained(dirs, case):
    root, outside = dirs
    if case.refused:
        with pytest.raises(InvalidArgument, match=case.words):
            extract(case.data, root)
    else:
        extract(case.data, root)
    nothing_escaped(root, outside)


@pytest.mark.parametrize("case", [p for p in _cases(layer_cases) if p.values[0].layer_only])
def test_a_tree_takes_what_only_a_layer_refuses(dirs, case):
    root, outside = dirs
    extract_tree(io.BytesIO(case.data), str(root))
    nothing_escaped(root, outside)


@pytest.mark.parametrize("name,lower,upper,refused,words", [pytest.param(*c, id=c[0]) for c in stacked_cases(SENTINEL)])
def test_a_layer_meets_the_symlinks_of_the_layer_below_in_a_full_tree(dirs, name, lower, upper, refused, words):
    root, outside = dirs
    extract(lower, root)
    if refused:
        with pytest.raises(UnsafeArchive if "does not" not in words else InvalidArgument, match=words):
            extract(upper, root)
    else:
        extract(upper, root)
    nothing_escaped(root, outside)


@pytest.mark.parametrize("name,lower,upper,refused,words", [pytest.param(*c, id=c[0]) for c in stacked_cases(SENTINEL)])
def test_a_layer_meets_the_symlinks_of_the_layers_below_an_overlay_upper(tmp_path, name, lower, upper, refused, words):
    below, upper_dir = tmp_path / "lower", tmp_path / "upper"
    below.mkdir()
    upper_dir.mkdir()
    extract_layer(io.BytesIO(lower), str(below), OverlayWhiteouts())
    apply = lambda: extract_layer(io.BytesIO(upper), str(upper_dir), OverlayWhiteouts(), OverlayLowers([str(below)]))
    if refused:
        with pytest.raises(InvalidArgument, match=words):
            apply()
    else:
        apply()
    assert not os.path.exists(SENTINEL)


def test_a_symlink_hidden_by_a_whiteout_above_it_is_no_longer_in_the_way(tmp_path):
    bottom, middle, upper = (tmp_path / n for n in ("bottom", "middle", "upper"))
    for d in (bottom, middle, upper):
        d.mkdir()
    extract_layer(io.BytesIO(make_tar(entry("l", "symlink", linkname="/etc"))), str(bottom), OverlayWhiteouts())
    extract_layer(io.BytesIO(make_tar(entry(".wh.l"))), str(middle), OverlayWhiteouts())
    below = OverlayLowers([str(middle), str(bottom)])
    extract_layer(io.BytesIO(make_tar(entry("l/x", data=b"x"))), str(upper), OverlayWhiteouts(), below)
    assert (upper / "l" / "x").read_bytes() == b"x"


def test_a_symlink_under_an_opaque_directory_above_it_is_no_longer_in_the_way(tmp_path):
    bottom, middle, upper = (tmp_path / n for n in ("bottom", "middle", "upper"))
    for d in (bottom, middle, upper):
        d.mkdir()
    extract_layer(io.BytesIO(make_tar(entry("d", "dir"), entry("d/l", "symlink", linkname="/etc"))), str(bottom),
                  OverlayWhiteouts())
    extract_layer(io.BytesIO(make_tar(entry("d", "dir"), entry("d/.wh..wh..opq"))), str(middle), OverlayWhiteouts())
    below = OverlayLowers([str(middle), str(bottom)])
    extract_layer(io.BytesIO(make_tar(entry("d/l/x", data=b"x"))), str(upper), OverlayWhiteouts(), below)
    assert (upper / "d" / "l" / "x").read_bytes() == b"x"


def test_absolute_names_are_rooted_in_the_layer(dirs):
    root, outside = dirs
    extract(make_tar(entry(str(outside / "secret"), data=b"pwned")), root)
    outside_untouched(outside)
    assert (root / str(outside / "secret").lstrip("/")).read_bytes() == b"pwned"


def test_a_layers_own_symlink_cannot_be_passed_through(dirs):
    root, outside = dirs
    with pytest.raises(UnsafeArchive, match="'evil', a symlink the archive created earlier"):
        extract(make_tar(entry("evil", "symlink", linkname=str(outside)), entry("evil/pwned", data=b"x")), root)
    outside_untouched(outside)
    assert os.readlink(root / "evil") == str(outside)  # the link itself was fine; the caller removes the layer


def test_a_symlink_already_in_the_root_of_a_layer_is_the_layer_below_and_refused(dirs):
    root, outside = dirs
    os.symlink(str(outside), root / "preexisting")
    with pytest.raises(UnsafeArchive, match="symlink in the layer below"):
        extract(make_tar(entry("preexisting/secret", data=b"pwned")), root)
    outside_untouched(outside)


def test_a_tree_follows_its_own_symlinks_inside_the_root(dirs):
    # ADD's and cp's destination: the container's symlinks are resolved as Docker resolves them
    root, outside = dirs
    os.symlink(str(outside), root / "preexisting")
    (root / "sub").mkdir()
    os.symlink("..", root / "sub" / "up")
    extract_tree(io.BytesIO(make_tar(entry("preexisting/secret", data=b"pwned"),
                                     entry("sub/up/sub/up/top", data=b"t"))), str(root))
    outside_untouched(outside)
    assert (root / str(outside).lstrip("/") / "secret").read_bytes() == b"pwned"
    assert (root / "top").read_bytes() == b"t"


def test_a_tree_still_refuses_the_archives_own_symlinks(dirs):
    root, outside = dirs
    with pytest.raises(UnsafeArchive, match="created earlier"):
        extract_tree(io.BytesIO(make_tar(entry("l", "symlink", linkname="/"), entry("l/x", data=b"x"))), str(root))
    outside_untouched(outside)


def test_symlink_loops_in_a_tree_are_refused(dirs):
    root, outside = dirs
    os.symlink("loop", root / "loop")
    with pytest.raises(UnsafeArchive, match="too many levels"):
        extract_tree(io.BytesIO(make_tar(entry("loop/x", data=b"x"))), str(root))


def test_symlink_as_final_component_is_replaced_not_followed(dirs):
    root, outside = dirs
    extract_tree(io.BytesIO(make_tar(entry("x", "symlink", linkname=str(outside / "secret")),
                                     entry("x", data=b"new"))), str(root))
    outside_untouched(outside)
    assert not (root / "x").is_symlink()
    assert (root / "x").read_bytes() == b"new"


def test_hardlink_to_absolute_path_means_inside_the_layer(dirs):
    root, outside = dirs
    extract(make_tar(entry("etc", "dir"), entry("etc/f", data=b"x"), entry("g", "hardlink", linkname="/etc/f")), root)
    assert os.stat(root / "g").st_ino == os.stat(root / "etc" / "f").st_ino


def test_a_name_the_kernel_finds_too_long_is_the_archives_fault(dirs):
    root, _ = dirs
    with pytest.raises(InvalidArgument, match="File name too long") as info:
        extract(make_tar(entry("n" * 300, data=b"x")), root)
    assert info.value.status == 400


def test_runs_of_zeros_are_left_as_holes(dirs):
    root, _ = dirs
    data = b"head" + bytes(64 << 20) + b"tail"
    extract(make_tar(entry("zeros", data=data)), root)
    st = os.stat(root / "zeros")
    assert st.st_size == len(data) and st.st_blocks * 512 < (4 << 20)
    with open(root / "zeros", "rb") as f:
        assert f.read(4) == b"head" and f.read(1 << 20) == bytes(1 << 20)
        f.seek(len(data) - 4)
        assert f.read() == b"tail"


def test_a_sparse_file_larger_than_the_filesystem_holds_is_the_archives_fault(dirs):
    root, _ = dirs
    huge = sparse_file("s", (1 << 63) - 1, [(0, b"a")])
    try:
        extract_layer(io.BytesIO(huge), str(root))
    except InvalidArgument as exc:  # ext4 and most others: EFBIG, a 4xx naming the entry
        assert "'s'" in str(exc) and "too large" in str(exc)
    else:  # a filesystem whose files may be that large keeps it as a hole
        assert os.stat(root / "s").st_blocks < 64


def test_a_sparse_file_keeps_its_holes(dirs):
    root, _ = dirs
    extract(sparse_file("big", 1 << 40, [(4096, b"hello"), (1 << 30, b"world")]), root)
    st = os.stat(root / "big")
    assert st.st_size == 1 << 40 and st.st_blocks * 512 < (1 << 20)
    with open(root / "big", "rb") as f:
        assert f.read(4096) == bytes(4096) and f.read(5) == b"hello"
        f.seek(1 << 30)
        assert f.read(5) == b"world"


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


# ---------------------------------------------------------------------------
# layers below still being applied (a pull extracting its layers at once)
# ---------------------------------------------------------------------------


def _apply_while_below_fills(tmp_path, upper_tar: bytes, below_completes: bytes):
    """Extract ``upper_tar`` over an empty lower that gets ``below_completes`` only inside ``below_applied``."""
    below, upper = tmp_path / "lower", tmp_path / "upper"
    below.mkdir()
    upper.mkdir()
    calls = []

    def below_applied():
        calls.append(sorted(os.listdir(upper)))  # the whole archive is in when the layers below are awaited
        extract_layer(io.BytesIO(below_completes), str(below), OverlayWhiteouts())

    result = extract_layer(io.BytesIO(upper_tar), str(upper), OverlayWhiteouts(), OverlayLowers([str(below)]),
                           below_applied=below_applied)
    return result, calls


def test_a_path_through_a_symlink_the_layer_below_makes_after_it_was_asked_is_refused(tmp_path):
    """The lower is still empty while the entry is extracted; its symlink, made before it completes, still refuses it."""
    with pytest.raises(UnsafeArchive, match="'bin/x' passes through 'bin', a symlink in the layer below"):
        _apply_while_below_fills(tmp_path, make_tar(entry("bin/x", data=b"x"), entry("z", data=b"z")),
                                 make_tar(entry("bin", "symlink", linkname="/etc")))


def test_questions_for_the_layers_below_wait_until_the_whole_archive_is_read(tmp_path):
    result, calls = _apply_while_below_fills(tmp_path, make_tar(entry("bin/x", data=b"x"), entry("z", data=b"z")),
                                             make_tar(entry("bin", "dir")))
    assert calls == [["bin", "z"]]
    assert result.size == 2


def test_a_layer_below_that_failed_fails_the_layer_above(tmp_path):
    upper = tmp_path / "upper"
    upper.mkdir()

    def below_applied():
        raise InvalidArgument("the layer below was not applied")

    with pytest.raises(InvalidArgument, match="below was not applied"):
        extract_layer(io.BytesIO(make_tar(entry("a", data=b"a"))), str(upper), OverlayWhiteouts(),
                      OverlayLowers([]), below_applied=below_applied)


def test_a_symlink_the_kernel_refuses_is_the_archives_fault(dirs):
    root, _ = dirs
    with pytest.raises(InvalidArgument, match=f"entry '{'s' * 300}': File name too long") as info:
        extract(make_tar(entry("s" * 300, "symlink", linkname="/etc")), root)
    assert info.value.status == 400


def test_a_hard_link_to_a_symlink_of_the_same_layer_links_the_symlink(dirs):
    root, _ = dirs
    extract(make_tar(entry("bin/l", "symlink", linkname="busybox"), entry("h", "hardlink", linkname="bin/l")), root)
    assert os.readlink(root / "h") == "busybox" and os.lstat(root / "h").st_ino == os.lstat(root / "bin" / "l").st_ino


def test_a_whiteout_removes_a_symlink_the_same_layer_made(dirs):
    root, _ = dirs
    extract(make_tar(entry("l1", "symlink", linkname="/etc"), entry("l2", "symlink", linkname="/etc"), entry(".wh.l2")),
            root)
    assert not os.path.lexists(root / "l2") and os.path.islink(root / "l1")


def test_symlinks_keep_their_owner_and_times(dirs):
    root, _ = dirs
    extract(make_tar(*(entry(f"d{i % 3}/l{i}", "symlink", linkname="/x", uid=7, gid=8, mtime=1234) for i in range(6))),
            root)
    links = [root / f"d{i % 3}" / f"l{i}" for i in range(6)]
    assert all(os.lstat(p).st_uid == 7 and os.lstat(p).st_gid == 8 and os.lstat(p).st_mtime == 1234 for p in links)
