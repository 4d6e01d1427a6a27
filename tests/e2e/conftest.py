"""Fixtures for end-to-end tests with real clients: the docker CLI, docker-py, tmux; and a berthd in its own netns.

Every test talks to a real berthd (the ``daemon`` fixture of the suite's conftest,
or :func:`bridge_daemon` for tests that need the default bridge network, which
runs berthd inside a network namespace made for it).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile
from typing import Iterator

import pytest

from tests.conftest import Daemon, _unmount_all
from tests.peers import missing_peer

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


def docker_env(daemon: Daemon, extra: dict | None = None) -> dict:
    """An environment in which ``docker`` talks to ``daemon`` and to nothing else (no user config)."""
    config = os.path.join(daemon.base, "docker-config")
    os.makedirs(config, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update({"DOCKER_HOST": daemon.host, "DOCKER_CONFIG": config, "DOCKER_CLI_HINTS": "false"})
    env.update(extra or {})
    return env


class DockerCLI:
    """Runs the real docker CLI against one berthd."""

    def __init__(self, daemon: Daemon):
        self.daemon = daemon
        self.env = docker_env(daemon)

    def __call__(self, *args: str, input: bytes | None = None, timeout: float = 60,
                 check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([DOCKER, *args], input=input, capture_output=True, timeout=timeout, env=self.env)
        if check and result.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stderr.decode(errors='replace')}\n--- berthd log ---\n{self.daemon.log()}")
        return result

    def out(self, *args: str, **kw) -> str:
        return self(*args, **kw).stdout.decode().strip()


@pytest.fixture(scope="module")
def docker_cli(daemon) -> DockerCLI:
    if not os.path.exists(DOCKER):
        missing_peer("the docker CLI is not installed", "apt-get install docker.io (bash .ci/peers does)")
    return DockerCLI(daemon)


@pytest.fixture(scope="module")
def sdk(daemon):
    """docker-py's client of the module's berthd (API version negotiated, as users run it)."""
    import docker

    client = docker.DockerClient(base_url=daemon.host, version="auto", timeout=60)
    yield client
    client.close()


@pytest.fixture(scope="module")
def real_sdk():
    """docker-py's client of the lab's real dockerd (fails in CI, skips elsewhere, when it is absent)."""
    import docker

    from tests.peers import LAB_DOCKER, real_docker

    real_docker()
    client = docker.DockerClient(base_url="unix://" + LAB_DOCKER, version="auto", timeout=60)
    yield client
    client.close()


# ---------------------------------------------------------------------------
# a berthd with a real default bridge, inside its own network namespace
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def netns_berthd(base: str) -> Iterator[Daemon]:
    """A berthd under ``base`` with busybox and a real default bridge, in a network namespace made for it.

    On exit every container is removed, berthd stops, its mounts go and the namespace is deleted.
    """
    netns = "berth-test-" + secrets.token_hex(4)
    subprocess.run(["ip", "netns", "add", netns], check=True)
    # the suite's Daemon runs berthd under nsenter --net=<netns> and keeps its default bridge there
    d = Daemon(base, ["-s", "vfs", "--bip", "10.231.0.1/24"], netns=netns)
    try:
        subprocess.run(["nsenter", f"--net=/run/netns/{netns}", "ip", "link", "set", "lo", "up"], check=True)
        d.start()
        result = d.cli("image", "bootstrap", "busybox")
        assert result.returncode == 0, result.stderr.decode() + d.log()
        yield d
    finally:
        d.remove_everything()
        d.stop()
        _unmount_all(base)
        subprocess.run(["ip", "netns", "delete", netns], check=False)


@pytest.fixture(scope="module")
def bridge_daemon(suite_tmp, busybox_path):
    """A berthd whose default ``bridge`` network exists (in a namespace this fixture made and removes)."""
    with netns_berthd(tempfile.mkdtemp(prefix="d-", dir=suite_tmp)) as d:
        yield d


@pytest.fixture
def netd(bridge_daemon):
    """The module's berthd with a default bridge, emptied of containers and user networks after each test."""
    yield bridge_daemon
    bridge_daemon.remove_everything()
    bridge_daemon.cli("network", "prune", "-f")


def in_netns(daemon: Daemon, *argv: str, timeout: float = 20) -> subprocess.CompletedProcess:
    """Run a command in the daemon's network namespace (to reach published ports on its loopback)."""
    return subprocess.run(["nsenter", f"--net=/run/netns/{daemon.netns}", *argv], capture_output=True,
                          timeout=timeout)
