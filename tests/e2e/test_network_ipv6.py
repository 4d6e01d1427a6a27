"""IPv6 on user-defined bridge networks, as dockerd 20.10 does it: a pool per family, an address, a route
and name resolution for each container, inspect's fields, and what a daemon restart keeps."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.e2e.netapi import api, create, inspect, new_network, sh, start
from tests.peers import real_docker

SUBNET6 = "fd42:be27:6::/64"
GATEWAY6 = "fd42:be27:6::1"
V6_IPAM = {"Driver": "default", "Config": [{"Subnet": "172.29.60.0/24"}, {"Subnet": SUBNET6}]}


def v6_network(d, name: str = "v6-net", ipam: dict | None = None) -> str:
    return new_network(d, name, EnableIPv6=True, IPAM=ipam or V6_IPAM)


def run_on(d, name: str, network: str, ip6: str = "") -> dict:
    endpoint = {"IPAMConfig": {"IPv6Address": ip6}} if ip6 else {}
    body = {"Image": "busybox", "Cmd": ["sleep", "300"], "HostConfig": {"NetworkMode": network},
            "NetworkingConfig": {"EndpointsConfig": {network: endpoint}}}
    status, reply = api(d, "POST", f"/containers/create?name={name}", body)
    assert status == 201, reply
    status, reply = start(d, name)
    assert status == 204, reply
    return inspect(d, name)["NetworkSettings"]["Networks"][network]


def test_each_container_gets_an_ipv6_address_and_default_route(netd):
    v6_network(netd)
    endpoint = run_on(netd, "v6-a", "v6-net")
    assert (endpoint["GlobalIPv6Address"], endpoint["GlobalIPv6PrefixLen"], endpoint["IPv6Gateway"]) == (
        "fd42:be27:6::2", 64, GATEWAY6)
    assert "inet6 fd42:be27:6::2/64 scope global" in sh(netd, "v6-a", "ip -6 addr show eth0")
    assert f"default via {GATEWAY6} dev eth0" in sh(netd, "v6-a", "ip -6 route")
    assert sh(netd, "v6-a", "cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6").strip() == "0"


def test_an_interface_of_a_network_without_ipv6_has_ipv6_off_as_in_dockerd(netd):
    new_network(netd, "v4-only")
    run_on(netd, "v4-c", "v4-only")
    assert sh(netd, "v4-c", "cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6").strip() == "1"
    assert "inet6" not in sh(netd, "v4-c", "ip addr show eth0")  # not even a link-local address


def test_containers_on_an_ipv6_network_reach_each_other_by_name(netd):
    v6_network(netd)
    run_on(netd, "v6-ping-a", "v6-net")
    run_on(netd, "v6-ping-b", "v6-net", ip6="fd42:be27:6::b")
    assert "fd42:be27:6::b" in sh(netd, "v6-ping-a", "nslookup -type=aaaa v6-ping-b 127.0.0.11")
    assert "1 packets received" in sh(netd, "v6-ping-a", "ping6 -c 1 -W 5 v6-ping-b")
    assert "1 packets received" in sh(netd, "v6-ping-b", f"ping6 -c 1 -W 5 {GATEWAY6}")


def test_a_requested_ipv6_address_is_given_and_echoed(netd):
    v6_network(netd)
    endpoint = run_on(netd, "v6-asked", "v6-net", ip6="fd42:be27:6::99")
    assert endpoint["IPAMConfig"] == {"IPv6Address": "fd42:be27:6::99"}
    assert endpoint["GlobalIPv6Address"] == "fd42:be27:6::99"
    containers = api(netd, "GET", "/networks/v6-net")[1]["Containers"]
    assert [c["IPv6Address"] for c in containers.values()] == ["fd42:be27:6::99/64"]
    hosts = sh(netd, "v6-asked", "cat /etc/hosts").splitlines()
    assert hosts[-2:] == [f"{endpoint['IPAddress']}\t{inspect(netd, 'v6-asked')['Config']['Hostname']}",
                          f"fd42:be27:6::99\t{inspect(netd, 'v6-asked')['Config']['Hostname']}"]


def test_an_ipv6_address_outside_the_subnet_is_refused_at_start(netd):
    v6_network(netd)
    body = {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "v6-net"},
            "NetworkingConfig": {"EndpointsConfig": {"v6-net": {"IPAMConfig": {"IPv6Address": "fd42:be27:7::5"}}}}}
    assert api(netd, "POST", "/containers/create?name=v6-outside", body)[0] == 201
    status, reply = start(netd, "v6-outside")
    assert status == 400  # dockerd: a 500 with these words
    assert "Invalid address fd42:be27:7::5: It does not belong to any of this network's subnets" in reply["message"]
    assert api(netd, "GET", "/networks/v6-net")[1]["Containers"] == {}


def test_the_ipv6_range_and_gateway_are_honoured(netd):
    ipam = {"Config": [{"Subnet": SUBNET6, "Gateway": "fd42:be27:6::fe", "IPRange": "fd42:be27:6::100/120"}]}
    v6_network(netd, ipam=ipam)
    endpoint = run_on(netd, "v6-ranged", "v6-net")
    assert (endpoint["GlobalIPv6Address"], endpoint["IPv6Gateway"]) == ("fd42:be27:6::100", "fd42:be27:6::fe")


def test_an_ipv6_network_survives_a_daemon_restart(netd):
    v6_network(netd)
    before = run_on(netd, "v6-kept", "v6-net")
    netd.stop()
    netd.start()
    after = inspect(netd, "v6-kept")["NetworkSettings"]["Networks"]["v6-net"]
    assert after["GlobalIPv6Address"] == before["GlobalIPv6Address"] == "fd42:be27:6::2"
    assert run_on(netd, "v6-new", "v6-net")["GlobalIPv6Address"] == "fd42:be27:6::3"  # nothing handed out twice
    assert "fd42:be27:6::2" in sh(netd, "v6-new", "nslookup -type=aaaa v6-kept 127.0.0.11")
    assert "1 packets received" in sh(netd, "v6-new", "ping6 -c 1 -W 5 fd42:be27:6::2")


def test_leaving_releases_the_ipv6_address(netd):
    v6_network(netd)
    run_on(netd, "v6-first", "v6-net")
    assert api(netd, "DELETE", "/containers/v6-first?force=1")[0] == 204
    assert run_on(netd, "v6-second", "v6-net")["GlobalIPv6Address"] == "fd42:be27:6::3"  # the next, as dockerd
    assert api(netd, "DELETE", "/containers/v6-second?force=1")[0] == 204
    # the pool is empty again: the one address left, asked for by name, is free
    assert run_on(netd, "v6-third", "v6-net", ip6="fd42:be27:6::2")["GlobalIPv6Address"] == "fd42:be27:6::2"


@pytest.mark.parametrize("extra, status, message", [
    ({"EnableIPv6": True}, 404,
     "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network"),
    ({"EnableIPv6": True, "IPAM": {"Config": [{"Subnet": "fd42:be27:8::/64"}, {"Subnet": "fd42:be27:9::/64"}]}},
     400, "bridge driver doesn't support multiple subnets"),
    ({"EnableIPv6": True, "IPAM": {"Config": [{"Subnet": "fd42:be27:8::/64", "Gateway": "fd42:be27:9::1"}]}},
     400, "gateway fd42:be27:9::1 is not a usable address of subnet fd42:be27:8::/64"),
])
def test_an_ipv6_network_berth_cannot_make_is_refused(netd, extra, status, message):
    answer = api(netd, "POST", "/networks/create", {"Name": "refused-v6", **extra})
    assert answer[0] == status and message in answer[1]["message"], answer
    assert api(netd, "GET", "/networks/refused-v6")[0] == 404


def test_an_ipv6_pool_without_enable_ipv6_is_recorded_but_gives_no_addresses(netd):
    new_network(netd, "v6-off", IPAM={"Config": [{"Subnet": SUBNET6}]})
    shown = api(netd, "GET", "/networks/v6-off")[1]
    assert shown["EnableIPv6"] is False and shown["IPAM"]["Config"][1] == {"Subnet": SUBNET6}
    endpoint = run_on(netd, "v6-off-c", "v6-off", ip6="fd42:be27:6::f00")
    assert endpoint["IPAMConfig"] == {"IPv6Address": "fd42:be27:6::f00"}
    assert (endpoint["GlobalIPv6Address"], endpoint["IPv6Gateway"]) == ("", "")
    assert "inet6 fd42" not in sh(netd, "v6-off-c", "ip -6 addr show eth0")


# ---------------------------------------------------------------------------
# side by side with the real dockerd
# ---------------------------------------------------------------------------

PEER_SUBNET6 = "fd42:be27:61::/64"


def _peer_view(docker: list[str], name: str) -> tuple[dict, dict, str]:
    """(network inspect, container inspect, /etc/hosts) of the lab dockerd's IPv6 network and container."""
    subprocess.run(docker + ["network", "create", "--ipv6", "--subnet", "172.29.61.0/24", "--subnet", PEER_SUBNET6,
                             name], check=True, capture_output=True)
    try:
        subprocess.run(docker + ["run", "-d", "--name", name, "--network", name, "--ip6", "fd42:be27:61::9",
                                 "busybox", "sleep", "300"], check=True, capture_output=True)
        hosts = subprocess.run(docker + ["exec", name, "cat", "/etc/hosts"], capture_output=True).stdout.decode()
        container = json.loads(subprocess.run(docker + ["inspect", name], capture_output=True).stdout)[0]
        network = json.loads(subprocess.run(docker + ["network", "inspect", name], capture_output=True).stdout)[0]
        return network, container, hosts
    finally:
        subprocess.run(docker + ["rm", "-f", name], capture_output=True)
        subprocess.run(docker + ["network", "rm", name], capture_output=True)


