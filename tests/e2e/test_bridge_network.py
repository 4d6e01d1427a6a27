"""Published ports and user networks through the docker CLI and the berth CLI, on a berthd that has a
real default bridge (inside a network namespace the fixture made: nothing touches the host's network)."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from tests.e2e.conftest import DockerCLI, in_netns
from tests.e2e.netapi import api, new_network


@pytest.fixture(scope="module")
def dk(bridge_daemon) -> DockerCLI:
    return DockerCLI(bridge_daemon)


def _fetch(daemon, port: int) -> bytes:
    """One line from a TCP server on the daemon namespace's loopback (retried while the server starts)."""
    script = ("import socket,sys,time\n"
              "for _ in range(100):\n"
              "    try:\n"
              f"        s=socket.create_connection(('127.0.0.1',{port}),2); print(s.makefile('rb').readline().decode(),end=''); sys.exit(0)\n"
              "    except OSError: time.sleep(0.1)\n"
              "sys.exit(1)\n")
    import sys

    result = in_netns(daemon, sys.executable, "-c", script)
    return result.stdout


def test_publish_maps_a_port_and_port_lists_it(dk, bridge_daemon):
    dk("run", "-d", "--name", "srv", "-p", "127.0.0.1:18080:80", "busybox",
       "sh", "-c", "while true; do echo pong | nc -l -p 80; done")
    try:
        assert dk.out("port", "srv") == "80/tcp -> 127.0.0.1:18080"
        assert dk.out("port", "srv", "80") == "127.0.0.1:18080"
        assert "127.0.0.1:18080->80/tcp" in dk.out("ps", "--format", "{{.Ports}}")
        assert bridge_daemon.cli("port", "srv").stdout.decode().strip() == "80/tcp -> 127.0.0.1:18080"
        assert _fetch(bridge_daemon, 18080) == b"pong\n"
    finally:
        dk("rm", "-f", "srv")


def test_publish_all_uses_random_host_ports(bridge_daemon):
    cli = bridge_daemon.cli
    assert cli("run", "-d", "--name", "pall", "-P", "--expose", "7000", "busybox", "sleep", "60").returncode == 0
    try:
        mapping = cli("port", "pall").stdout.decode().strip()
        assert mapping.startswith("7000/tcp -> 0.0.0.0:")
        assert int(mapping.rsplit(":", 1)[1]) > 0
    finally:
        cli("rm", "-f", "pall")


def test_user_network_create_connect_disconnect(dk, bridge_daemon):
    cli = bridge_daemon.cli
    created = cli("network", "create", "--driver", "bridge", "--subnet", "10.232.5.0/24", "--gateway", "10.232.5.1",
                  "--ip-range", "10.232.5.128/25", "--label", "team=a", "appnet")
    assert created.returncode == 0, created.stderr.decode()
    try:
        listing = dk.out("network", "ls", "--format", "{{.Name}} {{.Driver}}").splitlines()
        assert "appnet bridge" in listing and "bridge bridge" in listing
        info = json.loads(dk.out("network", "inspect", "appnet"))[0]
        assert info["IPAM"]["Config"][0]["Subnet"] == "10.232.5.0/24"
        assert info["Labels"] == {"team": "a"}

        assert cli("run", "-d", "--name", "member", "--network", "appnet", "--ip", "10.232.5.200",
                   "--network-alias", "db", "busybox", "sleep", "60").returncode == 0
        assert dk.out("inspect", "-f", "{{.NetworkSettings.Networks.appnet.IPAddress}}", "member") == "10.232.5.200"
        assert "db" in dk.out("inspect", "-f", "{{json .NetworkSettings.Networks.appnet.Aliases}}", "member")

        dk("run", "-d", "--name", "joiner", "busybox", "sleep", "60")
        assert cli("network", "connect", "--alias", "j", "appnet", "joiner").returncode == 0
        addr = dk.out("inspect", "-f", "{{.NetworkSettings.Networks.appnet.IPAddress}}", "joiner")
        assert addr.startswith("10.232.5.")
        ping = dk("exec", "joiner", "ping", "-c", "1", "-W", "3", "10.232.5.200", check=False)
        assert ping.returncode == 0, ping.stdout.decode() + ping.stderr.decode()
        assert cli("network", "disconnect", "appnet", "joiner").returncode == 0
        assert "appnet" not in dk.out("inspect", "-f", "{{json .NetworkSettings.Networks}}", "joiner")

        busy = cli("network", "rm", "appnet")
        assert busy.returncode == 1 and b"Error response from daemon" in busy.stderr
    finally:
        dk("rm", "-f", "member", "joiner", check=False)
    assert cli("network", "rm", "appnet").stdout.decode().strip() == "appnet"


def test_network_prune_keeps_builtin_networks(bridge_daemon):
    cli = bridge_daemon.cli
    assert cli("network", "create", "scratchnet").returncode == 0
    out = cli("network", "prune", "-f").stdout.decode()
    assert "scratchnet" in out
    names = cli("network", "ls", "--format", "{{.Name}}").stdout.decode().split()
    assert "scratchnet" not in names and {"bridge", "host", "none"} <= set(names)


def test_network_prune_removes_only_what_its_filters_pick(netd):
    """As dockerd: label, label! and until select; an unknown filter is its 400."""
    new_network(netd, "keep-me", Labels={"team": "a", "keep": "1"})
    new_network(netd, "prune-me", Labels={"team": "a"})
    new_network(netd, "other-team", Labels={"team": "b"})
    filters = urllib.parse.quote(json.dumps({"label": ["team=a"], "label!": ["keep"]}))
    assert api(netd, "POST", f"/networks/prune?filters={filters}") == (200, {"NetworksDeleted": ["prune-me"]})
    future = urllib.parse.quote(json.dumps({"until": ["1h"]}))  # created within the last hour: none picked
    assert api(netd, "POST", f"/networks/prune?filters={future}") == (200, {"NetworksDeleted": None})
    status, reply = api(netd, "POST", "/networks/prune?filters=" + urllib.parse.quote('{"bogus": ["1"]}'))
    assert status == 400 and reply["message"] == "invalid filter 'bogus'"
    names = {n["Name"] for n in api(netd, "GET", "/networks")[1]}
    assert {"keep-me", "other-team"} <= names and "prune-me" not in names


def test_network_disabled_gives_a_loopback_only_sandbox_and_no_endpoint(netd):
    """As dockerd: no endpoint at all (Networks stays {}), the NetworkMode kept, only ``lo`` inside."""
    status, reply = api(netd, "POST", "/containers/create?name=no-net",
                        {"Image": "busybox", "Cmd": ["cat", "/proc/net/dev"], "NetworkDisabled": True})
    assert status == 201, reply
    assert api(netd, "POST", "/containers/no-net/start")[0] == 204
    api(netd, "POST", "/containers/no-net/wait")
    info = api(netd, "GET", "/containers/no-net/json")[1]
    assert info["Config"]["NetworkDisabled"] is True and info["NetworkSettings"]["Networks"] == {}
    assert info["HostConfig"]["NetworkMode"] in ("default", "bridge")
    interfaces = {line.split(":")[0].strip() for line in netd.cli("logs", "no-net").stdout.decode().splitlines()[2:]}
    assert interfaces == {"lo"}
