"""The graph-driver conformance kit (after Moby's ``daemon/graphdriver/graphtest``).

Every graph driver, built-in or third-party, runs these tests against itself::

    pytest -p berth.testing --berth-graphdriver=NAME [--berth-extension=EXT]

Without ``--berth-graphdriver`` the tests are parametrised over every installed
graph driver (those whose ``probe()`` refuses this host are skipped with its
reason). A test module can also pull the kit in with
``from berth.testing.graph_kit import *``.

The tests run as root in temporary directories and fail if a driver leaves a mount
behind. Each one states one behaviour of the contract in
:mod:`berth.hookspecs.graph`. Trees are compared entry by entry: a failure names
the path and the field that differs, modes in octal.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
import threading
from typing import Iterator, NamedTuple

import pytest

from berth.drivers import GraphDriver
from berth.errors import InvalidArgument, NotImplementedYet
from berth.hookspecs.types import Change, ChangeKind, IdMap, IdRange
from berth.testing import harness

__all__ = [
    "open_graph", "mounts_under", "pytest_generate_tests", "graph", "tree_snapshot", "Entry", "tree_differences",
    "assert_same_tree",
    "test_create_empty_base", "test_base_layer_metadata_survives_remount", "test_child_reads_as_its_parent",
    "test_deep_chain_reads_from_the_top", "test_diff_apply_round_trip",
    "test_apply_refuses_a_path_through_a_symlink_of_the_layer_below",
    "test_early_apply_refuses_a_path_through_a_symlink_the_layer_below_makes_meanwhile", "test_changes_are_sorted_and_exact",
    "test_full_diff_without_parent", "test_mount_is_reference_counted", "test_concurrent_mounts_balance",
    "test_cleanup_releases_every_mount", "test_remove_is_idempotent", "test_create_refuses_duplicates_and_orphans",
    "test_storage_options_are_refused_or_enforced_never_ignored", "test_reporting_hooks_return_plain_data",
    "test_idmapped_view_shows_owners_through_the_map", "test_writes_through_idmapped_view_store_container_ids",
    "test_idmapped_view_is_reference_counted_and_released", "test_drivers_without_idmap_support_refuse_clearly",
    "test_stored_tree_reads_while_idmapped_view_is_held",
    "test_a_new_instance_adopts_and_releases_a_mount_left_by_the_last",
]

DEEP_CHAIN = 130


# ---------------------------------------------------------------------------
# harness
# ---------------------------------------------------------------------------


def open_graph(name: str, root: str, options: dict | None = None, config: pytest.Config | None = None) -> GraphDriver:
    """Load graph driver ``name`` as the engine does and return its facade over ``root``.

    Fails the calling test when the driver is not installed or cannot load; skips it
    when the driver's probe refuses this host (the reason is shown). ``config``: the
    pytest config, whose ``--berth-extension`` names extensions to register.
    """
    if config is None:
        cls = harness.driver_class("graph", name, root)
        from berth.drivers import open_driver

        return open_driver("graph", cls(root=root, options=options or {}), name)
    return harness.open_kit_driver("graph", name, root, options or {}, config)


def mounts_under(root: str) -> list[str]:
    """Mount points at or below ``root`` in this mount namespace."""
    root = os.path.realpath(root)
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            point = line.split(" ")[4].replace("\\040", " ")
            if point == root or point.startswith(root + "/"):
                found.append(point)
    return found


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each kit test once per driver: the one asked for, or every installed one.

    A module importing the kit may set ``BERTH_GRAPHDRIVERS`` to a list of names,
    or to ``"built-in"`` for berth's own drivers only.
    """
    if "graph_driver_name" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("berth_graphdriver", default=None)
        wanted = getattr(metafunc.module, "BERTH_GRAPHDRIVERS", None)
        if chosen:
            names = [chosen]
        elif wanted == "built-in":
            names = harness.installed("graph", built_in_only=True)
        else:
            names = list(wanted) if wanted else harness.installed("graph")
        metafunc.parametrize("graph_driver_name", names, ids=names)


