"""The client's build context: the tar it streams is the one the docker CLI would send."""

from __future__ import annotations

import io
import os
import socket
import stat
import tarfile
import threading

import pytest

from berth.build.packer import header, pack, single_file_tar


def _members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def _write(path, data: bytes = b"x", mode: int = 0o644) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def test_entries_carry_mode_and_link_targets_with_owner_root_and_whole_second_mtimes(tmp_path):
    _write(tmp_path / "Dockerfile", b"FROM scratch\n")
    _write(tmp_path / "bin" / "tool", b"#!/bin/sh\n", 0o4755)
    os.symlink("bin/tool", tmp_path / "link")
    os.utime(tmp_path / "Dockerfile", ns=(1_700_000_000_700_000_000, 1_700_000_000_700_000_000))
    members = _members(pack(str(tmp_path)).getvalue())
    assert members["bin/tool"].mode == 0o4755 and members["bin/tool"].size == 10
    assert members["link"].issym() and members["link"].linkname == "bin/tool"
    assert members["bin"].isdir()
    assert members["Dockerfile"].mtime == 1_700_000_000  # truncated, as moby's FileInfoHeader does
    assert not members["Dockerfile"].pax_headers  # plain ustar when the fields fit
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members.values()} == {(0, 0, "", "")}


def test_a_file_seen_again_through_a_hard_link_is_sent_as_a_hard_link(tmp_path):
    _write(tmp_path / "a", b"same bytes")
    os.link(tmp_path / "a", tmp_path / "b")
    members = _members(pack(str(tmp_path)).getvalue())
    assert members["a"].isreg() and members["b"].islnk() and members["b"].linkname == "a"


def test_long_and_non_ascii_names_travel_in_pax_records(tmp_path):
    deep = "d" * 120 + "/é"
    _write(tmp_path / deep / "ü.txt", b"text")
    os.symlink("t" * 150, tmp_path / "far")
    members = _members(pack(str(tmp_path)).getvalue())
    assert members[f"{deep}/ü.txt"].size == 4
    assert members["far"].linkname == "t" * 150


def test_a_header_holds_sizes_beyond_ustar_in_pax():
    with tarfile.open(fileobj=io.BytesIO(header("huge", b"0", 0o644, 9 << 30) + bytes(1024)), mode="r|") as tar:
        assert tar.next().size == 9 << 30


def test_dockerignore_is_applied_but_the_dockerfile_and_dockerignore_are_always_sent(tmp_path):
    _write(tmp_path / "Dockerfile", b"FROM scratch\n")
    _write(tmp_path / ".dockerignore", b"*\n!keep/yes\n")
    _write(tmp_path / "secret", b"s")
    _write(tmp_path / "keep" / "yes", b"y")
    _write(tmp_path / "keep" / "no", b"n")
    assert sorted(_members(pack(str(tmp_path)).getvalue())) == [".dockerignore", "Dockerfile", "keep", "keep/yes"]


def test_sockets_are_not_sent(tmp_path):
    _write(tmp_path / "Dockerfile", b"FROM scratch\n")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock"))
    try:
        assert sorted(_members(pack(str(tmp_path)).getvalue())) == ["Dockerfile"]
    finally:
        server.close()


def test_extra_files_are_added_under_their_names(tmp_path):
    _write(tmp_path / "a", b"a")
    members = _members(pack(str(tmp_path), ".berth-dockerfile-1", {".berth-dockerfile-1": b"FROM x\n"}).getvalue())
    assert members[".berth-dockerfile-1"].size == 7 and members[".berth-dockerfile-1"].mode == 0o644


def test_sending_to_a_socket_writes_the_announced_length_and_the_same_bytes(tmp_path):
    _write(tmp_path / "big", os.urandom(300_000))  # sent with sendfile
    for i in range(50):
        _write(tmp_path / "small" / f"f{i}", os.urandom(i * 100))
    packed = pack(str(tmp_path))
    left, right = socket.socketpair()
    received = bytearray()

    def drain() -> None:
        while chunk := right.recv(1 << 16):
            received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    packed.send_to(left)
    left.close()
    reader.join()
    right.close()
    assert bytes(received) == packed.getvalue() and len(received) == packed.length
    assert _members(bytes(received))["big"].size == 300_000


def test_a_file_that_shrinks_before_it_is_sent_is_an_error(tmp_path):
    _write(tmp_path / "f", b"0123456789")
    packed = pack(str(tmp_path))
    _write(tmp_path / "f", b"01")
    with pytest.raises(OSError, match="changed size"):
        packed.getvalue()


def test_a_dockerfile_from_stdin_is_one_file_tar():
    members = _members(single_file_tar("Dockerfile", b"FROM busybox\n"))
    assert list(members) == ["Dockerfile"] and stat.S_IMODE(members["Dockerfile"].mode) == 0o644
