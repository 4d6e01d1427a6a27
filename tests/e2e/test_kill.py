"""``kill`` as dockerd answers it: SIGKILL returns once the container is dead, other signals once delivered."""

from __future__ import annotations

import time

import docker
import pytest


def test_kill_returns_once_the_container_is_dead_so_rm_without_force_works(sdk):
    for _ in range(5):  # the race it closes was lost about half the time
        container = sdk.containers.run("busybox", ["sleep", "1000"], detach=True)
        container.kill()
        container.reload()
        assert (container.status, container.attrs["State"]["ExitCode"]) == ("exited", 137)
        container.remove()


def test_docker_kill_then_rm_succeeds(docker_cli):
    docker_cli("run", "-d", "--name", "killed", "busybox", "sleep", "1000")
    docker_cli("kill", "killed")
    docker_cli("rm", "killed")


def test_kill_with_another_signal_returns_once_delivered(sdk):
    container = sdk.containers.run("busybox", ["sh", "-c", "trap 'sleep 1; exit 3' USR1; while :; do sleep 0.1; done"],
                                      detach=True)
    try:
        time.sleep(0.5)  # let the shell install its trap
        container.kill("SIGUSR1")
        container.reload()
        assert container.status == "running"  # the handler is still sleeping
        assert container.wait(timeout=30)["StatusCode"] == 3
    finally:
        container.remove(force=True)


def test_kill_thaws_a_paused_container_so_the_signal_is_handled(sdk):
    container = sdk.containers.run("busybox", ["sleep", "1000"], detach=True)
    try:
        container.pause()
        container.kill("SIGUSR1")  # pid 1 without a handler ignores it, but is thawed
        container.reload()
        assert container.status == "running"
        container.pause()
        container.kill()
        container.reload()
        assert (container.status, container.attrs["State"]["ExitCode"]) == ("exited", 137)
    finally:
        container.remove(force=True)


def test_kill_of_a_stopped_container_is_dockers_409(sdk):
    container = sdk.containers.create("busybox", ["true"])
    try:
        with pytest.raises(docker.errors.APIError) as err:
            container.kill()
        assert err.value.status_code == 409
        assert err.value.explanation == (f"Cannot kill container: {container.id}: "
                                         f"Container {container.id} is not running")
    finally:
        container.remove(force=True)


def test_a_signal_other_than_the_stop_signal_leaves_the_restart_policy_in_force(sdk):
    container = sdk.containers.run("busybox", ["sh", "-c", "trap 'exit 5' USR1; while :; do sleep 0.1; done"],
                                      detach=True, stop_signal="SIGTERM", restart_policy={"Name": "always"})
    try:
        time.sleep(0.5)
        container.kill("SIGUSR1")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            container.reload()
            if container.attrs["RestartCount"] >= 1 and container.status == "running":
                break
            time.sleep(0.1)
        assert container.attrs["RestartCount"] >= 1 and container.status == "running"
        container.kill()  # SIGKILL: down for good, at once
        container.reload()
        assert container.status == "exited"
    finally:
        container.remove(force=True)


def _refusal_to_remove(container) -> str:
    with pytest.raises(docker.errors.APIError) as err:
        container.remove()
    assert err.value.status_code == 409
    return err.value.explanation


def test_rm_without_force_refuses_a_restarting_container_as_dockerd(sdk):
    container = sdk.containers.run("busybox", ["sh", "-c", "sleep 0.2"], detach=True,
                                   restart_policy={"Name": "always"})
    try:
        deadline = time.monotonic() + 30
        while container.attrs["RestartCount"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
            container.reload()
        assert _refusal_to_remove(container) in (  # restarting between runs, running during one
            f"You cannot remove a {state} container {container.id}. Stop the container before attempting removal "
            "or force remove" for state in ("restarting", "running"))
    finally:
        container.remove(force=True)


def test_rm_without_force_of_a_paused_container_says_to_unpause(sdk):
    container = sdk.containers.run("busybox", ["sleep", "1000"], detach=True)
    try:
        container.pause()
        assert _refusal_to_remove(container) == (f"You cannot remove a paused container {container.id}. Unpause and "
                                                 "then stop the container before attempting removal or force remove")
    finally:
        container.remove(force=True)