@pytest.fixture
def graph(graph_driver_name: str, tmp_path, request) -> Iterator[GraphDriver]:
    """A fresh driver over a temporary root; fails the test if a mount is left behind."""
    root = str(tmp_path / "graph")
    facade = open_graph(graph_driver_name, root, config=request.config)
    try:
        yield facade
    finally:
        leaked = mounts_under(root)
        facade.cleanup()
        for point in sorted(mounts_under(root), reverse=True):  # never leave the host dirty
            os.system(f"umount -l '{point}' 2>/dev/null")
    assert not leaked, f"driver {graph_driver_name!r} left mounts behind: {leaked}"


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


class Mode(int):
    """A permission mode that prints in octal (0o4755), so a failing comparison reads as ``ls -l`` would."""

    def __repr__(self) -> str:
        return oct(self)


class Entry(NamedTuple):
    """What must survive storage for one path: type, mode, owner, mtime, content or target, hard-link group."""

    type: str
    mode: Mode
    uid: int
    gid: int
    mtime: int | None  # seconds; None for directories (their mtime changes as entries come and go)
    payload: object  # a file's bytes, a symlink's target, a device's rdev
    link_group: str | None  # for a file with several links: the first path seen with its inode


_TYPES = {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink", stat.S_IFCHR: "char",
          stat.S_IFBLK: "block", stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket"}


def tree_snapshot(path: str) -> dict[str, Entry]:
    """Every entry under ``path`` by relative path, as :class:`Entry` records."""
    snap: dict[str, Entry] = {}
    inodes: dict[int, str] = {}
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, path)
            st = os.lstat(full)
            if stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    payload: object = f.read()
                link_group = inodes.setdefault(st.st_ino, rel) if st.st_nlink > 1 else None
            elif stat.S_ISLNK(st.st_mode):
                payload, link_group = os.readlink(full), None
            else:
                payload, link_group = st.st_rdev, None
            mtime = None if stat.S_ISDIR(st.st_mode) else st.st_mtime_ns // 1_000_000_000
            snap[rel] = Entry(_TYPES.get(stat.S_IFMT(st.st_mode), "other"), Mode(stat.S_IMODE(st.st_mode)),
                              st.st_uid, st.st_gid, mtime, payload, link_group)
    return snap


def tree_differences(expected: dict[str, Entry], actual: dict[str, Entry]) -> list[str]:
    """One line per difference, naming the path and the field ("etc/shadow: mode 0o640 != 0o600")."""
    lines = [f"{rel}: missing" for rel in sorted(set(expected) - set(actual))]
    lines += [f"{rel}: unexpected" for rel in sorted(set(actual) - set(expected))]
    for rel in sorted(set(expected) & set(actual)):
        for field_name, want, got in zip(Entry._fields, expected[rel], actual[rel]):
            if want != got:
                lines.append(f"{rel}: {field_name} {_short(want)} != {_short(got)} (expected != actual)")
    return lines


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def assert_same_tree(expected: dict[str, Entry], actual: dict[str, Entry]) -> None:
    differences = tree_differences(expected, actual)
    assert not differences, "trees differ:\n  " + "\n  ".join(differences)


def _tar(*entries: tuple) -> io.BytesIO:
    """A tar from (name, kind, data/target, mode, uid, gid) tuples; kind in file/dir/symlink/hardlink."""
    buf = io.BytesIO()
    kinds = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE}
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, data, mode, uid, gid in entries:
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = kinds[kind], mode, uid, gid, 1_500_000_000
            if kind == "file":
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
            else:
                ti.linkname = data if kind in ("symlink", "hardlink") else ""
                tar.addfile(ti)
    buf.seek(0)
    return buf


