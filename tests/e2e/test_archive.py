"""The archive routes and ``cp`` see a container's filesystem as the container does (dockerd's semantics).

Volumes, bind mounts and (while it runs) tmpfs are seen through, for running and
stopped containers alike; symlinks resolve inside the container's root; the path
stat header and the refusals carry Docker's fields and messages.
"""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile

import docker
import pytest


@pytest.fixture
def box(sdk, tmp_path):
    """A running container with a named volume on /vol, a bind mount on /bnd and a tmpfs on /tm."""
    bind = tmp_path / "bind"
    bind.mkdir()
    (bind / "b.txt").write_text("bound\n")
    volume = sdk.volumes.create()
    container = sdk.containers.run(
        "busybox", ["sh", "-c", "echo t > /tm/t.txt; echo v > /vol/v.txt; ln -s /vol /lnk; ln -s /etc /vol/etc-link;"
                                " touch /ready; sleep 1000"],
        detach=True, tmpfs={"/tm": ""}, volumes={volume.name: {"bind": "/vol"}, str(bind): {"bind": "/bnd"}})
    for _ in range(100):
        if _exists(container, "/ready"):
            break
    yield container
    container.remove(force=True)
    volume.remove()


def _exists(container, path: str) -> bool:
    try:
        container.get_archive(path)
        return True
    except docker.errors.NotFound:
        return False


