"""What berth's networks cannot do is refused with a clear error at create, never dropped: IPv6,
link-local addresses, other IPAM drivers and options, several pools, auxiliary addresses."""

from __future__ import annotations

import pytest

from tests.e2e.netapi import api


@pytest.mark.parametrize("extra, status, message", [
    ({"EnableIPv6": True}, 400, "IPv6 is not supported: berth's networks are IPv4 only (EnableIPv6)"),
    ({"IPAM": {"Driver": "foo"}}, 404, 'plugin "foo" not found'),
    ({"IPAM": {"Options": {"x": "y"}}}, 400, "IPAM options are not supported"),
    ({"IPAM": {"Config": [{"Subnet": "172.29.0.0/16"}, {"Subnet": "172.30.0.0/16"}]}}, 400,
     "bridge driver doesn't support multiple subnets"),
    ({"IPAM": {"Config": [{"Subnet": "172.29.0.0/16", "AuxiliaryAddresses": {"a": "172.29.1.5"}}]}}, 400,
     "IPAM AuxiliaryAddresses are not supported"),
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
    ({"IPv6Address": "2001:db8::5"}, "IPv6 is not supported"),
    ({"LinkLocalIPs": ["169.254.8.8"]}, "link-local IP addresses are not supported"),
])
def test_endpoint_addresses_berth_cannot_give_are_refused_at_create(netd, ipam, message):
    body = {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "bridge"},
            "NetworkingConfig": {"EndpointsConfig": {"bridge": {"IPAMConfig": ipam}}}}
    status, reply = api(netd, "POST", "/containers/create?name=refused-endpoint", body)
    assert status == 400 and message in reply["message"]
    assert api(netd, "GET", "/containers/refused-endpoint/json")[0] == 404