BASE_ENTRIES = (
    ("etc", "dir", b"", 0o755, 0, 0),
    ("etc/passwd", "file", b"root:x:0:0:root:/root:/bin/sh\n", 0o644, 0, 0),
    ("etc/shadow", "file", b"root:*:1::::::\n", 0o640, 0, 42),
    ("bin", "dir", b"", 0o755, 0, 0),
    ("bin/tool", "file", b"#!/bin/sh\necho tool\n", 0o4755, 0, 0),
    ("bin/group-tool", "file", b"#!/bin/sh\n", 0o2711, 0, 50),
    ("bin/alias", "hardlink", "bin/tool", 0, 0, 0),
    ("bin/sh", "symlink", "tool", 0o777, 0, 0),
    ("tmp", "dir", b"", 0o1777, 0, 0),
    ("home", "dir", b"", 0o755, 0, 0),
    ("home/user", "dir", b"", 0o700, 1000, 1000),
    ("home/user/notes", "file", b"hello\n", 0o600, 1000, 1000),
    ("var", "dir", b"", 0o755, 0, 0),
    ("var/cache", "dir", b"", 0o755, 0, 0),
    ("var/cache/a", "file", b"a" * 3000, 0o644, 0, 0),
    ("var/cache/b", "file", b"b", 0o644, 0, 0),
)


def _make_base(graph: GraphDriver, layer_id: str = "base") -> None:
    graph.create(layer_id, None)
    graph.apply_diff(layer_id, None, _tar(*BASE_ENTRIES))


def _mounted_snapshot(graph: GraphDriver, layer_id: str) -> dict[str, tuple]:
    path = graph.mount(layer_id)
    try:
        return tree_snapshot(path)
    finally:
        graph.unmount(layer_id)


def _change_child(path: str) -> None:
    """The kit's standard edits: modify, add, remove a file and a tree, replace a dir's contents."""
    with open(os.path.join(path, "etc/passwd"), "a") as f:
        f.write("daemon:x:1:1::/:/bin/false\n")
    os.utime(os.path.join(path, "etc/passwd"), (1_600_000_000, 1_600_000_000))
    with open(os.path.join(path, "etc/hostname"), "w") as f:
        f.write("box\n")
    os.utime(os.path.join(path, "etc/hostname"), (1_600_000_000, 1_600_000_000))
    os.unlink(os.path.join(path, "etc/shadow"))
    for name in os.listdir(os.path.join(path, "home/user")):
        os.unlink(os.path.join(path, "home/user", name))
    os.rmdir(os.path.join(path, "home/user"))
    os.chmod(os.path.join(path, "bin/group-tool"), 0o755)
    # Replace var/cache with a new directory of the same name (an opaque dir on overlay)
    for name in os.listdir(os.path.join(path, "var/cache")):
        os.unlink(os.path.join(path, "var/cache", name))
    os.rmdir(os.path.join(path, "var/cache"))
    os.mkdir(os.path.join(path, "var/cache"), 0o750)
    with open(os.path.join(path, "var/cache/fresh"), "wb") as f:
        f.write(b"f" * 1234)
    os.utime(os.path.join(path, "var/cache/fresh"), (1_600_000_000, 1_600_000_000))


EXPECTED_CHANGES = [
    Change("/bin", ChangeKind.MODIFIED),
    Change("/bin/group-tool", ChangeKind.MODIFIED),
    Change("/etc", ChangeKind.MODIFIED),
    Change("/etc/hostname", ChangeKind.ADDED),
    Change("/etc/passwd", ChangeKind.MODIFIED),
    Change("/etc/shadow", ChangeKind.DELETED),
    Change("/home", ChangeKind.MODIFIED),
    Change("/home/user", ChangeKind.DELETED),
    Change("/var", ChangeKind.MODIFIED),
    Change("/var/cache", ChangeKind.MODIFIED),
    Change("/var/cache/a", ChangeKind.DELETED),
    Change("/var/cache/b", ChangeKind.DELETED),
    Change("/var/cache/fresh", ChangeKind.ADDED),
]


# ---------------------------------------------------------------------------
# the kit
# ---------------------------------------------------------------------------


def test_create_empty_base(graph: GraphDriver) -> None:
    """A new base layer is an empty 0755 root:root directory."""
    graph.create("empty", None)
    assert graph.exists("empty")
    assert not graph.exists("other")
    path = graph.mount("empty")
    try:
        st = os.lstat(path)
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o755, 0, 0)
        assert os.listdir(path) == []
    finally:
        graph.unmount("empty")


