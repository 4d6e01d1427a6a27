"""Debian's docker-compose (1.29, docker-py underneath) driving a berthd in its own network namespace.

Each project is a directory of ``projects/`` (a docker-compose.yml and, where it builds, a
Dockerfile FROM busybox). The runner's environment points compose at the module's berthd
and at nothing else: DOCKER_HOST is that socket, the docker config directory is the test's,
builds go through the Engine API (no BuildKit, no docker CLI) and no COMPOSE_* setting of
the caller leaks in. ``run`` and ``exec`` go through the docker CLI, as compose does by default
(its in-process alternative, COMPOSE_INTERACTIVE_NO_CLI, attaches only after the start and so
races a short command to its exit, against dockerd as well).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.peers import missing_peer

PROJECTS = os.path.join(os.path.dirname(__file__), "projects")
COMPOSE = shutil.which("docker-compose") or "/usr/bin/docker-compose"


class Compose:
    """``docker-compose -p <project>`` run in a project's directory against one berthd."""

    def __init__(self, daemon):
        self.daemon = daemon
        config = os.path.join(daemon.base, "compose-docker-config")
        os.makedirs(config, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "COMPOSE_"))}
        env.update({"DOCKER_HOST": daemon.host, "DOCKER_CONFIG": config, "DOCKER_BUILDKIT": "0",
                    "COMPOSE_DOCKER_CLI_BUILD": "0", "COMPOSE_HTTP_TIMEOUT": "120"})
        self.env = env

    def __call__(self, project: str, *args: str, directory: str = "", check: bool = True,
                 timeout: float = 240) -> subprocess.CompletedProcess:
        cwd = os.path.join(PROJECTS, directory or project)
        result = subprocess.run([COMPOSE, "--ansi", "never", "-p", project, *args], cwd=cwd, env=self.env,
                                capture_output=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stdout.decode(errors='replace')}{result.stderr.decode(errors='replace')}"
                                 f"\n--- berthd log ---\n{self.daemon.log()}")
        return result

    def out(self, project: str, *args: str, **kw) -> str:
        return self(project, *args, **kw).stdout.decode()


@pytest.fixture(scope="module")
def compose(bridge_daemon) -> Compose:
    if not os.path.exists(COMPOSE):
        pytest.fail("docker-compose is not installed: run bash .ci/install (Debian's docker-compose package)",
                    pytrace=False)
    if not shutil.which("docker"):
        missing_peer("the docker CLI (compose's run and exec use it) is not installed",
                     "apt-get install docker.io (bash .ci/peers does)")
    return Compose(bridge_daemon)
