"""``run -it`` driven like a person at a terminal: tmux runs the client, we type and read the screen.

Covers a real TTY (the container sees /dev/pts), window resizes reaching the
container (SIGWINCH -> POST .../resize), detaching with ctrl-p ctrl-q (the container
keeps running), ``attach`` and ``exec -it`` with their exit codes; for the real
docker CLI and for berth's own CLI.
"""

from __future__ import annotations

import itertools
import os
import shlex
import shutil
import sys
import time

import pytest
import subprocess

from tests.e2e.conftest import DOCKER, docker_env
from tests.peers import missing_peer

_servers = itertools.count()

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Screen:
    """One tmux session running one command; ``expect`` polls the pane for text.

    Each screen has a tmux server of its own (``-L``): killing a server's last session makes it
    exit, and a new session asked of it meanwhile fails ("server exited unexpectedly").
    """

    def __init__(self, name: str, command: str, env: dict):
        self.name = name
        self.tmux = ["tmux", "-L", f"{name}-{os.getpid()}-{next(_servers)}"]
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if k.startswith(("DOCKER_", "BERTH_")))
        subprocess.run([*self.tmux, "new-session", "-d", "-s", name, "-x", "100", "-y", "30",
                        f"env {exports} {command}; echo EXITED=$?; sleep 60"], check=True)

    def text(self) -> str:
        return subprocess.run([*self.tmux, "capture-pane", "-t", self.name, "-p", "-S", "-200"], capture_output=True,
                              text=True).stdout

    def expect(self, needle: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.text()
            if needle in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{needle!r} never appeared on the screen:\n{self.text()}")

    def type(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.name, *keys], check=True)

    def resize(self, width: int, height: int) -> None:
        subprocess.run([*self.tmux, "resize-window", "-t", self.name, "-x", str(width), "-y", str(height)], check=True)

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], check=False)


def _clients(daemon) -> dict[str, str]:
    return {"docker": DOCKER, "berth": f"{sys.executable} -m berth.cli.main"}


@pytest.fixture(params=["docker", "berth"])
def client_cmd(request, daemon):
    if request.param == "docker" and not shutil.which("docker") and not os.path.exists(DOCKER):
        missing_peer("the docker CLI is not installed", "apt-get install docker.io (bash .ci/peers does)")
    return request.param, _clients(daemon)[request.param]


def test_run_it_gives_a_tty_that_follows_resizes_and_detaches(daemon, client_cmd):
    kind, cmd = client_cmd
    name = f"tty-{kind}"
    screen = Screen(f"berth-e2e-{kind}", f"{cmd} run -it --name {name} busybox sh", docker_env(daemon))
    try:
        screen.expect("/ #")
        screen.type("echo $((6*7)) $(tty)", "Enter")
        screen.expect("42 /dev/pts/")
        screen.type("stty size", "Enter")
        screen.expect("30 100")
        screen.resize(120, 40)
        time.sleep(0.5)
        screen.type("stty size", "Enter")
        screen.expect("40 120")
        screen.type("C-p", "C-q")
        screen.expect("EXITED=0")
        state = daemon.cli("inspect", "-f", "{{.State.Status}}", name).stdout.decode().strip()
        assert state == "running"
    finally:
        screen.close()

    attach = Screen(f"berth-e2e-attach-{kind}", f"{cmd} attach {name}", docker_env(daemon))
    try:
        time.sleep(1)
        attach.type("echo attached-$((1+1))", "Enter")
        attach.expect("attached-2")
        attach.type("exit 5", "Enter")
        attach.expect("EXITED=5")
    finally:
        attach.close()
        daemon.cli("rm", "-f", name)


def test_exec_it_runs_a_shell_and_returns_its_exit_code(daemon, client_cmd):
    kind, cmd = client_cmd
    name = f"execit-{kind}"
    assert daemon.cli("run", "-d", "--name", name, "busybox", "sleep", "120").returncode == 0
    screen = Screen(f"berth-e2e-exec-{kind}", f"{cmd} exec -it {name} sh", docker_env(daemon))
    try:
        screen.expect("#")
        screen.type("echo inside-$(tty)", "Enter")
        screen.expect("inside-/dev/pts/")
        screen.type("exit 9", "Enter")
        screen.expect("EXITED=9")
    finally:
        screen.close()
        daemon.cli("rm", "-f", name)


@pytest.mark.parametrize("keys_from", ["flag", "config.json"])
def test_run_detach_keys_come_from_the_flag_or_else_from_config_json(daemon, client_cmd, keys_from):
    import json
    import os

    kind, cmd = client_cmd
    name = f"keys-{kind}-{keys_from.replace('.', '')}"
    env = docker_env(daemon)
    config = os.path.join(env["DOCKER_CONFIG"], "config.json")
    flag = "--detach-keys ctrl-a,x" if keys_from == "flag" else ""
    if keys_from == "config.json":
        with open(config, "w") as f:
            json.dump({"detachKeys": "ctrl-a,x"}, f)
    screen = Screen(f"berth-e2e-{name}", f"{cmd} run -it {flag} --name {name} busybox sh", env)
    try:
        screen.expect("/ #")
        screen.type("C-p", "C-q", "echo still-$((2+3))", "Enter")  # the default keys no longer detach
        screen.expect("still-5")
        screen.type("C-a", "x")
        screen.expect("EXITED=0")
        assert daemon.cli("inspect", "-f", "{{.State.Status}}", name).stdout.decode().strip() == "running"
    finally:
        screen.close()
        daemon.cli("rm", "-f", name)
        if os.path.exists(config):
            os.unlink(config)
