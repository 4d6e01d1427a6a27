"""The ``none`` and ``host`` network drivers against real namespaces made by the test."""

import pytest

from berth.errors import InvalidArgument
from berth.hookspecs.types import NetworkConfig
from berth.plugins.netdrivers.host import HostDriver
from berth.plugins.netdrivers.none import NoneDriver
from berth.testing.network_kit import containers, kit_netns  # noqa: F401  (fixtures)


@pytest.fixture
def none(tmp_path):
    return NoneDriver(str(tmp_path), {})


def lo_state(box) -> str:
    return box.run("ip", "-o", "link", "show", "lo", check=True).stdout.split(">")[0]


def test_none_sandbox_asks_for_a_fresh_namespace(none):
    box = none.net_sandbox("n", "c")
    assert box.netns_path is None and not box.share_host


def test_none_join_brings_lo_up_and_adds_nothing(none, kit_netns, containers):
    c = containers()
    assert "UP" not in lo_state(c)
    info = none.net_join("n", "e1", c.netns_path, {"container_name": "x"})
    assert info.endpoint_id == "e1" and info.interface == "" and info.ipv4_address == ""
    assert "UP" in lo_state(c)
    assert c.links() == ["lo"]
    ping = c.run("/bin/busybox", "ping", "-c", "1", "-W", "2", "127.0.0.1")
    assert ping.returncode == 0, ping.stdout + ping.stderr


def test_none_join_without_namespace_is_refused(none):
    with pytest.raises(InvalidArgument, match="no network namespace"):
        none.net_join("n", "e1", None, {})


def test_none_network_and_leave_are_idempotent(none):
    net = NetworkConfig(id="n", name="none")
    assert none.net_create_network(net) == none.net_create_network(net) == {}
    assert none.net_leave("n", "e1") and none.net_leave("n", "e1")
    assert none.net_delete_network("n") and none.net_delete_network("n")


def test_host_sandbox_shares_the_host_namespace(tmp_path):
    assert HostDriver(str(tmp_path), {}).net_sandbox("n", "c").share_host is True


def test_host_join_and_leave_report_nothing(tmp_path):
    host = HostDriver(str(tmp_path), {})
    info = host.net_join("n", "e1", None, {})
    assert (info.endpoint_id, info.interface, info.ipv4_address, info.gateway) == ("e1", "", "", "")
    assert host.net_leave("n", "e1") is True
