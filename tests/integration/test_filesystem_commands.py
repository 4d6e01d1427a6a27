"""Container filesystem commands end to end on vfs and overlay: export, diff, cp (with the stat header)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import stat
import subprocess
import tarfile
import tempfile

import pytest

from berth.cli.client import APIError, Client
from tests.conftest import Daemon
from tests.helpers import storage_daemon  # noqa: F401 - the ``daemon`` fixture


def ok(d, *args, input=None) -> bytes:
    result = d.cli(*args, input=input)
    assert result.returncode == 0, f"berth {' '.join(args)}: {result.stderr.decode()}\n{d.log()}"
    return result.stdout


def describe_tree(root: str) -> dict[str, tuple]:
    """path -> (type, mode, uid, gid, size, link target, sha256) for every entry below ``root``."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            digest = ""
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            link = os.readlink(path) if stat.S_ISLNK(st.st_mode) else ""
            out[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                        st.st_size if stat.S_ISREG(st.st_mode) else 0, link, digest)
    return out


def describe_tar(data: bytes) -> dict[str, tuple]:
    out = {}
    kinds = {tarfile.DIRTYPE: stat.S_IFDIR, tarfile.SYMTYPE: stat.S_IFLNK, tarfile.FIFOTYPE: stat.S_IFIFO}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        contents: dict[str, str] = {}
        for m in tar:
            digest = ""
            if m.isreg():
                digest = hashlib.sha256(tar.extractfile(m).read()).hexdigest()
                contents[m.name] = digest
            elif m.islnk():
                digest = contents[m.linkname]
            kind = stat.S_IFREG if (m.isreg() or m.islnk()) else kinds[m.type]
            size = m.size if m.isreg() else (len(b"") if not m.islnk() else None)
            out[m.name.rstrip("/")] = [kind, m.mode, m.uid, m.gid, size, m.linkname if m.issym() else "", digest]
    # hard links carry their target's size
    for name, entry in out.items():
        if entry[4] is None:
            entry[4] = next(e[4] for n, e in out.items() if e[6] == entry[6] and e[4] is not None)
    return {k: tuple(v) for k, v in out.items()}


def container_tree(d: Daemon, name: str) -> tuple[str, callable]:
    """The container's layer as the driver stores it, mounted independently of berthd for overlay."""
    data = Client(d.host).get(f"/containers/{name}/json")["GraphDriver"]["Data"]
    if d.driver == "vfs":
        return data["Dir"], lambda: None
    target = tempfile.mkdtemp(prefix="merged-", dir=d.base)
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"ro,lowerdir={data['UpperDir']}:{data['LowerDir']}", target], check=True)
    return target, lambda: subprocess.run(["umount", target], check=True)


def test_export_equals_the_containers_filesystem(daemon):
    ok(daemon, "run", "--name", "exp", "busybox", "sh", "-c",
       "echo data > /new; rm /bin/vi; mkdir -p /deep/dir; ln -s /new /deep/link; chmod 600 /etc/shadow")
    exported = ok(daemon, "export", "exp")
    root, release = container_tree(daemon, "exp")
    try:
        expected = describe_tree(root)
    finally:
        release()
    got = describe_tar(exported)
    assert got == expected
    assert "new" in got and "bin/vi" not in got and got["deep/link"][5] == "/new"


def test_diff_lists_added_changed_and_deleted_paths(daemon):
    ok(daemon, "run", "--name", "dif", "busybox", "sh", "-c", "echo x > /tmp/added; rm /bin/ls; echo y >> /etc/passwd")
    lines = ok(daemon, "diff", "dif").decode().splitlines()
    for expected in ("A /tmp/added", "D /bin/ls", "C /etc/passwd", "C /bin", "C /tmp"):
        assert expected in lines
    changes = Client(daemon.host).get("/containers/dif/changes")
    assert {"Path": "/bin/ls", "Kind": 2} in changes and {"Path": "/tmp/added", "Kind": 1} in changes


def test_a_file_deleted_in_a_container_is_gone_after_commit(daemon):
    ok(daemon, "run", "--name", "gone", "busybox", "rm", "/etc/shadow")
    ok(daemon, "commit", "gone", "gone:1")
    assert daemon.cli("run", "--rm", "gone:1", "cat", "/etc/shadow").returncode != 0
    assert b"root:x:0:0" in ok(daemon, "run", "--rm", "gone:1", "cat", "/etc/passwd")


