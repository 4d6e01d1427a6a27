"""IPAM as dockerd's default driver does it (auxiliary addresses kept free, link-local addresses added),
and what berth's networks cannot do refused with a clear error at create, never dropped: other IPAM
drivers and options, several pools of one family, IPv6 link-local addresses (IPv6: test_network_ipv6)."""

from __future__ import annotations

import pytest

from tests.e2e.netapi import api, create, inspect, sh, start


@pytest.mark.parametrize("extra, status, message", [
    ({"IPAM": {"Driver": "foo"}}, 404, 'plugin "foo" not found'),
    ({"IPAM": {"Options": {"x": "y"}}}, 400, "IPAM options are not supported"),
    ({"IPAM": {"Config": [{"Subnet": "172.29.0.0/16"}, {"Subnet": "172.30.0.0/16"}]}}, 400,
     "bridge driver doesn't support multiple subnets"),
    ({"IPAM": {"Config": [{"AuxiliaryAddresses": {"a": "172.29.1.5"}}]}}, 400,
     "auxiliary addresses need the subnet they belong to"),
    ({"IPAM": {"Config": [{"Subnet": "172.29.0.0/16", "AuxiliaryAddresses": {"a": "10.0.0.5"}}]}}, 400,
     "auxiliary address a=10.0.0.5 is not in subnet 172.29.0.0/16"),
])
def test_network_create_refuses_what_it_cannot_do(netd, extra, status, message):
    answer = api(netd, "POST", "/networks/create", {"Name": "refused-net", **extra})
    assert answer[0] == status and message in answer[1]["message"]
    assert api(netd, "GET", "/networks/refused-net")[0] == 404  # nothing was made


def test_default_ipam_and_one_pool_are_accepted(netd):
    body = {"Name": "plain-net", "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Config": [{"Subnet": "172.29.0.0/16", "Gateway": "172.29.0.1"}]}}
    status, reply = api(netd, "POST", "/networks/create", body)
    assert status == 201, reply


@pytest.mark.parametrize("ipam, message", [
    ({"IPv6Address": "2001:db8::5"}, "user specified IP address is supported on user defined networks only"),
    ({"IPv6Address": "zz"}, "invalid IPv6 address: zz"),
    ({"LinkLocalIPs": ["fe80::8"]}, "IPv6 link-local addresses are not supported"),
    ({"LinkLocalIPs": ["bogus"]}, "invalid link-local IP address: bogus"),
])
def test_endpoint_addresses_berth_cannot_give_are_refused_at_create(netd, ipam, message):
    body = {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "bridge"},
            "NetworkingConfig": {"EndpointsConfig": {"bridge": {"IPAMConfig": ipam}}}}
    status, reply = api(netd, "POST", "/containers/create?name=refused-endpoint", body)
    assert status == 400 and message in reply["message"]
    assert api(netd, "GET", "/containers/refused-endpoint/json")[0] == 404


def test_auxiliary_addresses_are_shown_and_never_handed_out(netd):
    ipam = {"Driver": "default", "Config": [{"Subnet": "172.29.9.0/29", "Gateway": "172.29.9.1",
                                             "AuxiliaryAddresses": {"a": "172.29.9.2", "b": "172.29.9.3"}}]}
    status, reply = api(netd, "POST", "/networks/create", {"Name": "aux-net", "IPAM": ipam})
    assert status == 201, reply
    assert api(netd, "GET", "/networks/aux-net")[1]["IPAM"]["Config"] == [
        {"Subnet": "172.29.9.0/29", "Gateway": "172.29.9.1", "AuxiliaryAddresses": {"a": "172.29.9.2", "b": "172.29.9.3"}}]
    create(netd, "aux-dynamic", network="aux-net")
    assert start(netd, "aux-dynamic")[0] == 204
    assert inspect(netd, "aux-dynamic")["NetworkSettings"]["Networks"]["aux-net"]["IPAddress"] == "172.29.9.4"
    body = {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "aux-net"},
            "NetworkingConfig": {"EndpointsConfig": {"aux-net": {"IPAMConfig": {"IPv4Address": "172.29.9.2"}}}}}
    assert api(netd, "POST", "/containers/create?name=aux-asked", body)[0] == 201
    status, reply = start(netd, "aux-asked")  # as dockerd: refused when the address is taken, at start
    assert status == 409 and "172.29.9.2 is already in use on this network (by auxiliary address a)" in reply["message"]


def test_link_local_ips_are_added_to_the_containers_interface(netd):
    body = {"Image": "busybox", "Cmd": ["sleep", "300"], "HostConfig": {"NetworkMode": "bridge"},
            "NetworkingConfig": {"EndpointsConfig": {"bridge": {"IPAMConfig": {"LinkLocalIPs": ["169.254.8.8"]}}}}}
    assert api(netd, "POST", "/containers/create?name=with-link-local", body)[0] == 201
    assert start(netd, "with-link-local")[0] == 204
    endpoint = inspect(netd, "with-link-local")["NetworkSettings"]["Networks"]["bridge"]
    assert endpoint["IPAMConfig"] == {"LinkLocalIPs": ["169.254.8.8"]}
    assert "inet 169.254.8.8/16" in sh(netd, "with-link-local", "ip -4 addr show eth0")