def _read(container, path: str) -> bytes:
    """The content of the one file ``path`` names, through GET /archive."""
    chunks, _ = container.get_archive(path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        member = tar.next()
        return tar.extractfile(member).read()


def _names(container, path: str) -> list[str]:
    chunks, _ = container.get_archive(path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        return tar.getnames()


def _tar(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_a_running_container_is_read_through_its_volume_bind_mount_and_tmpfs(box):
    assert _read(box, "/vol/v.txt") == b"v\n"
    assert _read(box, "/bnd/b.txt") == b"bound\n"
    assert _read(box, "/tm/t.txt") == b"t\n"


def test_a_stopped_container_is_read_through_its_volume_and_bind_mount(box):
    box.stop(timeout=0)
    assert _read(box, "/vol/v.txt") == b"v\n"
    assert _read(box, "/bnd/b.txt") == b"bound\n"
    assert {"/vol/v.txt", "/bnd/b.txt"} <= set(_names(box, "/"))


def test_a_copy_into_a_stopped_container_lands_in_its_volume(box):
    box.stop(timeout=0)
    assert box.put_archive("/vol", _tar("in.txt", b"copied\n"))
    box.start()
    assert box.exec_run(["cat", "/vol/in.txt"]).output == b"copied\n"


def test_a_copy_into_a_running_container_lands_in_its_tmpfs(box):
    assert box.put_archive("/tm", _tar("in.txt", b"in tmpfs\n"))
    assert box.exec_run(["cat", "/tm/in.txt"]).output == b"in tmpfs\n"


def test_paths_through_symlinks_resolve_inside_the_container(box):
    assert _read(box, "/lnk/v.txt") == b"v\n"  # /lnk -> /vol: a symlink into a volume
    hostname = box.exec_run(["cat", "/etc/hostname"]).output
    assert _read(box, "/vol/etc-link/hostname") == hostname  # a volume's link to /etc is the container's /etc
    box.stop(timeout=0)
    assert _read(box, "/vol/etc-link/passwd").startswith(b"root:")


def _stat(container, path: str) -> dict:
    _, stat = container.get_archive(path)
    return stat


def test_the_path_stat_header_has_dockers_fields(box):
    link = _stat(box, "/lnk")
    assert (link["name"], link["size"], link["mode"], link["linkTarget"]) == ("lnk", 4, 0o777 | 1 << 27, "/vol")
    followed = _stat(box, "/lnk/")  # a trailing slash follows the link
    assert (followed["name"], followed["mode"] & (1 << 31), followed["linkTarget"]) == ("lnk", 1 << 31, "")
    assert _stat(box, "/")["name"] == "/"
    assert _stat(box, "/etc/.")["name"] == "."
    assert set(_stat(box, "/vol/v.txt")) == {"name", "size", "mode", "mtime", "linkTarget"}


def test_head_answers_the_stat_header_and_a_missing_path_is_404(sdk, box):
    response = sdk.api.head(sdk.api._url("/containers/{0}/archive", box.id), params={"path": "/vol/v.txt"})
    stat = json.loads(base64.b64decode(response.headers["X-Docker-Container-Path-Stat"]))
    assert response.status_code == 200 and stat["size"] == 2
    missing = sdk.api.head(sdk.api._url("/containers/{0}/archive", box.id), params={"path": "/nope"})
    assert missing.status_code == 404


def test_the_archive_of_the_root_names_its_entries_from_slash(box):
    chunks, _ = box.get_archive("/")
    raw = b"".join(chunks)
    assert raw[:100].rstrip(b"\0") == b"/"  # the first header's name field (tarfile would strip the slash)
    assert "/etc/passwd" in _names(box, "/")


def test_copies_into_read_only_places_are_refused_with_dockers_messages(sdk):
    volume = sdk.volumes.create()
    container = sdk.containers.run("busybox", ["sleep", "1000"], detach=True, read_only=True,
                                   volumes={volume.name: {"bind": "/vol", "mode": "ro"}})
    try:
        for path, message in (("/", "container rootfs is marked read-only"),
                              ("/vol", "mounted volume is marked read-only"),
                              ("/etc/passwd", "extraction point is not a directory")):
            with pytest.raises(docker.errors.APIError) as err:
                container.put_archive(path, _tar("x", b"x"))
            assert err.value.status_code == 400 and err.value.explanation == message
        with pytest.raises(docker.errors.NotFound) as err:
            container.put_archive("/nowhere", _tar("x", b"x"))
        assert err.value.explanation == f"Could not find the file /nowhere in container {container.id}"
    finally:
        container.remove(force=True)
        volume.remove()


def test_a_tmpfs_flag_mount_of_a_read_only_container_counts_as_its_rootfs(sdk):
    container = sdk.containers.run("busybox", ["sleep", "1000"], detach=True, read_only=True, tmpfs={"/scratch": ""})
    try:
        with pytest.raises(docker.errors.APIError) as err:
            container.put_archive("/scratch", _tar("x", b"x"))
        assert err.value.explanation == "container rootfs is marked read-only"  # as dockerd checks its mount table
    finally:
        container.remove(force=True)


def test_no_overwrite_dir_non_dir_refuses_to_replace_a_directory_with_a_file(sdk):
    container = sdk.containers.run("busybox", ["sh", "-c", "mkdir -p /d/x; sleep 1000"], detach=True)
    try:
        url = sdk.api._url("/containers/{0}/archive", container.id)
        refused = sdk.api.put(url, params={"path": "/d", "noOverwriteDirNonDir": "true"}, data=_tar("x", b"file"))
        assert refused.status_code == 400
        assert refused.json()["message"] == 'cannot overwrite directory "/d/x" with non-directory "/d"'
        assert sdk.api.put(url, params={"path": "/d"}, data=_tar("x", b"file")).status_code == 200
        assert container.exec_run(["cat", "/d/x"]).output == b"file"
    finally:
        container.remove(force=True)


def test_docker_cp_a_gives_the_copy_to_the_containers_user(docker_cli, tmp_path):
    source = tmp_path / "mine.txt"
    source.write_text("x")
    docker_cli("run", "-d", "--name", "owned", "-u", "nobody", "busybox", "sleep", "1000")
    try:
        docker_cli("cp", "-a", str(source), "owned:/tmp/")
        assert docker_cli.out("exec", "owned", "stat", "-c", "%u:%g", "/tmp/mine.txt") == "65534:65534"
    finally:
        docker_cli("rm", "-f", "owned")


def test_docker_cp_both_ways_through_a_volume_of_a_stopped_container(docker_cli, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("through the volume\n")
    docker_cli("run", "--name", "stopped-cp", "-v", "/data", "busybox", "sh", "-c", "echo made > /data/made.txt")
    try:
        docker_cli("cp", str(source), "stopped-cp:/data/")
        docker_cli("cp", "stopped-cp:/data/made.txt", str(tmp_path / "out.txt"))
        assert (tmp_path / "out.txt").read_text() == "made\n"
        docker_cli("start", "-a", "stopped-cp")  # the volume now holds the copy
        volume = json.loads(docker_cli.out("inspect", "stopped-cp"))[0]["Mounts"][0]["Source"]
        assert open(os.path.join(volume, "in.txt")).read() == "through the volume\n"
    finally:
        docker_cli("rm", "-f", "-v", "stopped-cp")


def test_berth_cp_both_ways_through_a_volume(daemon, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("berth cp\n")
    assert daemon.cli("run", "-d", "--name", "berth-cp", "-v", "/data", "busybox", "sleep", "1000").returncode == 0
    try:
        assert daemon.cli("cp", str(source), "berth-cp:/data/").returncode == 0
        assert daemon.cli("stop", "-t", "0", "berth-cp").returncode == 0
        assert daemon.cli("cp", "berth-cp:/data/in.txt", str(tmp_path / "back.txt")).returncode == 0
        assert (tmp_path / "back.txt").read_text() == "berth cp\n"
    finally:
        daemon.cli("rm", "-f", "-v", "berth-cp")
