"""The bridge driver's address management: subnets from pools, gateways, allocation, persistence."""

from ipaddress import IPv4Address, IPv4Network

import pytest

from berth.errors import Conflict, InvalidArgument
from berth.plugins.netdrivers import ipam


def pool(subnet="10.0.0.0/29", gateway=None, ip_range=None):
    return ipam.Pool.create(
        IPv4Network(subnet), IPv4Address(gateway) if gateway else None,
        IPv4Network(ip_range) if ip_range else None,
    )


def test_gateway_defaults_to_first_usable_address():
    assert pool().gateway == IPv4Address("10.0.0.1")


def test_gateway_defaults_to_first_address_of_ip_range():
    assert pool("10.0.0.0/24", ip_range="10.0.0.128/25").gateway == IPv4Address("10.0.0.128")


def test_addresses_are_handed_out_in_order_skipping_the_gateway():
    p = pool()
    assert [str(p.allocate(f"e{i}")) for i in range(5)] == [f"10.0.0.{n}" for n in range(2, 7)]


def test_pool_exhaustion_is_a_conflict():
    p = pool()
    for i in range(5):
        p.allocate(f"e{i}")
    with pytest.raises(Conflict, match="no free address"):
        p.allocate("one-too-many")


def test_released_address_is_not_reused_at_once():
    p = pool("10.0.0.0/24")
    first = p.allocate("a")
    p.allocate("b")
    p.release("a")
    assert p.allocate("c") != first


def test_allocation_wraps_around_to_released_addresses():
    p = pool()
    got = [p.allocate(f"e{i}") for i in range(5)]
    p.release("e0")
    assert p.allocate("again") == got[0]


def test_allocation_after_the_last_address_of_a_large_subnet_wraps_to_its_start():
    p = pool("10.0.0.0/8")
    p.last = "10.255.255.254"  # the broadcast address follows: nothing left above
    assert p.allocate("a") == IPv4Address("10.0.0.2")


def test_a_last_address_outside_the_ip_range_restarts_at_the_range():
    p = pool("10.0.0.0/24", ip_range="10.0.0.128/25")
    p.last = "10.0.0.5"
    assert p.allocate("a") == IPv4Address("10.0.0.129")


def test_same_endpoint_gets_its_address_back():
    p = pool("10.0.0.0/24")
    assert p.allocate("a") == p.allocate("a")
    assert len(p.allocated) == 1


def test_requested_address_is_honoured():
    p = pool("10.0.0.0/24")
    assert p.allocate("a", "10.0.0.77") == IPv4Address("10.0.0.77")
    assert p.address_of("a") == IPv4Address("10.0.0.77")


def test_requested_address_in_use_is_a_conflict():
    p = pool("10.0.0.0/24")
    p.allocate("a", "10.0.0.9")
    with pytest.raises(Conflict, match="already in use"):
        p.allocate("b", "10.0.0.9")


@pytest.mark.parametrize("reserved", ["10.0.0.0", "10.0.0.1", "10.0.0.255"])
def test_requested_reserved_address_is_a_conflict(reserved):
    with pytest.raises(Conflict, match="reserved"):
        pool("10.0.0.0/24").allocate("a", reserved)


def test_requested_address_outside_subnet_is_invalid():
    with pytest.raises(InvalidArgument, match="Invalid address 10.0.1.5: It does not belong to any of this network's"):
        pool("10.0.0.0/24").allocate("a", "10.0.1.5")


def test_requested_address_may_lie_outside_ip_range():
    p = pool("10.0.0.0/24", ip_range="10.0.0.128/25")
    assert p.allocate("a", "10.0.0.5") == IPv4Address("10.0.0.5")


def test_dynamic_addresses_stay_inside_ip_range():
    p = pool("10.0.0.0/24", ip_range="10.0.0.252/30")
    # .252 is the gateway, .253-.255 are free; .255 is the subnet's broadcast.
    assert [str(p.allocate(x)) for x in "ab"] == ["10.0.0.253", "10.0.0.254"]
    with pytest.raises(Conflict):
        p.allocate("c")


def test_ip_range_outside_subnet_is_invalid():
    with pytest.raises(InvalidArgument, match="not inside subnet"):
        pool("10.0.0.0/24", ip_range="10.0.1.0/25")


def test_gateway_outside_subnet_is_invalid():
    with pytest.raises(InvalidArgument, match="not a usable address"):
        pool("10.0.0.0/24", gateway="10.0.1.1")


def test_release_is_idempotent():
    p = pool()
    p.allocate("a")
    p.release("a")
    p.release("a")
    assert p.allocated == {}


