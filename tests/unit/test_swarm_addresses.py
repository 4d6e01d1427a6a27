"""swarm init's address checks: dockerd's resolution of listen, advertise and system addresses."""

from __future__ import annotations

import ipaddress

import pytest

from berth.errors import InvalidArgument
from berth.swarm import addresses
from berth.swarm.hostaddrs import Interface

ip = ipaddress.ip_address
LOOPBACK = Interface("lo", True, True, True, [ip("127.0.0.1"), ip("::1")])


@pytest.mark.parametrize("given, sanitized", [("0.0.0.0:2377", "0.0.0.0:2377"), ("1.2.3.4", "1.2.3.4:2377"),
                                              ("tcp://eth0", "eth0:2377"), (":4000", "0.0.0.0:4000"),
                                              ("[::1]:5", "[::1]:5")])
def test_a_listen_address_gets_dockerds_default_host_and_port(given, sanitized):
    assert addresses.sanitize(given) == sanitized


def test_an_empty_listen_address_is_refused():
    with pytest.raises(ValueError, match="invalid empty address"):
        addresses.sanitize("")


def test_a_node_with_only_loopback_and_its_own_bridge_has_no_system_address():
    bridge = Interface("berth0", True, False, False, [ip("10.233.0.1")])
    with pytest.raises(InvalidArgument, match="could not find the system's IP address"):
        addresses.system_address([LOOPBACK, bridge], ["10.233.0.0/24"])


def test_the_system_address_is_the_one_address_of_the_devices():
    eth0 = Interface("eth0", True, False, True, [ip("192.0.2.2"), ip("fe80::1"), ip("fd00::2")])
    assert str(addresses.system_address([LOOPBACK, eth0], [])) == "192.0.2.2"


def test_two_addresses_on_different_devices_are_ambiguous():
    found = [Interface("eth0", True, False, True, [ip("192.0.2.2")]),
             Interface("eth1", True, False, True, [ip("198.51.100.2")])]
    with pytest.raises(InvalidArgument, match="multiple addresses on different interfaces"):
        addresses.system_address(found, [])


def test_an_interface_name_resolves_to_its_address():
    assert addresses.resolve_advertise("lo", "2377", [LOOPBACK], []) == ("127.0.0.1", "2377")


def test_an_unspecified_advertise_address_is_refused():
    with pytest.raises(InvalidArgument, match="advertise address must be a non-zero IP address"):
        addresses.resolve_advertise("0.0.0.0", "2377", [LOOPBACK], [])


def test_listening_everywhere_needs_an_advertise_address_of_this_system():
    with pytest.raises(InvalidArgument, match="must specify a listening address"):
        addresses.local_address("0.0.0.0", "8.8.8.8", [LOOPBACK], [])


def test_a_data_path_port_outside_the_registered_range_is_refused():
    with pytest.raises(Exception, match=r"Datapath port number is not in valid range \(1024-49151\) : 80"):
        addresses.check_data_path_port(80)