def test_base_layer_metadata_survives_remount(graph: GraphDriver) -> None:
    """Exact modes (setuid, setgid, sticky), owners, hard links and symlinks survive unmount and remount."""
    _make_base(graph)
    snap = _mounted_snapshot(graph, "base")
    assert snap["bin/tool"].mode == 0o4755
    assert (snap["bin/group-tool"].mode, snap["bin/group-tool"].uid, snap["bin/group-tool"].gid) == (0o2711, 0, 50)
    assert snap["tmp"].mode == 0o1777
    assert (snap["home/user"].mode, snap["home/user"].uid, snap["home/user"].gid) == (0o700, 1000, 1000)
    assert (snap["etc/shadow"].mode, snap["etc/shadow"].uid, snap["etc/shadow"].gid) == (0o640, 0, 42)
    assert snap["bin/sh"].payload == "tool"
    assert snap["bin/alias"].link_group == snap["bin/tool"].link_group == "bin/alias"  # one inode
    assert_same_tree(snap, _mounted_snapshot(graph, "base"))


def test_child_reads_as_its_parent(graph: GraphDriver) -> None:
    """A new layer on a parent reads exactly as the parent until changed."""
    _make_base(graph)
    graph.create("child", "base")
    graph.create_rw("container", "child")
    base = _mounted_snapshot(graph, "base")
    assert_same_tree(base, _mounted_snapshot(graph, "child"))
    assert_same_tree(base, _mounted_snapshot(graph, "container"))
    assert graph.changes("child", "base") == []
    assert graph.diff_size("child", "base") == 0


def test_deep_chain_reads_from_the_top(graph: GraphDriver) -> None:
    """A chain of more than 128 layers mounts, and its top shows every layer's file."""
    parent = None
    for i in range(DEEP_CHAIN):
        layer = f"layer{i:03d}"
        graph.create(layer, parent)
        graph.apply_diff(layer, parent, _tar((f"file-{i:03d}", "file", f"{i}\n".encode(), 0o644, 0, 0)))
        parent = layer
    path = graph.mount(parent)
    try:
        names = sorted(os.listdir(path))
        assert names == [f"file-{i:03d}" for i in range(DEEP_CHAIN)]
        with open(os.path.join(path, "file-000")) as f:
            assert f.read() == "0\n"
        with open(os.path.join(path, f"file-{DEEP_CHAIN - 1:03d}")) as f:
            assert f.read() == f"{DEEP_CHAIN - 1}\n"
    finally:
        graph.unmount(parent)


def _make_changed_child(graph: GraphDriver) -> None:
    """The base layer, and a writable child of it holding :func:`_change_child`'s changes (unmounted)."""
    _make_base(graph)
    graph.create_rw("child", "base")
    path = graph.mount("child")
    try:
        _change_child(path)
    finally:
        graph.unmount("child")


def test_diff_apply_round_trip(graph: GraphDriver) -> None:
    """A child's diff applied onto the same parent gives the same tree, sizes and changes."""
    _make_changed_child(graph)
    expected_tree = _mounted_snapshot(graph, "child")
    size = graph.diff_size("child", "base")
    stream = graph.diff("child", "base")
    try:
        data = stream.read()
    finally:
        stream.close()
    names = tarfile.open(fileobj=io.BytesIO(data)).getnames()
    assert "etc/.wh.shadow" in names and "home/.wh.user" in names
    graph.create("applied", "base")
    applied = graph.apply_diff("applied", "base", io.BytesIO(data))
    # passwd (modified), hostname (added), group-tool (mode changed), cache/fresh (added)
    assert applied == size == len(b"root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1::/:/bin/false\n") + 4 + 10 + 1234
    assert graph.diff_size("applied", "base") == size
    assert_same_tree(expected_tree, _mounted_snapshot(graph, "applied"))
    assert graph.changes("applied", "base") == graph.changes("child", "base")


@pytest.mark.parametrize("entry", [("bin/sh/x", "file", b"x", 0o644, 0, 0),
                                   ("bin/sh/.wh.tool", "file", b"", 0o644, 0, 0)], ids=["file", "whiteout"])
