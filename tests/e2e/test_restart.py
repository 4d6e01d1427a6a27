"""``restart`` as dockerd: its errors, an ``--rm`` container kept, a container waiting for its policy's restart.

dockerd wraps every failure after the lookup in "Cannot restart container REF: ..." and,
having lost the error's kind on the way, answers 500 (docker-py raises APIError, not
NotFound). The cases run on berthd and on the real dockerd side by side.
"""

from __future__ import annotations

import time
import uuid

import docker
import pytest


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _network_gone(client, made):
    net = client.networks.create(_name("gone"))
    c = client.containers.create("busybox", ["sleep", "1000"], name=_name("restart"), network=net.name)
    made.append(c)
    net.remove()
    return c, "network {} not found".format(net.name)


def _joined_container_stopped(client, made):
    donor = client.containers.create("busybox", ["true"], name=_name("donor"))
    made.append(donor)
    c = client.containers.create("busybox", ["sleep", "1000"], name=_name("restart"),
                                 network_mode=f"container:{donor.name}")
    made.append(c)
    return c, f"cannot join network of a non running container: {donor.id}"


def _no_command(client, made):
    c = client.containers.create("busybox", ["/nonexistent"], name=_name("restart"), network_mode="none")
    made.append(c)
    return c, 'exec: "/nonexistent": stat /nonexistent: no such file or directory'


FAILURES = {"network-gone": _network_gone, "joined-container-stopped": _joined_container_stopped,
            "no-command": _no_command}


def restart_failure(client, case) -> tuple[int, str, str]:
    """(status, message, the reason expected inside it) of restarting the case's container by name."""
    made = []
    try:
        c, reason = FAILURES[case](client, made)
        with pytest.raises(docker.errors.APIError) as info:
            client.api.restart(c.name, timeout=1)
        return info.value.response.status_code, info.value.explanation, reason
    finally:
        for c in reversed(made):
            c.remove(force=True)


@pytest.mark.parametrize("case", list(FAILURES))
def test_a_failed_restart_is_dockerds_500_naming_the_container(sdk, case):
    status, message, reason = restart_failure(sdk, case)
    assert status == 500
    assert message.startswith("Cannot restart container restart-") and reason in message


@pytest.mark.parametrize("case", list(FAILURES))
def test_dockerd_answers_a_failed_restart_the_same(real_sdk, case):
    status, message, reason = restart_failure(real_sdk, case)
    assert status == 500
    assert message.startswith("Cannot restart container restart-") and reason in message


def test_an_unknown_container_is_a_plain_404(sdk):
    with pytest.raises(docker.errors.NotFound) as info:
        sdk.api.restart("no-such-container")
    assert info.value.explanation == "No such container: no-such-container"


@pytest.mark.parametrize("client", ["sdk", "real_sdk"])
def test_an_invalid_stop_signal_is_refused_at_create(request, client):
    client = request.getfixturevalue(client)
    with pytest.raises(docker.errors.APIError) as info:
        client.containers.create("busybox", ["true"], stop_signal="SIGFOO")
    assert info.value.response.status_code == 400 and info.value.explanation == "Invalid signal: SIGFOO"


@pytest.mark.parametrize("client", ["sdk", "real_sdk"])
def test_restarting_an_auto_remove_container_keeps_it(request, client):
    client = request.getfixturevalue(client)
    c = client.containers.run("busybox", ["sleep", "1000"], detach=True, auto_remove=True, network_mode="none")
    try:
        c.restart(timeout=1)
        time.sleep(0.5)
        c.reload()
        assert c.status == "running" and c.attrs["HostConfig"]["AutoRemove"] is True
    finally:
        c.remove(force=True)


def test_restarting_a_container_between_its_policys_restarts_starts_it(sdk):
    """The restart policy's own start may be under way: restart waits for it, never leaves half a start."""
    c = sdk.containers.run("busybox", ["sh", "-c", "sleep 0.2; exit 1"], detach=True, network_mode="none",
                           restart_policy={"Name": "always"})
    try:
        for pause in (0.1, 0.25, 0.05, 0.3, 0.15, 0.2):
            time.sleep(pause)
            c.restart(timeout=1)
        c.stop(timeout=1)
        c.reload()
        assert c.status == "exited"
    finally:
        c.remove(force=True)