def test_commit_of_an_unchanged_container_adds_no_layer(daemon):
    ok(daemon, "create", "--name", "untouched", "busybox", "true")
    ok(daemon, "commit", "untouched", "untouched:1")
    client = Client(daemon.host)
    image, base = client.get("/images/untouched:1/json"), client.get("/images/busybox/json")
    assert image["RootFS"]["Layers"] == base["RootFS"]["Layers"]  # as Docker: an empty diff is no layer
    assert image["Parent"] == base["Id"] and image["Id"] != base["Id"]


def test_archive_stat_header_describes_the_path(daemon):
    ok(daemon, "create", "--name", "stat", "busybox")
    client = Client(daemon.host)
    resp = client.open("HEAD", "/containers/stat/archive", {"path": "/etc/passwd"})
    st = json.loads(base64.b64decode(resp.getheader("X-Docker-Container-Path-Stat")))
    resp.close()
    assert st["name"] == "passwd" and st["size"] > 0 and st["mode"] == 0o644 and st["linkTarget"] == ""
    resp = client.open("GET", "/containers/stat/archive", {"path": "/etc"})
    st = json.loads(base64.b64decode(resp.getheader("X-Docker-Container-Path-Stat")))
    assert st["name"] == "etc" and st["mode"] & (1 << 31)  # Go's os.ModeDir
    with tarfile.open(fileobj=io.BytesIO(resp.read())) as tar:
        assert {"etc", "etc/passwd", "etc/group"} <= set(tar.getnames())
    with pytest.raises(APIError) as err:
        client.open("GET", "/containers/stat/archive", {"path": "/no/such/file"})
    assert err.value.status == 404


def test_cp_into_and_out_of_a_container(daemon, tmp_path):
    ok(daemon, "create", "--name", "cp", "busybox", "sh", "-c", "cat /in/file /renamed")
    src = tmp_path / "sub"
    src.mkdir()
    (src / "file").write_text("from host\n")
    ok(daemon, "cp", str(tmp_path / "sub/file"), "cp:/renamed")  # a new name: renamed on the way in
    ok(daemon, "cp", str(src), "cp:/tmp")  # an existing directory: copied into it
    ok(daemon, "cp", str(src) + "/.", "cp:/etc")  # contents only
    assert Client(daemon.host).get("/containers/cp/changes")  # the copies are in the container's layer
    # a directory that does not exist yet is made by the copy
    ok(daemon, "cp", str(src), "cp:/in")
    assert ok(daemon, "start", "-a", "cp") == b"from host\nfrom host\n"
    out = tmp_path / "out"
    ok(daemon, "cp", "cp:/tmp/sub", str(out))
    assert (out / "file").read_text() == "from host\n"
    ok(daemon, "cp", "cp:/etc/file", str(tmp_path / "single"))
    assert (tmp_path / "single").read_text() == "from host\n"
    raw = ok(daemon, "cp", "cp:/etc/passwd", "-")
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        assert tar.getnames() == ["passwd"]
    missing = daemon.cli("cp", "cp:/nope", str(tmp_path / "x"))
    assert missing.returncode != 0 and "Could not find the file /nope" in missing.stderr.decode()


def test_cp_through_symlinks_stays_inside_the_container(daemon, tmp_path):
    ok(daemon, "run", "--name", "esc", "busybox", "sh", "-c", "ln -s / /up; ln -s ../../../../.. /rel")
    name = f"berth-escape-{os.getpid()}"
    (tmp_path / name).write_text("x")
    ok(daemon, "cp", str(tmp_path / name), "esc:/up/tmp/")
    ok(daemon, "cp", str(tmp_path / name), "esc:/rel/")
    assert not os.path.exists(f"/tmp/{name}") and not os.path.exists(f"/{name}")
    for path in (f"/tmp/{name}", f"/{name}"):
        with tarfile.open(fileobj=io.BytesIO(ok(daemon, "cp", f"esc:{path}", "-"))) as tar:
            assert tar.extractfile(name).read() == b"x"
    # reading through a link to the host's root reads the container's root
    with tarfile.open(fileobj=io.BytesIO(ok(daemon, "cp", "esc:/rel/etc/passwd", "-"))) as tar:
        assert tar.extractfile("passwd").read().startswith(b"root:x:0:0:root:/root:/bin/sh")