def test_apply_refuses_a_path_through_a_symlink_of_the_layer_below(graph: GraphDriver, entry: tuple) -> None:
    """``bin/sh`` is a symlink in the base: a child's entry under it is refused (issue 13's archive policy),
    however the driver stores layers, and the base is left as it was."""
    _make_base(graph)
    before = _mounted_snapshot(graph, "base")
    graph.create("child", "base")
    try:
        with pytest.raises(InvalidArgument, match="symlink in the layer below"):
            graph.apply_diff("child", "base", _tar(entry))
    finally:
        graph.remove("child")
    assert _mounted_snapshot(graph, "base") == before


def test_early_apply_refuses_a_path_through_a_symlink_the_layer_below_makes_meanwhile(graph: GraphDriver) -> None:
    """A driver that applies layers early (``graph_apply_diff_early``) asks about the layers below only once
    ``below_applied()`` returned: here the base gets its ``bin/sh`` symlink during that call, and the child's
    ``bin/sh/x`` is refused all the same; a benign child is applied and reads over the completed base. Any
    other driver refuses the hook (NotSupported) and the engine applies its layers one after the other."""
    graph.create("base", None)
    graph.create("child", "base")
    graph.create("benign", "base")
    base_applied = lambda: graph.apply_diff("base", None, _tar(*BASE_ENTRIES))  # noqa: E731
    try:
        if not graph.applies_early():
            with pytest.raises(NotImplementedYet):
                graph.apply_diff_early("child", "base", _tar(("bin/sh/x", "file", b"x", 0o644, 0, 0)), base_applied)
            return
        with pytest.raises(InvalidArgument, match="symlink in the layer below"):
            graph.apply_diff_early("child", "base", _tar(("bin/sh/x", "file", b"x", 0o644, 0, 0)), base_applied)
        assert graph.apply_diff_early("benign", "base", _tar(("etc/motd", "file", b"hi", 0o644, 0, 0)),
                                      lambda: None) == 2
        snapshot = _mounted_snapshot(graph, "benign")
        assert "etc/motd" in snapshot and "bin/sh" in snapshot
    finally:
        for layer_id in ("benign", "child", "base"):
            graph.remove(layer_id)


def test_changes_are_sorted_and_exact(graph: GraphDriver) -> None:
    """changes() lists modified, added and deleted paths (and changed parents), sorted by path."""
    _make_changed_child(graph)
    assert graph.changes("child", "base") == EXPECTED_CHANGES


def test_full_diff_without_parent(graph: GraphDriver) -> None:
    """diff(layer, None) is the layer's whole tree; applied to an empty base it reproduces it."""
    _make_base(graph)
    stream = graph.diff("base", None)
    try:
        data = stream.read()
    finally:
        stream.close()
    graph.create("copy", None)
    size = graph.apply_diff("copy", None, io.BytesIO(data))
    assert size == graph.diff_size("base", None) == sum(len(e[2]) for e in BASE_ENTRIES if e[1] == "file")
    assert_same_tree(_mounted_snapshot(graph, "base"), _mounted_snapshot(graph, "copy"))


def test_mount_is_reference_counted(graph: GraphDriver) -> None:
    """Two mounts give one path; it stays usable until the second unmount."""
    _make_base(graph)
    graph.create_rw("child", "base")
    first = graph.mount("child")
    second = graph.mount("child")
    assert first == second
    graph.unmount("child")
    with open(os.path.join(first, "etc/passwd")) as f:
        assert f.read().startswith("root:")
    graph.unmount("child")
    graph.unmount("child")  # one too many: not an error
    assert first not in mounts_under(graph.driver.root)
    assert graph.mount("child") == first  # and it mounts again
    graph.unmount("child")


def test_concurrent_mounts_balance(graph: GraphDriver) -> None:
    """Mounts and unmounts from many threads keep an exact count and leave nothing mounted."""
    _make_base(graph)
    graph.create_rw("child", "base")
    errors: list[BaseException] = []
    root_of_mount: list[str] = []

    def worker() -> None:
        try:
            for _ in range(25):
                path = graph.mount("child")
                root_of_mount.append(path)
                assert os.path.exists(os.path.join(path, "etc/passwd"))
                graph.unmount("child")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(set(root_of_mount)) == 1
    assert root_of_mount[0] not in mounts_under(graph.driver.root)  # every reference was released


