"""Failures lose nothing: a full disk is a clear error, a daemon killed mid-write is reconciled at restart."""

import io
import os
import subprocess
import tarfile

import pytest


@pytest.fixture
def small_disk_daemon(make_daemon, suite_tmp, busybox_path):
    base = os.path.join(suite_tmp, "small-disk")
    os.makedirs(base, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", base], check=True)
    try:
        d = make_daemon(args=["-s", "vfs"], base=base).start()
        assert d.cli("image", "bootstrap", "busybox").returncode == 0, d.log()
        yield d
        d.remove_everything()
        d.stop()
    finally:
        subprocess.run(["umount", "-l", base], check=False)


def big_tar(size: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("big.bin")
        info.size = size
        tar.addfile(info, io.BytesIO(os.urandom(1024) * (size // 1024)))
    return buf.getvalue()


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