def test_round_trip_through_dict_keeps_allocations_and_rotation():
    p = pool("10.0.0.0/24", ip_range="10.0.0.0/25")
    p.allocate("a")
    p.allocate("b", "10.0.0.200")
    q = ipam.Pool.from_dict(p.to_dict())
    assert q == p
    assert q.allocate("c") == IPv4Address("10.0.0.3")


def test_choose_subnet_skips_subnets_in_use():
    pools = [{"base": "10.10.0.0/16", "size": 24}]
    used = [IPv4Network("10.10.0.0/24"), IPv4Network("10.10.1.128/25")]
    assert ipam.choose_subnet(pools, used) == IPv4Network("10.10.2.0/24")


def test_choose_subnet_with_everything_taken_is_a_conflict():
    with pytest.raises(Conflict, match="fully subnetted"):
        ipam.choose_subnet([{"base": "10.10.0.0/24", "size": 24}], [IPv4Network("10.0.0.0/8")])


def test_default_pools_start_with_dockers_172_17():
    assert next(iter(ipam.candidate_subnets(ipam.DEFAULT_ADDRESS_POOLS))) == IPv4Network("172.17.0.0/16")


def test_bip_gives_subnet_and_gateway():
    assert ipam.parse_bip("172.30.5.1/24") == (IPv4Network("172.30.5.0/24"), IPv4Address("172.30.5.1"))


@pytest.mark.parametrize("bad", ["172.30.5.0/24", "nonsense", "fd00::1/64"])
def test_bad_bip_is_invalid(bad):
    with pytest.raises(InvalidArgument):
        ipam.parse_bip(bad)


def test_subnet_with_host_bits_is_invalid():
    with pytest.raises(InvalidArgument, match="invalid subnet"):
        ipam.parse_network("10.0.0.1/24", "subnet")


def test_reserved_auxiliary_addresses_are_never_handed_out():
    p = pool("10.9.0.0/29", "10.9.0.1")
    p.reserve({"printer": "10.9.0.2"})
    assert [str(p.allocate(f"e{n}")) for n in range(4)] == ["10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"]
    restored = ipam.Pool.from_dict(p.to_dict())
    restored.release("e0")
    assert str(restored.allocate("e9")) == "10.9.0.3"  # the reservation outlives a restart and releases
    with pytest.raises(InvalidArgument, match="is the gateway"):
        pool("10.9.0.0/29", "10.9.0.1").reserve({"gw": "10.9.0.1"})


def pool6(subnet="fd00:1::/64", gateway=None, ip_range=None):
    return ipam.Pool.create(ipam.parse_network(subnet, "subnet", 6),
                            ipam.parse_address(gateway, "gateway", 6) if gateway else None,
                            ipam.parse_network(ip_range, "ip-range", 6) if ip_range else None)


def test_an_ipv6_pool_gives_the_gateway_then_addresses_in_order():
    p = pool6()
    assert str(p.gateway) == "fd00:1::1"
    assert [str(p.allocate(f"e{i}")) for i in range(2)] == ["fd00:1::2", "fd00:1::3"]


def test_an_ipv6_pool_honours_its_range_and_a_requested_address():
    p = pool6(gateway="fd00:1::fe", ip_range="fd00:1::100/120")
    assert str(p.allocate("e1")) == "fd00:1::100"
    assert str(p.allocate("e2", "fd00:1::9")) == "fd00:1::9"
    with pytest.raises(InvalidArgument, match="It does not belong to any of this network's subnets"):
        p.allocate("e3", "fd00:2::9")
    with pytest.raises(InvalidArgument, match="expected an IPv6 address"):
        p.allocate("e3", "10.0.0.9")


def test_an_ipv6_pool_round_trips_through_its_dict():
    p = pool6()
    p.allocate("e1")
    again = ipam.Pool.from_dict(p.to_dict())
    assert again == p and str(again.allocate("e2")) == "fd00:1::3"


def test_the_last_address_of_an_ipv6_subnet_is_usable():
    p = pool6("fd00:1::/126")
    assert [str(p.allocate(f"e{i}")) for i in range(2)] == ["fd00:1::2", "fd00:1::3"]


@pytest.mark.parametrize("text, version", [("fd00::/64", 4), ("10.0.0.0/24", 6)])
def test_a_network_of_the_other_ip_version_is_invalid(text, version):
    with pytest.raises(InvalidArgument, match=f"expected an IPv{version} network"):
        ipam.parse_network(text, "subnet", version)