def test_cleanup_releases_every_mount(graph: GraphDriver) -> None:
    """cleanup() at shutdown unmounts whatever is still mounted."""
    _make_base(graph)
    for name in ("c1", "c2"):
        graph.create_rw(name, "base")
        graph.mount(name)
    graph.mount("c1")
    graph.cleanup()
    assert mounts_under(graph.driver.root) == []


def test_remove_is_idempotent(graph: GraphDriver) -> None:
    """remove() deletes a layer; removing it again, or a layer never made, succeeds."""
    _make_base(graph)
    graph.create("child", "base")
    graph.remove("child")
    assert not graph.exists("child")
    graph.remove("child")
    graph.remove("never-made")
    assert graph.exists("base")
    assert _mounted_snapshot(graph, "base")["etc/passwd"].payload.startswith(b"root:")


def test_create_refuses_duplicates_and_orphans(graph: GraphDriver) -> None:
    """Creating an existing id, or on a parent that does not exist, fails."""
    graph.create("base", None)
    with pytest.raises(Exception):
        graph.create("base", None)
    with pytest.raises(Exception):
        graph.create("orphan", "no-such-parent")
    assert not graph.exists("orphan")


def test_storage_options_are_refused_or_enforced_never_ignored(graph: GraphDriver) -> None:
    """create_rw refuses an unknown option; ``size`` is refused too, or enforced (a write past it fails)."""
    graph.create("base", None)
    with pytest.raises(InvalidArgument):
        graph.create_rw("odd", "base", {"no-such-option": "1"})
    assert not graph.exists("odd")
    try:
        graph.create_rw("sized", "base", {"size": "4M"})
    except InvalidArgument:
        assert not graph.exists("sized")
        return
    root = graph.mount("sized")
    try:
        with pytest.raises(OSError):
            with open(os.path.join(root, "big"), "wb") as f:
                f.write(b"\0" * (16 << 20))
                f.flush()
                os.fsync(f.fileno())
    finally:
        graph.unmount("sized")


def test_reporting_hooks_return_plain_data(graph: GraphDriver) -> None:
    """status() is a list of string pairs and metadata() a dict of strings."""
    graph.create("base", None)
    status = graph.status()
    assert isinstance(status, list) and all(isinstance(k, str) and isinstance(v, str) for k, v in status)
    meta = graph.metadata("base")
    assert isinstance(meta, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())


# ---------------------------------------------------------------------------
# id-mapped views (drivers that implement graph_mount_idmapped)
# ---------------------------------------------------------------------------

#: Docker's default remapping: container ids 0..65535 are host ids 100000..165535.
KIT_IDMAP = IdMap(uids=(IdRange(0, 100000, 65536),), gids=(IdRange(0, 100000, 65536),))
OVERFLOW_ID = 65534


def _claims_idmaps(graph: GraphDriver) -> bool:
    return hasattr(graph.driver, "graph_mount_idmapped")


def _idmapped_graph(graph: GraphDriver) -> GraphDriver:
    """``graph`` when its driver claims id-mapped views and the host allows them (else the test is skipped)."""
    if not _claims_idmaps(graph):
        pytest.skip(f"graph driver {graph.name!r} does not claim id-mapped views")
    reason = graph.idmap_check(KIT_IDMAP)
    if reason:
        pytest.skip(f"graph driver {graph.name!r} cannot id-map layers here: {reason}")
    return graph