def _comparable(network: dict, container: dict, hosts: str) -> dict:
    endpoint = next(iter(container["NetworkSettings"]["Networks"].values()))
    member = next(iter(network["Containers"].values()))
    hostname = container["Config"]["Hostname"]
    return {
        "EnableIPv6": network["EnableIPv6"], "IPAM.Config": network["IPAM"]["Config"],
        "Containers.IPv6Address": member["IPv6Address"],
        "endpoint": {k: endpoint[k] for k in ("IPAMConfig", "GlobalIPv6Address", "GlobalIPv6PrefixLen",
                                               "IPv6Gateway", "Gateway", "IPAddress", "IPPrefixLen")},
        "hosts": [line.replace(hostname, "HOST") for line in hosts.splitlines()],
    }


def test_ipv6_inspect_and_hosts_match_dockerd(netd):
    docker = real_docker()
    peer = _comparable(*_peer_view(docker, "berth-ipv6-peer"))
    new_network(netd, "berth-ipv6-peer", EnableIPv6=True,
                IPAM={"Config": [{"Subnet": "172.29.61.0/24"}, {"Subnet": PEER_SUBNET6}]})
    run_on(netd, "berth-ipv6-peer", "berth-ipv6-peer", ip6="fd42:be27:61::9")
    ours = _comparable(api(netd, "GET", "/networks/berth-ipv6-peer")[1], inspect(netd, "berth-ipv6-peer"),
                       sh(netd, "berth-ipv6-peer", "cat /etc/hosts"))
    assert ours == peer
