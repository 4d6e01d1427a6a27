"""Engine API calls the network tests make, raw (status codes and bodies exactly as sent)."""

from __future__ import annotations

from tests.helpers import api

__all__ = ["api", "connect", "create", "disconnect", "inspect", "new_network", "sh", "start"]


def create(d, name: str, network: str = "", aliases=(), cmd=("sleep", "300"), **extra) -> str:
    body = {"Image": "busybox", "Cmd": list(cmd), **extra}
    if network:
        body.setdefault("HostConfig", {})["NetworkMode"] = network
    if aliases:
        body["NetworkingConfig"] = {"EndpointsConfig": {network: {"Aliases": list(aliases)}}}
    status, reply = api(d, "POST", f"/containers/create?name={name}", body)
    assert status == 201, reply
    return reply["Id"]


def inspect(d, name: str) -> dict:
    status, info = api(d, "GET", f"/containers/{name}/json")
    assert status == 200, info
    return info


def connect(d, network: str, container: str, **endpoint) -> tuple[int, object]:
    return api(d, "POST", f"/networks/{network}/connect", {"Container": container, "EndpointConfig": endpoint})


def disconnect(d, network: str, container: str, force: bool = False) -> tuple[int, object]:
    return api(d, "POST", f"/networks/{network}/disconnect", {"Container": container, "Force": force})


def start(d, name: str) -> tuple[int, object]:
    return api(d, "POST", f"/containers/{name}/start")


def sh(d, name: str, script: str) -> str:
    result = d.cli("exec", name, "sh", "-c", script)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def new_network(d, name: str, **extra) -> str:
    status, reply = api(d, "POST", "/networks/create", {"Name": name, **extra})
    assert status == 201, reply
    return reply["Id"]
