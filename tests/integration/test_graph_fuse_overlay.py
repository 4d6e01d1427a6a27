"""fuse-overlay behaviour beyond the conformance kit: overlay semantics through FUSE, the serving
processes' lifecycle, and a container run on it by a real berthd."""

from __future__ import annotations

import errno
import io
import os
import sys
import signal
import stat
import subprocess
import tarfile
import time

import pytest

from berth.fsutil import is_mountpoint
from berth.plugins.graphdrivers.fuse_overlay.driver import FuseOverlayDriver
from berth.plugins.graphdrivers.whiteout import OPAQUE_XATTR
from berth.testing.graph_kit import mounts_under, open_graph


@pytest.fixture
def graph(tmp_path):
    root = str(tmp_path / "fuse-overlay")
    g = open_graph("fuse-overlay", root)
    try:
        yield g
    finally:
        g.cleanup()
        left = mounts_under(root)
        for point in reversed(left):
            subprocess.run(["umount", "-l", point], check=False)
    assert left == [], f"mounts left behind: {left}"


def make_tar(*entries) -> io.BytesIO:
    """(name, data) pairs; data None is a directory, a ("link", target) tuple a hard link."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1_500_000_000
            if data is None:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(ti)
            elif isinstance(data, tuple):
                ti.type, ti.linkname = tarfile.LNKTYPE, data[1]
                tar.addfile(ti)
            else:
                ti.size, ti.mode = len(data), 0o644
                tar.addfile(ti, io.BytesIO(data))
    buf.seek(0)
    return buf


def base_with_files(graph):
    graph.create("base", None)
    graph.apply_diff("base", None, make_tar(("d", None), ("d/old", b"old"), ("d/sub", None), ("d/sub/x", b"x"),
                                            ("f", b"f"), ("keep", b"k"), ("h1", b"linked"), ("h2", ("link", "h1"))))
    upper = os.path.join(graph.driver.root, "base", "diff")
    os.chown(os.path.join(upper, "f"), 1000, 1001)
    os.chmod(os.path.join(upper, "f"), 0o4750)
    os.setxattr(os.path.join(upper, "f"), "user.note", b"kept")
    os.utime(os.path.join(upper, "f"), (1_400_000_000, 1_400_000_000))


@pytest.fixture
def mounted(graph):
    """A container layer on the base, mounted; yields (graph, merged path, upper dir)."""
    base_with_files(graph)
    graph.create_rw("c", "base")
    path = graph.mount("c")
    try:
        yield graph, path, os.path.join(graph.driver.root, "c", "diff")
    finally:
        graph.unmount("c")


def server_pid(graph, layer_id: str) -> int:
    return int(graph.metadata(layer_id)["ServerPid"])


# ---------------------------------------------------------------------------
# layout and whiteouts (shared with the overlay driver)
# ---------------------------------------------------------------------------


def test_layout_is_overlays(graph):
    base_with_files(graph)
    graph.create("top", "base")
    root = graph.driver.root
    short = open(os.path.join(root, "base", "link")).read()
    assert os.readlink(os.path.join(root, "l", short)) == "../base/diff"
    assert open(os.path.join(root, "top", "lower")).read() == f"l/{short}"
    meta = graph.metadata("top")
    assert meta["LowerDir"] == os.path.join(root, "base", "diff")
    assert meta["MergedDir"] == os.path.join(root, "top", "merged")
    status = dict(graph.status())
    assert status["Native Overlay Diff"] == "true" and "pyfuse3" in status["Mount Program"]


def test_mount_is_a_fuse_mount_served_by_a_detached_process(mounted):
    graph, path, _ = mounted
    assert is_mountpoint(path)
    with open("/proc/self/mountinfo") as f:
        line = next(line for line in f if line.split(" ")[4] == path)
    assert " - fuse.berth-fuse-overlay " in line
    pid = server_pid(graph, "c")
    assert os.getsid(pid) != os.getsid(0)  # its own session: outlives the daemon
    assert open(f"/proc/{pid}/stat").read().split(") ")[1].split()[1] != str(os.getpid())  # not our child


def test_unlink_and_rmdir_leave_overlay_whiteouts(mounted):
    graph, path, upper = mounted
    os.unlink(os.path.join(path, "f"))
    os.unlink(os.path.join(path, "d/sub/x"))
    os.rmdir(os.path.join(path, "d/sub"))
    assert sorted(os.listdir(path)) == ["d", "h1", "h2", "keep"]
    assert os.listdir(os.path.join(path, "d")) == ["old"]
    for rel in ("f", "d/sub"):
        st = os.lstat(os.path.join(upper, rel))
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    with pytest.raises(FileNotFoundError):
        os.stat(os.path.join(path, "f"))


def test_dir_recreated_over_a_deleted_one_is_opaque(mounted):
    graph, path, upper = mounted
    subprocess.run(["rm", "-r", os.path.join(path, "d")], check=True)
    os.mkdir(os.path.join(path, "d"))
    with open(os.path.join(path, "d", "new"), "w") as f:
        f.write("new")
    assert os.listdir(os.path.join(path, "d")) == ["new"]
    assert os.getxattr(os.path.join(upper, "d"), OPAQUE_XATTR) == b"y"
    # overlay's private xattr is never visible through the mount
    assert OPAQUE_XATTR not in os.listxattr(os.path.join(path, "d"))
    with pytest.raises(OSError):
        os.setxattr(os.path.join(path, "d"), OPAQUE_XATTR, b"y")


def test_native_diff_matches_the_kernel_overlay_driver(mounted):
    graph, path, _ = mounted
    os.unlink(os.path.join(path, "f"))
    subprocess.run(["rm", "-r", os.path.join(path, "d")], check=True)
    os.mkdir(os.path.join(path, "d"))
    with open(os.path.join(path, "d", "new"), "w") as f:
        f.write("new")
    stream = graph.diff("c", "base")
    try:
        names = tarfile.open(fileobj=io.BytesIO(stream.read())).getnames()
    finally:
        stream.close()
    assert names == ["d", "d/.wh..wh..opq", "d/new", ".wh.f"]


# ---------------------------------------------------------------------------
# copy-up and metadata operations
# ---------------------------------------------------------------------------


def test_write_copies_up_data_mode_owner_times_and_xattrs(mounted):
    graph, path, upper = mounted
    lower_f = os.path.join(graph.driver.root, "base", "diff", "f")
    before = os.lstat(os.path.join(path, "f"))
    with open(os.path.join(path, "f"), "r+b") as f:
        assert f.read() == b"f"
        f.write(b"FF")
    up = os.lstat(os.path.join(upper, "f"))
    assert (stat.S_IMODE(up.st_mode), up.st_uid, up.st_gid) == (0o4750, 1000, 1001)
    assert os.getxattr(os.path.join(upper, "f"), "user.note") == b"kept"
    assert open(lower_f, "rb").read() == b"f"  # the lower layer never changes
    assert open(os.path.join(path, "f"), "rb").read() == b"fFF"
    assert os.lstat(os.path.join(path, "f")).st_ino == before.st_ino  # same inode after copy-up
    assert os.path.isdir(os.path.join(upper, "d")) is False  # only the needed parents are copied up


def test_metadata_changes_copy_up_without_touching_data(mounted):
    graph, path, upper = mounted
    target = os.path.join(path, "d", "old")
    os.chmod(target, 0o600)
    os.chown(target, 7, 8)
    os.utime(target, ns=(1_000_000_000, 2_000_000_000))
    os.setxattr(target, "user.k", b"v")
    st = os.lstat(target)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns) == (0o600, 7, 8, 2_000_000_000)
    assert os.getxattr(target, "user.k") == b"v"
    assert open(os.path.join(upper, "d", "old"), "rb").read() == b"old"
    os.removexattr(target, "user.k")
    assert "user.k" not in os.listxattr(target)
    os.truncate(target, 1)
    assert open(target, "rb").read() == b"o"


def test_rename_of_lower_file_copies_up_and_whites_out_the_old_name(mounted):
    graph, path, upper = mounted
    os.rename(os.path.join(path, "keep"), os.path.join(path, "d", "moved"))
    assert open(os.path.join(path, "d", "moved"), "rb").read() == b"k"
    assert not os.path.exists(os.path.join(path, "keep"))
    assert stat.S_ISCHR(os.lstat(os.path.join(upper, "keep")).st_mode)
    os.rename(os.path.join(path, "d", "moved"), os.path.join(path, "d", "old"))  # over a lower file
    assert open(os.path.join(path, "d", "old"), "rb").read() == b"k"
    assert sorted(os.listdir(os.path.join(path, "d"))) == ["old", "sub"]


def test_directory_renames_follow_overlay_without_redirect_dir(mounted):
    graph, path, upper = mounted
    with pytest.raises(OSError) as info:
        os.rename(os.path.join(path, "d"), os.path.join(path, "e"))
    assert info.value.errno == errno.EXDEV  # merged with a lower dir: mv(1) copies instead
    subprocess.run(["mv", os.path.join(path, "d"), os.path.join(path, "e")], check=True)
    assert sorted(os.listdir(os.path.join(path, "e"))) == ["old", "sub"]
    assert not os.path.exists(os.path.join(path, "d"))
    os.makedirs(os.path.join(path, "n", "inner"))
    os.rename(os.path.join(path, "n"), os.path.join(path, "d"))  # a new dir where a lower one was deleted
    assert os.listdir(os.path.join(path, "d")) == ["inner"]
    assert os.getxattr(os.path.join(upper, "d"), OPAQUE_XATTR) == b"y"


def test_hard_links_share_an_inode(mounted):
    graph, path, upper = mounted
    h1, h2 = os.lstat(os.path.join(path, "h1")), os.lstat(os.path.join(path, "h2"))
    assert h1.st_ino == h2.st_ino and h1.st_nlink == 2
    with open(os.path.join(path, "h1"), "ab") as f:  # copy-up keeps the link to the name we know
        f.write(b"+")
    assert open(os.path.join(path, "h2"), "rb").read() == b"linked+"
    assert os.lstat(os.path.join(upper, "h1")).st_ino == os.lstat(os.path.join(upper, "h2")).st_ino
    os.link(os.path.join(path, "keep"), os.path.join(path, "keep2"))
    assert os.lstat(os.path.join(path, "keep")).st_ino == os.lstat(os.path.join(path, "keep2")).st_ino
    assert os.lstat(os.path.join(path, "keep2")).st_nlink == 2


def test_special_files_symlinks_and_statfs(mounted):
    graph, path, upper = mounted
    os.mkfifo(os.path.join(path, "fifo"), 0o640)
    os.mknod(os.path.join(path, "null"), stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.symlink("d/old", os.path.join(path, "link"))
    assert stat.S_ISFIFO(os.lstat(os.path.join(path, "fifo")).st_mode)
    assert os.lstat(os.path.join(path, "null")).st_rdev == os.makedev(1, 3)
    with open(os.path.join(path, "null"), "rb") as f:  # the mount allows devices (dev)
        assert f.read() == b""
    assert os.readlink(os.path.join(path, "link")) == "d/old"
    assert open(os.path.join(path, "link"), "rb").read() == b"old"
    assert os.statvfs(path).f_blocks == os.statvfs(upper).f_blocks


def _as_user(directory: str, code: str) -> subprocess.CompletedProcess:
    """Run ``code`` as uid/gid 1000 with ``dirfd`` open on ``directory`` (its parents may be root-only)."""
    prog = (f"import os; dirfd = os.open({directory!r}, os.O_RDONLY); os.setgroups([]); os.setgid(1000); "
            f"os.setuid(1000); os.umask(0o022); {code}")
    return subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=60)


def test_new_files_belong_to_the_caller_and_permissions_are_enforced(mounted):
    graph, path, upper = mounted
    os.chmod(os.path.join(path, "d"), 0o777)
    made = _as_user(os.path.join(path, "d"), "os.close(os.open('mine', os.O_CREAT | os.O_WRONLY, 0o666, dir_fd=dirfd))")
    assert made.returncode == 0, made.stderr
    st = os.lstat(os.path.join(upper, "d", "mine"))
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1000, 0o644)
    denied = _as_user(path, "os.open('keep', os.O_WRONLY | os.O_APPEND, dir_fd=dirfd)")
    assert denied.returncode != 0 and "PermissionError" in denied.stderr
    assert open(os.path.join(path, "keep"), "rb").read() == b"k"
    assert not os.path.exists(os.path.join(upper, "keep"))  # a refused open copies nothing up


def test_an_unlinked_open_file_stays_usable(mounted):
    graph, path, _ = mounted
    with open(os.path.join(path, "tmpfile"), "w+b") as f:
        os.unlink(os.path.join(path, "tmpfile"))
        f.write(b"scratch")
        f.flush()
        os.ftruncate(f.fileno(), 3)
        assert os.fstat(f.fileno()).st_size == 3
        f.seek(0)
        assert f.read() == b"scr"
    assert "tmpfile" not in os.listdir(path)


def test_appends_and_write_only_opens_keep_the_data_with_the_writeback_cache(mounted):
    graph, path, _ = mounted
    with open(os.path.join(path, "keep"), "ab") as f:  # a lower file, appended: copy-up, then the end
        f.write(b"-more")
    fd = os.open(os.path.join(path, "f"), os.O_WRONLY)  # write-only, mid-page: the kernel reads the page
    try:
        os.pwrite(fd, b"F", 0)
    finally:
        os.close(fd)
    with open(os.path.join(path, "new"), "ab") as f:
        f.write(b"one")
    with open(os.path.join(path, "new"), "ab") as f:
        f.write(b"two")
    subprocess.run(["sh", "-c", "echo 3 > /proc/sys/vm/drop_caches"], check=True)  # read back from the server
    assert [open(os.path.join(path, n), "rb").read() for n in ("keep", "f", "new")] == [b"k-more", b"F", b"onetwo"]


def test_storage_options_reach_the_serving_process(tmp_path):
    g = open_graph("fuse-overlay", str(tmp_path / "root"), {"fuse-overlay.writeback": "false",
                                                             "fuse-overlay.cache_timeout": "2"})
    try:
        assert dict(g.status())["Serve Options"] == "writeback=false fast_loop=true cache_timeout=2 read_ahead_kb=1024"
        base_with_files(g)
        g.create_rw("c", "base")
        g.mount("c")
        with open(f"/proc/{server_pid(g, 'c')}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        assert b"--no-writeback" in argv and argv[argv.index(b"--timeout") + 1] == b"2.0"
        g.unmount("c")
    finally:
        g.cleanup()


def _mount_device(path: str) -> str:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return [line.split(" ")[2] for line in f if line.split(" ")[4] == path][-1]


def test_the_default_levers_take_effect_on_a_mount(mounted):
    graph, path, _ = mounted
    os.listdir(path)  # a request answered: the session's INIT is done, and what follows it
    with open(f"/sys/class/bdi/{_mount_device(path)}/read_ahead_kb", encoding="ascii") as f:
        assert f.read().strip() == "1024"  # reads of up to 1 MiB, not the kernel's 128 KiB
    with open(os.path.join(graph.driver.root, "c", "serve.log"), encoding="utf-8") as f:
        assert "fuse-overlay:" not in f.read()  # no lever fell back (fast loop, readahead)


def test_unknown_storage_option_is_refused(tmp_path):
    with pytest.raises(Exception, match="unknown storage option fuse-overlay.bogus"):
        open_graph("fuse-overlay", str(tmp_path / "root"), {"fuse-overlay.bogus": "1"})


def test_inode_numbers_are_stable_per_path(mounted):
    graph, path, _ = mounted
    before = {name: os.lstat(os.path.join(path, name)).st_ino for name in os.listdir(path)}
    subprocess.run(["sh", "-c", "echo 2 > /proc/sys/vm/drop_caches"], check=True)  # the kernel forgets its inodes
    after = {name: os.lstat(os.path.join(path, name)).st_ino for name in os.listdir(path)}
    assert before == after and len(set(after.values())) == len(after) - 1  # h1/h2 share one


# ---------------------------------------------------------------------------
# serving processes: exit on unmount, adoption, dead servers
# ---------------------------------------------------------------------------


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"fuse_overlay.serve" not in f.read()
    except FileNotFoundError:
        return True


def test_unmount_ends_the_server(graph):
    base_with_files(graph)
    graph.create_rw("c", "base")
    path = graph.mount("c")
    pid = server_pid(graph, "c")
    graph.unmount("c")
    assert _gone(pid)
    assert not os.path.exists(path)


def test_a_new_driver_adopts_a_live_mount(graph, tmp_path):
    base_with_files(graph)
    graph.create_rw("c", "base")
    path = graph.mount("c")
    pid = server_pid(graph, "c")
    try:
        again = open_graph("fuse-overlay", graph.driver.root)  # a restarted daemon
        assert again.mount("c") == path
        assert server_pid(again, "c") == pid
        again.unmount("c")
        assert _gone(pid)
    finally:
        graph.driver._refs.clear()  # the first instance's reference went with the adopted mount


def test_a_dead_server_is_detected_and_replaced(graph):
    base_with_files(graph)
    graph.create_rw("c", "base")
    path = graph.mount("c")
    pid = server_pid(graph, "c")
    os.kill(pid, signal.SIGKILL)  # our own server, found through metadata
    deadline = time.monotonic() + 10
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(OSError) as info:
        os.stat(path)
    assert info.value.errno == errno.ENOTCONN
    graph.driver._refs.clear()  # as after a daemon crash: no references held
    again = open_graph("fuse-overlay", graph.driver.root)  # start-up clears dead mounts
    assert not is_mountpoint(path)
    assert again.mount("c") == path
    assert open(os.path.join(path, "keep"), "rb").read() == b"k"
    again.unmount("c")


def test_probe_explains_a_backing_filesystem_without_whiteouts(tmp_path):
    dirs = {n: tmp_path / n for n in ("lower", "upper", "work", "merged")}
    for d in dirs.values():
        d.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={dirs['lower']},upperdir={dirs['upper']},workdir={dirs['work']}", str(dirs["merged"])],
                   check=True)
    try:
        reason = FuseOverlayDriver.probe(str(dirs["merged"] / "data"))
    finally:
        subprocess.run(["umount", str(dirs["merged"])], check=True)
    assert reason and "whiteouts" in reason
    assert FuseOverlayDriver.probe(str(tmp_path / "ok")) is None


def test_daemon_does_not_import_pyfuse3(tmp_path):
    code = ("import sys; from berth.testing.graph_kit import open_graph; "
            f"g = open_graph('fuse-overlay', {str(tmp_path / 'g')!r}); g.create('b', None); g.create('c', 'b'); "
            "g.mount('c'); g.unmount('c'); print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyfuse3', 'trio')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------
# a container on fuse-overlay through a real berthd
# ---------------------------------------------------------------------------


def test_container_runs_on_fuse_overlay(make_daemon):
    d = make_daemon(args=["-s", "fuse-overlay"]).start()
    boot = d.cli("image", "bootstrap", "busybox")
    assert boot.returncode == 0, boot.stderr.decode() + d.log()
    run = d.cli("run", "--rm", "busybox", "sh", "-c",
                "echo hi > /tmp/f && cat /tmp/f && rm /etc/passwd && ls /etc && mkdir -p /a/b && mv /a /z && ls /z")
    assert run.returncode == 0, run.stderr.decode() + d.log()
    out = run.stdout.decode().split()
    assert out[0] == "hi" and "passwd" not in out and "b" in out
    info = d.cli("info").stdout.decode()
    assert "fuse-overlay" in info
