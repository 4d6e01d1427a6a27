"""Image commands end to end through berthd and the berth CLI, on vfs and overlay; interop with the real Docker."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile

import pytest

from berth.cli.client import APIError, Client
from tests import peers
from tests.helpers import storage_daemon  # noqa: F401 - the ``daemon`` fixture

def ok(d, *args, input=None) -> str:
    result = d.cli(*args, input=input)
    assert result.returncode == 0, f"berth {' '.join(args)}: {result.stderr.decode()}\n{d.log()}"
    return result.stdout.decode()


def api(d) -> Client:
    return Client(d.host)


def test_commit_of_a_deleted_file_is_gone_in_the_image_and_its_containers(daemon):
    ok(daemon, "run", "--name", "del-src", "busybox", "sh", "-c", "rm /bin/vi /etc/group; echo new > /added")
    ok(daemon, "commit", "-m", "removed vi", "-a", "tester", "-c", "ENV FOO=bar", "del-src", "committed:del")
    out = ok(daemon, "run", "--rm", "committed:del", "sh", "-c",
             "ls /bin/vi /etc/group 2>&1; cat /added; echo $FOO; ls /bin/sh")
    assert out.count("No such file or directory") == 2
    assert "new\nbar\n/bin/sh\n" in out
    inspect = api(daemon).get("/images/committed:del/json")
    assert inspect["Comment"] == "removed vi" and inspect["Author"] == "tester"
    assert inspect["Parent"] == api(daemon).get("/images/busybox/json")["Id"]
    assert len(inspect["RootFS"]["Layers"]) == 2
    history = api(daemon).get("/images/committed:del/history")
    assert history[0]["Id"] == inspect["Id"] and history[0]["Comment"] == "removed vi"
    assert history[1]["Tags"] == ["busybox:latest"]


def test_rmi_of_an_image_used_by_a_container_is_409_and_the_image_stays(daemon):
    ok(daemon, "tag", "busybox", "inuse:1")
    ok(daemon, "create", "--name", "holder", "inuse:1", "true")
    ok(daemon, "rmi", "busybox")  # another tag remains: just an untag
    with pytest.raises(APIError) as err:
        api(daemon).delete("/images/inuse:1")
    assert err.value.status == 409 and "holder" not in err.value.message and "container" in err.value.message
    result = daemon.cli("rmi", "inuse:1")
    assert result.returncode == 1 and "must force" in result.stderr.decode()
    assert api(daemon).get("/images/inuse:1/json")["RepoTags"] == ["inuse:1"]
    ok(daemon, "tag", "inuse:1", "busybox")
    ok(daemon, "rm", "holder")


def test_rmi_removes_several_and_keeps_layers_other_images_use(daemon):
    ok(daemon, "run", "--name", "layered", "busybox", "sh", "-c", "echo 1 > /one")
    ok(daemon, "commit", "layered", "stack:a")
    ok(daemon, "tag", "stack:a", "stack:b")
    ok(daemon, "rm", "layered")
    out = ok(daemon, "rmi", "stack:a", "stack:b")
    assert out.splitlines()[:2] == ["Untagged: stack:a", "Untagged: stack:b"]
    assert any(line.startswith("Deleted: sha256:") for line in out.splitlines())
    assert ok(daemon, "run", "--rm", "busybox", "echo", "still here") == "still here\n"


def test_save_and_load_round_trip_within_berth(daemon, tmp_path):
    ok(daemon, "run", "--name", "rt", "busybox", "sh", "-c", "echo kept > /kept; rm /bin/ls")
    ok(daemon, "commit", "rt", "roundtrip:1")
    ok(daemon, "rm", "rt")
    archive = str(tmp_path / "rt.tar")
    ok(daemon, "save", "-o", archive, "roundtrip:1")
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("manifest.json"))
        assert {"index.json", "oci-layout", "repositories"} <= names
        assert manifest[0]["RepoTags"] == ["roundtrip:1"]
        config = json.load(tar.extractfile(manifest[0]["Config"]))
        for path, diff_id in zip(manifest[0]["Layers"], config["rootfs"]["diff_ids"], strict=True):
            assert "sha256:" + hashlib.sha256(tar.extractfile(path).read()).hexdigest() == diff_id
    image_id = api(daemon).get("/images/roundtrip:1/json")["Id"]
    ok(daemon, "rmi", "roundtrip:1")
    assert "Loaded image: roundtrip:1" in ok(daemon, "load", "-i", archive)
    assert api(daemon).get("/images/roundtrip:1/json")["Id"] == image_id
    assert ok(daemon, "run", "--rm", "roundtrip:1", "sh", "-c", "cat /kept; ls /bin/ls 2>&1 || true").startswith("kept\n")


def test_import_from_stdin_with_changes(daemon):
    ok(daemon, "create", "--name", "exp-src", "busybox")
    exported = daemon.cli("export", "exp-src").stdout
    out = ok(daemon, "import", "-c", 'CMD ["echo", "imported"]', "-c", "ENV X=1", "-m", "hello", "-", "imported:1",
             input=exported)
    assert out.strip().startswith("sha256:")
    assert ok(daemon, "run", "--rm", "imported:1") == "imported\n"
    history = api(daemon).get("/images/imported:1/history")
    assert len(history) == 1 and history[0]["Comment"] == "hello"
    ok(daemon, "rm", "exp-src")


def test_images_filters_quiet_and_digests(daemon):
    ok(daemon, "tag", "busybox", "filtered/one:x")
    rows = ok(daemon, "images", "--filter", "reference=filtered/*").splitlines()
    assert len(rows) == 2 and rows[1].startswith("filtered/one")
    assert ok(daemon, "images", "--filter", "dangling=true", "-q") == ""
    quiet = ok(daemon, "images", "-q").split()
    assert all(len(q) == 12 for q in quiet)
    assert "DIGEST" in ok(daemon, "images", "--digests").splitlines()[0]
    ok(daemon, "rmi", "filtered/one:x")


# ---------------------------------------------------------------------------
# interop with the real Docker (started by .ci/peers; a missing one fails in CI, see tests/peers.py)
# ---------------------------------------------------------------------------


def test_berth_save_loads_into_docker_and_runs(daemon, tmp_path):
    docker = peers.real_docker()
    ok(daemon, "run", "--name", "to-docker", "busybox", "sh", "-c", "echo from-berth > /msg; rm /bin/vi")
    tag = f"berth-interop-{os.getpid()}:v1"
    ok(daemon, "commit", "-c", "CMD cat /msg", "to-docker", tag)
    ok(daemon, "rm", "to-docker")
    archive = str(tmp_path / "berth.tar")
    ok(daemon, "save", "-o", archive, tag)
    try:
        load = subprocess.run(docker + ["load", "-i", archive], capture_output=True, timeout=120)
        assert load.returncode == 0, load.stderr.decode()
        run = subprocess.run(docker + ["run", "--rm", "--network", "none", tag, "sh", "-c", "cat /msg; ls /bin/vi 2>&1"],
                             capture_output=True, timeout=120)
        assert run.stdout.decode().startswith("from-berth\n") and "No such file" in run.stdout.decode()
    finally:
        subprocess.run(docker + ["rmi", "-f", tag], capture_output=True, timeout=60)
        ok(daemon, "rmi", tag)


def test_docker_save_loads_into_berth_and_runs(daemon, tmp_path):
    docker = peers.real_docker()
    tag = f"docker-interop-{os.getpid()}:v1"
    name = f"docker-interop-{os.getpid()}"
    archive = str(tmp_path / "docker.tar")
    try:
        steps = [["run", "--name", name, "--network", "none", "busybox", "sh", "-c", "echo from-docker > /msg; rm /bin/ls"],
                 ["commit", "-c", "CMD cat /msg", name, tag], ["save", "-o", archive, tag]]
        for step in steps:
            result = subprocess.run(docker + step, capture_output=True, timeout=120)
            assert result.returncode == 0, result.stderr.decode()
    finally:
        subprocess.run(docker + ["rm", "-f", name], capture_output=True, timeout=60)
        subprocess.run(docker + ["rmi", "-f", tag], capture_output=True, timeout=60)
    assert f"Loaded image: {tag}" in ok(daemon, "load", "-i", archive)
    assert ok(daemon, "run", "--rm", tag) == "from-docker\n"
    assert daemon.cli("run", "--rm", tag, "ls", "/bin/ls").returncode != 0
    # and what berth stored from Docker's tar saves back byte for byte (diff IDs still match)
    again = str(tmp_path / "again.tar")
    ok(daemon, "save", "-o", again, tag)
    load = subprocess.run(docker + ["load", "-i", again], capture_output=True, timeout=120)
    subprocess.run(docker + ["rmi", "-f", tag], capture_output=True, timeout=60)
    assert load.returncode == 0, load.stderr.decode()
    ok(daemon, "rmi", tag)
