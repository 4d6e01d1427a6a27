"""Bind mount propagation (``-v SRC:DST:rshared``, ``--mount ...,bind-propagation=rslave``) with
dockerd's rules: the mode is kept, checked against the source's own mount at start, and honoured."""

from __future__ import annotations

import json
import os
import subprocess

import pytest


@pytest.fixture
def shared_source(tmp_path):
    """A tmpfs of this test's own, made a shared mount (peer group) on the host."""
    source = tmp_path / "shared"
    source.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "berth-test-shared", str(source)], check=True)
    subprocess.run(["mount", "--make-shared", str(source)], check=True)
    yield str(source)
    subprocess.run(["umount", "-R", "-l", str(source)], check=False)


def run(daemon, *args: str) -> subprocess.CompletedProcess:
    return daemon.cli("run", "--rm", *args)


def test_a_mount_made_in_the_container_under_an_rshared_bind_appears_on_the_host(daemon, shared_source):
    result = run(daemon, "--privileged", "-v", f"{shared_source}:/x:rw,rshared", "busybox", "sh", "-c",
                 "mkdir /x/sub && mount -t tmpfs from-container /x/sub && touch /x/sub/made-inside")
    assert result.returncode == 0, result.stderr.decode()
    try:
        assert os.path.ismount(os.path.join(shared_source, "sub"))
        assert os.path.exists(os.path.join(shared_source, "sub", "made-inside"))
    finally:
        subprocess.run(["umount", os.path.join(shared_source, "sub")], check=False)


def test_a_host_mount_made_under_the_source_appears_in_an_rslave_bind(daemon, shared_source):
    os.mkdir(os.path.join(shared_source, "later"))
    subprocess.run(["mount", "-t", "tmpfs", "from-host", os.path.join(shared_source, "later")], check=True)
    result = run(daemon, "--mount", f"type=bind,src={shared_source},dst=/x,bind-propagation=rslave", "busybox",
                 "grep", " /x/later ", "/proc/self/mountinfo")
    assert result.returncode == 0, result.stderr.decode()
    assert "master:" in result.stdout.decode()  # a slave of the host's peer group


def test_a_private_bind_stays_private(daemon, shared_source):
    result = run(daemon, "-v", f"{shared_source}:/x", "busybox", "grep", " /x ", "/proc/self/mountinfo")
    assert result.returncode == 0, result.stderr.decode()
    assert "shared:" not in result.stdout.decode() and "master:" not in result.stdout.decode()


def test_shared_propagation_over_a_private_source_is_refused_at_start_with_dockers_words(daemon, tmp_path):
    # tmp_path lies on a private mount (this host's / is private, as a default Debian's)
    created = daemon.cli("create", "-v", f"{tmp_path}:/x:rshared", "busybox", "true")
    assert created.returncode == 0, created.stderr.decode()
    container = created.stdout.decode().strip()
    try:
        mounts = json.loads(daemon.cli("inspect", "-f", "{{json .Mounts}}", container).stdout)
        assert [(m["Mode"], m["Propagation"]) for m in mounts] == [("rshared", "rshared")]
        started = daemon.cli("start", container)
        assert started.returncode != 0
        assert f"path {tmp_path} is mounted on " in started.stderr.decode()
        assert "but it is not a shared mount" in started.stderr.decode()
    finally:
        daemon.cli("rm", "-f", container)


def test_slave_propagation_over_a_private_source_is_refused(daemon, tmp_path):
    result = run(daemon, "-v", f"{tmp_path}:/x:rslave", "busybox", "true")
    assert result.returncode != 0
    assert "but it is not a shared or slave mount" in result.stderr.decode()


@pytest.mark.parametrize("spec, message", [
    ("/tmp:/x:rshared,rslave", "invalid mode: rshared,rslave"),
    ("/tmp:/x:ro,rw", "invalid mode: ro,rw"),
    ("/tmp:/x:rw,bogus", "invalid mode: rw,bogus"),
    ("propvol:/x:rshared", "invalid volume specification: 'propvol:/x:rshared': invalid mount config for type "
                           '"volume": field BindOptions must not be specified'),
])
def test_bad_modes_are_refused_at_create_with_dockers_message(daemon, spec, message):
    result = daemon.cli("create", "-v", spec, "busybox", "true")
    assert result.returncode != 0
    assert message in result.stderr.decode()
