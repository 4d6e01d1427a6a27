"""What berth run/create do on the client, as the docker CLI does it, seen from a real berthd and its containers.

(The requests themselves are compared with the docker CLI's in
tests/e2e/test_run_options_match_docker.py; here each behaviour is shown to work.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest


def berth(daemon, *args: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "berth.cli.main", "-H", daemon.host, *args], capture_output=True,
                          timeout=60, env=env, **kw)


def out(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def all_containers(daemon) -> set[str]:
    return set(out(berth(daemon, "ps", "-aq", "--no-trunc")).split())


@pytest.fixture
def config_dir(tmp_path):
    """A private config.json directory for the CLI (BERTH_CONFIG), and the environment that uses it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "BERTH_"))}
    env["BERTH_CONFIG"] = str(tmp_path)
    return tmp_path, env


def test_cidfile_gets_the_id_and_an_existing_one_is_refused_before_anything_is_created(daemon, tmp_path):
    path = str(tmp_path / "cid")
    cid = out(berth(daemon, "create", "--cidfile", path, "busybox")).strip()
    try:
        with open(path) as f:
            assert f.read() == cid
        before = all_containers(daemon)
        again = berth(daemon, "run", "--cidfile", path, "busybox", "true")
        assert again.returncode == 125
        assert f"container ID file found, make sure the other container isn't running or delete {path}" in \
            again.stderr.decode()
        assert all_containers(daemon) == before
    finally:
        berth(daemon, "rm", "-f", cid)


def test_a_cidfile_is_removed_when_no_container_was_made(daemon, tmp_path):
    path = str(tmp_path / "cid")
    result = berth(daemon, "create", "--cidfile", path, "--pull", "never", "no-such-image-anywhere:1")
    assert result.returncode == 1 and not os.path.exists(path)


@pytest.mark.parametrize("stream, stdout, stderr", [("stdout", b"out\n", b""), ("stderr", b"", b"err\n")])
def test_attach_shows_only_the_streams_asked_for(daemon, stream, stdout, stderr):
    result = berth(daemon, "run", "--rm", "-a", stream, "busybox", "sh", "-c", "echo out; echo err >&2")
    assert (result.returncode, result.stdout, result.stderr) == (0, stdout, stderr)


def test_env_and_label_files_reach_the_container(daemon, tmp_path):
    (tmp_path / "env").write_text("# a comment\nFOO=bar\n  SPACED=x  \nBERTH_TEST_FROM_CLIENT\n")
    (tmp_path / "labels").write_text("tier=web\nignored\n")
    env = dict(os.environ, BERTH_TEST_FROM_CLIENT="passed-on")
    result = berth(daemon, "run", "--name", "files", "--env-file", str(tmp_path / "env"), "-e", "FOO=override",
                   "--label-file", str(tmp_path / "labels"), "-l", "extra=1", "busybox", "env", env=env)
    try:
        lines = set(out(result).splitlines())
        assert {"FOO=override", "SPACED=x  ", "BERTH_TEST_FROM_CLIENT=passed-on"} <= lines
        labels = json.loads(out(berth(daemon, "inspect", "-f", "{{json .Config.Labels}}", "files")))
        assert labels == {"tier": "web", "extra": "1"}
    finally:
        berth(daemon, "rm", "-f", "files")


def test_pull_never_refuses_a_missing_image(daemon):
    result = berth(daemon, "run", "--pull", "never", "no-such-image-anywhere:1", "true")
    assert result.returncode == 125
    assert "Unable to find image" not in result.stderr.decode()
    assert "No such image" in result.stderr.decode()


def test_mount_syntax_reaches_the_container(daemon, tmp_path):
    (tmp_path / "data").write_text("hello")
    result = berth(daemon, "run", "--rm", "--mount", f"type=bind,src={tmp_path},dst=/b,readonly",
                   "--mount", "type=tmpfs,dst=/t,tmpfs-mode=1770,tmpfs-size=1m", "busybox", "sh", "-c",
                   "cat /b/data; echo; touch /b/new 2>/dev/null && echo writable; stat -c %a /t")
    assert out(result).split() == ["hello", "1770"]


def test_use_api_socket_mounts_the_daemons_socket_and_copies_the_logins(daemon, config_dir):
    directory, env = config_dir
    auths = {"registry.example:5000": {"auth": "dXNlcjpwYXNz"}}
    (directory / "config.json").write_text(json.dumps({"auths": auths}))
    result = berth(daemon, "run", "--rm", "--use-api-socket", "busybox", "sh", "-c",
                   'test -S /var/run/docker.sock && echo socket; echo "$DOCKER_CONFIG"; '
                   "cat /run/secrets/docker/config.json", env=env)
    lines = out(result).split("\n", 2)
    assert lines[:2] == ["socket", "/run/secrets/docker"]
    assert json.loads(lines[2]) == {"auths": auths}


def test_content_trust_is_refused_rather_than_skipped(daemon):
    env = dict(os.environ, DOCKER_CONTENT_TRUST="1")
    result = berth(daemon, "run", "--rm", "busybox", "true", env=env)
    assert result.returncode == 125 and "content trust is not supported" in result.stderr.decode()
    assert berth(daemon, "run", "--rm", "--disable-content-trust", "busybox", "true", env=env).returncode == 0


def _start_trapping(daemon, name: str, *flags: str) -> subprocess.Popen:
    script = 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.1; done'
    proc = subprocess.Popen([sys.executable, "-m", "berth.cli.main", "-H", daemon.host, "run", "--name", name,
                             *flags, "busybox", "sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"ready\n"
    return proc


def test_sig_proxy_sends_our_signals_to_the_container(daemon):
    proc = _start_trapping(daemon, "proxied")
    try:
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=30)
        assert (proc.returncode, stdout) == (7, b"got-term\n")
    finally:
        proc.kill()
        berth(daemon, "rm", "-f", "proxied")


def test_without_sig_proxy_a_signal_ends_only_the_client(daemon):
    proc = _start_trapping(daemon, "unproxied", "--sig-proxy=false")
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGTERM
        time.sleep(0.3)
        assert out(berth(daemon, "inspect", "-f", "{{.State.Running}}", "unproxied")).strip() == "true"
    finally:
        proc.kill()
        berth(daemon, "rm", "-f", "unproxied")


def test_container_run_is_run(daemon):
    result = berth(daemon, "container", "run", "--rm", "-e", "X=1", "busybox", "sh", "-c", "echo $X")
    assert out(result) == "1\n"
    assert "berth container run" in out(berth(daemon, "container", "run", "--help"))
