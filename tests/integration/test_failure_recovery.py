"""Failures lose nothing: a full disk is a clear error, a daemon killed mid-write is reconciled at restart."""

import io
import json
import os
import subprocess
import tarfile
import time


def big_tar(size: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("big.bin")
        info.size = size
        tar.addfile(info, io.BytesIO(os.urandom(1024) * (size // 1024)))
    return buf.getvalue()


def free_bytes(path: str) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def test_import_on_a_full_disk_fails_clearly_and_leaves_the_store_as_it_was(small_disk_daemon):
    d = small_disk_daemon
    layers_dir = os.path.join(d.data_root, "vfs", "dir")
    before_layers = sorted(os.listdir(layers_dir))
    before_images = d.cli("images", "-q").stdout
    result = d.cli("import", "-", "huge:1", input=big_tar(40 * 1024 * 1024))
    assert result.returncode != 0
    assert "no space left on device" in result.stderr.decode().lower(), result.stderr.decode()
    assert sorted(os.listdir(layers_dir)) == before_layers  # the half-made layer is gone
    assert d.cli("images", "-q").stdout == before_images
    # and the daemon still works once space is back
    assert d.cli("run", "--rm", "busybox", "true").returncode == 0


def test_a_daemon_killed_mid_import_cleans_up_the_half_made_layer_at_restart(make_daemon, busybox_path):
    import signal
    import sys
    import time

    d = make_daemon(args=["-s", "vfs"]).start()
    assert d.cli("image", "bootstrap", "busybox").returncode == 0
    layers_dir = os.path.join(d.data_root, "vfs", "dir")
    before = sorted(os.listdir(layers_dir))
    data = big_tar(8 * 1024 * 1024)
    importer = subprocess.Popen([sys.executable, "-m", "berth.cli.main", "-H", d.host, "import", "-", "partial:1"],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    importer.stdin.write(data[: len(data) // 2])  # half a layer, then the daemon dies
    importer.stdin.flush()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and sorted(os.listdir(layers_dir)) == before:
        time.sleep(0.05)
    assert sorted(os.listdir(layers_dir)) != before, "the import never started a layer"
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait()
    d.logfile.close()
    importer.kill()
    importer.wait()
    d.start()
    assert sorted(os.listdir(layers_dir)) == before  # reconciled at start-up
    assert b"partial" not in d.cli("images").stdout



def test_a_container_logging_onto_a_full_disk_runs_on_and_its_log_says_what_was_lost(small_disk_daemon, tmp_path):
    d = small_disk_daemon
    ballast = os.path.join(d.base, "ballast")
    with open(ballast, "wb") as f:
        f.write(b"\0" * (4 << 20))
    script = ("i=0; while [ $i -lt 300 ]; do head -c 100000 /dev/zero | tr '\\0' x; echo; i=$((i+1)); done; "
              "echo filled; while [ ! -e /signal/go ]; do sleep 0.1; done; echo after")
    cid = d.cli("run", "-d", "-v", f"{tmp_path}:/signal", "busybox", "sh", "-c", script).stdout.decode().strip()
    log = os.path.join(d.data_root, "containers", cid, f"{cid}-json.log")
    deadline = time.monotonic() + 120
    while free_bytes(d.base) > 256 << 10:  # the log filled the disk
        assert time.monotonic() < deadline, f"the disk never filled up: {free_bytes(d.base)} bytes free"
        time.sleep(0.2)
    time.sleep(1)  # a few more entries lost
    os.unlink(ballast)
    (tmp_path / "go").touch()
    waited = d.cli("wait", cid, timeout=120).stdout.decode().strip()
    assert waited == "0", d.cli("inspect", "-f", "{{json .State}}", cid).stdout.decode() + d.log()  # never held up
    with open(log, "rb") as f:
        entries = [json.loads(line) for line in f]  # no torn entry
    assert entries[-1]["log"] == "after\n"
    # each gap is told by a notice written with the first entry that fit again (on a nearly full disk a
    # short line, or a long one after rotation freed room, may fit between losses)
    notices = [n for n, e in enumerate(entries) if e["stream"] == "stderr"]
    assert notices and all("were not logged: No space left on device" in entries[n]["log"] for n in notices)
    assert all(entries[n + 1]["stream"] == "stdout" for n in notices)
    assert d.cli("run", "--rm", "busybox", "true").returncode == 0


def assert_nothing_half_stored(d, images: bytes) -> None:
    """The image list is as before, the store is consistent, and with space back the daemon runs containers."""
    from tests import leakscan

    assert d.cli("images", "-aq").stdout == images
    assert leakscan.store_problems(d.data_root, "vfs") == []
    assert d.cli("run", "--rm", "busybox", "true").returncode == 0, d.log()


def assert_no_space_error(result) -> None:
    assert result.returncode != 0
    said = (result.stdout + result.stderr).decode().lower()
    assert "no space left on device" in said, said


def test_a_build_on_a_full_disk_fails_clearly_and_stores_nothing(small_disk_daemon, tmp_path):
    d = small_disk_daemon
    (tmp_path / "Dockerfile").write_text("FROM busybox\nCOPY big.bin /big.bin\n")
    (tmp_path / "big.bin").write_bytes(os.urandom(12 << 20))
    images = d.cli("images", "-aq").stdout
    assert_no_space_error(d.cli("build", "-t", "too-big", str(tmp_path)))
    assert_nothing_half_stored(d, images)


def test_a_commit_on_a_full_disk_fails_clearly_and_stores_nothing(small_disk_daemon):
    d = small_disk_daemon
    assert d.cli("run", "--name", "grown", "busybox", "sh", "-c", "head -c 9000000 /dev/urandom > /big").returncode == 0
    images = d.cli("images", "-aq").stdout
    assert_no_space_error(d.cli("commit", "grown", "grown:1"))
    assert d.cli("rm", "grown").returncode == 0
    assert_nothing_half_stored(d, images)


def docker_archive(layers: list[bytes], tag: str) -> bytes:
    """A docker-archive (``docker save`` format) of one image made of uncompressed ``layers``."""
    import hashlib

    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    files = {config_name: config}
    for diff_id, layer in zip(diff_ids, layers):
        files[f"{diff_id[7:]}/layer.tar"] = layer
    files["manifest.json"] = json.dumps([{"Config": config_name, "RepoTags": [tag],
                                          "Layers": [f"{d[7:]}/layer.tar" for d in diff_ids]}]).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_a_load_on_a_full_disk_fails_clearly_and_stores_nothing(small_disk_daemon):
    d = small_disk_daemon
    small, big = big_tar(1 << 20), big_tar(30 << 20)
    images = d.cli("images", "-aq").stdout
    assert_no_space_error(d.cli("load", input=docker_archive([small, big], "too-big:1")))
    assert_nothing_half_stored(d, images)