def _as_container_root(work) -> None:
    """Run ``work()`` as a container's root does: in a user namespace with :data:`KIT_IDMAP`, uid 0 there
    (host uid 100000) with every capability inside it and none on the host."""
    import ctypes

    unshare = ctypes.CDLL(None, use_errno=True).unshare
    report_r, report_w = os.pipe()
    mapped_r, mapped_w = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(report_r)
            os.close(mapped_w)
            if unshare(0x10000000) != 0:  # CLONE_NEWUSER
                raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWUSER)")
            os.write(report_w, b"u")
            os.read(mapped_r, 1)
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
            os.setgroups([])
            work()
            os._exit(0)
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, never raised into pytest
            os.write(report_w, f"{type(exc).__name__}: {exc}".encode()[:4000])
            os._exit(1)
    os.close(report_w)
    os.close(mapped_r)
    with os.fdopen(report_r, "rb") as report:
        if report.read(1) == b"u":
            for kind in ("uid", "gid"):
                with open(f"/proc/{child}/{kind}_map", "w") as f:
                    f.write(KIT_IDMAP.proc_text(kind))
        os.close(mapped_w)
        failure = report.read().decode(errors="replace")
    _, status = os.waitpid(child, 0)
    assert status == 0, f"as the container's root: {failure}"


def test_idmapped_view_shows_owners_through_the_map(graph: GraphDriver) -> None:
    """Through the id map every owner is shifted (root is 100000), ids the map lacks show as 65534,
    and modes (setuid, setgid, sticky) and contents are as stored."""
    graph = _idmapped_graph(graph)
    _make_base(graph)
    graph.create("outside", "base")
    graph.apply_diff("outside", "base", _tar(("far", "file", b"x", 0o644, 70000, 70000)))
    graph.create_rw("child", "outside")
    plain = _mounted_snapshot(graph, "child")
    path = graph.mount_idmapped("child", KIT_IDMAP)
    try:
        viewed = tree_snapshot(path)
        root = os.lstat(path)
    finally:
        graph.unmount_idmapped("child")
    assert (root.st_uid, root.st_gid) == KIT_IDMAP.root
    for rel, (fmt, mode, uid, gid, mtime, payload, _links) in plain.items():
        shifted = tuple(OVERFLOW_ID if i >= 65536 else 100000 + i for i in (uid, gid))
        assert viewed[rel][:5] == (fmt, mode, *shifted, mtime), rel
        assert viewed[rel][5] == payload, rel
    assert viewed["bin/tool"][1:4] == (0o4755, 100000, 100000)
    assert viewed["far"][2:4] == (OVERFLOW_ID, OVERFLOW_ID)


def _write_in_view(graph: GraphDriver, view: str, writes) -> None:
    """``writes(root_fd, at)`` as the container's root in the id-mapped ``view``; ``at(rel)`` names a path
    in the view relative to ``root_fd``, the driver root. From the driver root down the view must be
    searchable by the map's root (the kit's own temporary directories above it are not)."""
    root_fd = os.open(graph.driver.root, os.O_PATH | os.O_DIRECTORY)
    rel_view = os.path.relpath(view, graph.driver.root)
    try:
        _as_container_root(lambda: writes(root_fd, lambda rel: os.path.join(rel_view, rel)))
    finally:
        os.close(root_fd)


def test_writes_through_idmapped_view_store_container_ids(graph: GraphDriver) -> None:
    """What the map's root writes through the view (new files, chown, copy-up, deletion) is stored with
    container ids, and the layer's diff reports them as a plain mount's writes would be."""
    graph = _idmapped_graph(graph)
    _make_base(graph)
    graph.create_rw("child", "base")
    path = graph.mount_idmapped("child", KIT_IDMAP)

    def container_writes(root_fd: int, at) -> None:
        for name, text in (("etc/motd", b"hi\n"), ("home/user/owned", b"mine\n")):
            fd = os.open(at(name), os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=root_fd)
            os.write(fd, text)
            os.close(fd)
        os.chown(at("home/user/owned"), 1000, 1000, dir_fd=root_fd)  # host 101000
        os.chmod(at("bin/tool"), 0o4750, dir_fd=root_fd)  # copy-up of a setuid file
        os.unlink(at("etc/shadow"), dir_fd=root_fd)

    try:
        _write_in_view(graph, path, container_writes)
    finally:
        graph.unmount_idmapped("child")
    stored = _mounted_snapshot(graph, "child")
    assert stored["etc/motd"][1:4] == (0o644, 0, 0)
    assert stored["home/user/owned"][2:4] == (1000, 1000)
    assert stored["bin/tool"][1:4] == (0o4750, 0, 0)
    assert "etc/shadow" not in stored
    stream = graph.diff("child", "base")
    try:
        members = {m.name: m for m in tarfile.open(fileobj=io.BytesIO(stream.read()))}
    finally:
        stream.close()
    assert (members["etc/motd"].uid, members["home/user/owned"].uid, members["bin/tool"].uid) == (0, 1000, 0)
    assert members["bin/tool"].mode & 0o7777 == 0o4750
    assert "etc/.wh.shadow" in members


def test_stored_tree_reads_while_idmapped_view_is_held(graph: GraphDriver) -> None:
    """While a remapped container runs on a layer its changes can be taken (``docker diff``, commit):
    the diff hooks and a plain mount (read-only, perhaps) show what it wrote, with container ids."""
    graph = _idmapped_graph(graph)
    _make_base(graph)
    graph.create_rw("child", "base")
    path = graph.mount_idmapped("child", KIT_IDMAP)

    def container_writes(root_fd: int, at) -> None:
        fd = os.open(at("etc/motd"), os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=root_fd)
        os.close(fd)

    try:
        _write_in_view(graph, path, container_writes)
        assert Change("/etc/motd", ChangeKind.ADDED) in graph.changes("child", "base")
        assert _mounted_snapshot(graph, "child")["etc/motd"][1:4] == (0o644, 0, 0)
        stream = graph.diff("child", "base")
        try:
            assert tarfile.open(fileobj=io.BytesIO(stream.read())).getmember("etc/motd").uid == 0
        finally:
            stream.close()
        assert os.lstat(os.path.join(path, "etc/motd")).st_uid == 100000  # the view is intact
    finally:
        graph.unmount_idmapped("child")


def test_idmapped_view_is_reference_counted_and_released(graph: GraphDriver) -> None:
    """Two id-mapped mounts give one path, usable until the second unmount; then nothing stays mounted,
    and cleanup() releases a view still held."""
    graph = _idmapped_graph(graph)
    _make_base(graph)
    graph.create_rw("child", "base")
    first = graph.mount_idmapped("child", KIT_IDMAP)
    assert graph.mount_idmapped("child", KIT_IDMAP) == first
    graph.unmount_idmapped("child")
    assert os.lstat(os.path.join(first, "etc/passwd")).st_uid == 100000
    graph.unmount_idmapped("child")
    graph.unmount_idmapped("child")  # one too many: not an error
    assert first not in mounts_under(graph.driver.root)
    graph.mount_idmapped("child", KIT_IDMAP)
    graph.cleanup()
    assert mounts_under(graph.driver.root) == []


def test_drivers_without_idmap_support_refuse_clearly(graph: GraphDriver) -> None:
    """A driver that does not implement id-mapped views says so (a reason at start-up, a refusal on mount)
    instead of handing out an unmapped tree."""
    if _claims_idmaps(graph):
        assert isinstance(graph.idmap_check(KIT_IDMAP), str)
        return
    graph.create("base", None)
    reason = graph.idmap_check(KIT_IDMAP)
    assert isinstance(reason, str) and graph.name in reason
    with pytest.raises(NotImplementedYet):
        graph.mount_idmapped("base", KIT_IDMAP)


def test_a_new_instance_adopts_and_releases_a_mount_left_by_the_last(graph: GraphDriver, graph_driver_name: str,
                                                                      request) -> None:
    """After a restart with containers running, the new instance's first mount adopts the layer (same
    path, same contents, nothing mounted twice) and the matching unmount releases it."""
    _make_base(graph)
    graph.create_rw("running", "base")
    path = graph.mount("running")  # the old daemon's container; it stops without releasing it
    with open(os.path.join(path, "written-before"), "w") as f:
        f.write("kept\n")
    before = mounts_under(graph.driver.root)
    fresh = open_graph(graph_driver_name, graph.driver.root, config=request.config)
    try:
        assert fresh.mount("running") == path
        assert mounts_under(graph.driver.root) == before, "the new instance mounted the layer a second time"
        with open(os.path.join(path, "written-before")) as f:
            assert f.read() == "kept\n"
        fresh.unmount("running")
        assert path not in mounts_under(graph.driver.root), "the adopted mount was never released"
    finally:
        fresh.cleanup()
