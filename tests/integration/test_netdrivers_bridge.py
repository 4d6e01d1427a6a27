"""The ``bridge`` network driver in a network namespace made by each test.

Layout of a test: the test thread sits in a fresh namespace (the "host" as far as
the driver knows, see ``kit_netns``); containers are ``unshare -n sleep`` children;
an "outside" machine, where needed, is one more such child wired to the sandbox
with a veth pair the test makes. Traffic goes only to addresses inside.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid

import pytest

from berth.errors import Conflict, InvalidArgument, NotFound
from berth.hookspecs.types import NetworkConfig, PortBinding
from berth.plugins.netdrivers.bridge import BridgeDriver, _host_veth_name
from berth.testing.network_kit import assert_not_host_netns, containers, host_links, kit_netns  # noqa: F401

BIP = "10.198.0.1/24"
PYTHON = sys.executable

# A one-shot server: prints "ready" once bound, answers one client with the
# client's address, then exits. Run inside a container with nsenter.
SERVER = r"""
import socket, sys
proto, port = sys.argv[1], int(sys.argv[2])
if proto == "tcp":
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(1); print("ready", flush=True)
    c, addr = s.accept(); c.recv(100); c.sendall(("from " + addr[0]).encode()); c.close()
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", port)); print("ready", flush=True)
    data, addr = s.recvfrom(100); s.sendto(("from " + addr[0]).encode(), addr)
"""

CLIENT = r"""
import socket, sys
proto, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if proto == "tcp":
    s = socket.create_connection((host, port), timeout=10); s.sendall(b"hi"); print(s.recv(100).decode())
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(10)
    s.sendto(b"hi", (host, port)); print(s.recvfrom(100)[0].decode())
"""


def serve(box, proto: str, port: int) -> subprocess.Popen:
    """Start the one-shot server in ``box``; return once it listens."""
    proc = subprocess.Popen(["nsenter", f"--net={box.netns_path}", PYTHON, "-c", SERVER, proto, str(port)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def ask(box, proto: str, host: str, port: int) -> subprocess.CompletedProcess:
    """Run the client (in ``box``, or in the sandbox itself when ``box`` is None)."""
    prefix = ["nsenter", f"--net={box.netns_path}"] if box else []
    return subprocess.run([*prefix, PYTHON, "-c", CLIENT, proto, host, str(port)], capture_output=True, text=True, timeout=60)


def nft_ruleset() -> str:
    return subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def make_driver(tmp_path, kit_netns):
    made = []

    def make(**options) -> BridgeDriver:
        assert_not_host_netns()
        opts = {"bridge": "berthtest0", "bip": BIP, "default_address_pools": [{"base": "10.201.0.0/16", "size": 24}]}
        opts.update(options)
        d = BridgeDriver(str(tmp_path / "network" / "bridge"), opts)
        made.append(d)
        return d

    yield make
    for d in made:
        d.net_cleanup()


@pytest.fixture
def driver(make_driver):
    return make_driver()


def default_net(**kw) -> NetworkConfig:
    return NetworkConfig(id="d" * 64, name="bridge", options={"com.docker.network.bridge.name": "berthtest0"}, **kw)


def user_net(name="mynet", **kw) -> NetworkConfig:
    return NetworkConfig(id=uuid.uuid4().hex * 2, name=name, **kw)


# ---------------------------------------------------------------------------
# networks
# ---------------------------------------------------------------------------


def test_default_network_gets_bridge_with_bip_address(driver):
    opts = driver.net_create_network(default_net())
    assert opts["subnet"] == "10.198.0.0/24" and opts["gateway"] == "10.198.0.1"
    addr = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", "berthtest0"], capture_output=True, text=True).stdout
    assert "10.198.0.1/24" in addr
    assert open("/proc/sys/net/ipv4/ip_forward").read().strip() == "1"
    assert 'ip saddr 10.198.0.0/24 oifname != "berthtest0" masquerade' in nft_ruleset()


def test_user_network_without_subnet_takes_a_free_pool_subnet(driver):
    a = driver.net_create_network(user_net("a"))
    b = driver.net_create_network(user_net("b"))
    assert (a["subnet"], b["subnet"]) == ("10.201.0.0/24", "10.201.1.0/24")
    assert a["com.docker.network.bridge.name"].startswith("br-")


def test_overlapping_subnet_is_a_conflict_and_leaves_nothing(driver):
    driver.net_create_network(user_net("a", subnet="10.50.0.0/16"))
    before = host_links()
    with pytest.raises(Conflict, match="overlaps"):
        driver.net_create_network(user_net("b", subnet="10.50.3.0/24"))
    assert host_links() == before


def test_delete_network_removes_bridge_rules_and_state(driver, tmp_path):
    before = host_links()
    net = default_net()
    driver.net_create_network(net)
    driver.net_delete_network(net.id)
    assert host_links() == before
    assert "table ip berth" not in nft_ruleset()
    assert os.listdir(tmp_path / "network" / "bridge" / "networks") == []


def test_internal_network_has_no_masquerade_and_is_fenced(driver):
    driver.net_create_network(user_net("in", subnet="10.60.0.0/24", internal=True))
    rules = nft_ruleset()
    assert "10.60.0.0/24" not in rules  # no masquerade for it
    assert "drop" in rules


# ---------------------------------------------------------------------------
# endpoints
# ---------------------------------------------------------------------------


def test_join_configures_the_container(driver, containers):
    net = default_net()
    driver.net_create_network(net)
    c = containers()
    info = driver.net_join(net.id, "e1", c.netns_path, {"container_name": "web"})
    assert (info.interface, info.ipv4_address, info.gateway, info.mac_address) == (
        "eth0", "10.198.0.2/24", "10.198.0.1", "02:42:0a:c6:00:02")
    link = c.run("ip", "-o", "link", "show", "eth0", check=True).stdout
    assert "02:42:0a:c6:00:02" in link and "UP" in link and "mtu 1500" in link
    assert "default via 10.198.0.1 dev eth0" in c.run("ip", "route", check=True).stdout
    host_veth = info.extra["host_interface"]
    detail = subprocess.run(["ip", "-d", "link", "show", host_veth], capture_output=True, text=True, check=True).stdout
    assert "master berthtest0" in detail and "hairpin on" in detail
    ping = c.run("/bin/busybox", "ping", "-c", "1", "-W", "5", "10.198.0.1")
    assert ping.returncode == 0, ping.stdout + ping.stderr


def test_join_brings_the_loopback_of_the_namespace_up(driver, containers):
    net = default_net()
    driver.net_create_network(net)
    c = containers()
    c.run("ip", "link", "set", "lo", "down", check=True)
    driver.net_join(net.id, "e1", c.netns_path, {})
    assert ",UP" in c.run("ip", "-o", "link", "show", "lo", check=True).stdout


def test_a_second_network_adds_eth1_and_keeps_the_first_default_route(driver, containers):
    first, second = default_net(), user_net(subnet="10.90.0.0/24")
    driver.net_create_network(first)
    driver.net_create_network(second)
    c = containers()
    driver.net_join(first.id, "a", c.netns_path, {})
    info = driver.net_join(second.id, "b", c.netns_path, {})
    assert (info.interface, info.ipv4_address) == ("eth1", "10.90.0.2/24")
    routes = c.run("ip", "route", check=True).stdout
    assert "default via 10.198.0.1 dev eth0" in routes and "default via 10.90.0.1" not in routes


def test_containers_on_one_network_reach_each_other(driver, containers):
    net = default_net()
    driver.net_create_network(net)
    a, b = containers(), containers()
    driver.net_join(net.id, "a", a.netns_path, {})
    ip_b = driver.net_join(net.id, "b", b.netns_path, {}).ipv4_address.split("/")[0]
    srv = serve(b, "tcp", 7000)
    assert ask(a, "tcp", ip_b, 7000).stdout.strip() == "from 10.198.0.2"
    srv.wait()


def test_requested_ip_is_honoured_and_checked(driver, containers):
    net = user_net(subnet="10.70.0.0/24", ip_range="10.70.0.128/25")
    driver.net_create_network(net)
    a, b, c = containers(), containers(), containers()
    assert driver.net_join(net.id, "a", a.netns_path, {"ip": "10.70.0.10"}).ipv4_address == "10.70.0.10/24"
    assert driver.net_join(net.id, "dyn", c.netns_path, {}).ipv4_address == "10.70.0.129/24"
    with pytest.raises(Conflict, match="already in use"):
        driver.net_join(net.id, "b", b.netns_path, {"ip": "10.70.0.10"})
    with pytest.raises(InvalidArgument, match="It does not belong to any of this network's subnets"):
        driver.net_join(net.id, "b", b.netns_path, {"ip": "10.71.0.10"})
    assert b.links() == ["lo"]  # the refused joins left nothing behind


def test_leave_removes_veth_and_frees_the_address(driver, containers):
    net = user_net(subnet="10.80.0.0/30")  # room for exactly one container
    driver.net_create_network(net)
    a, b = containers(), containers()
    info = driver.net_join(net.id, "a", a.netns_path, {})
    with pytest.raises(Conflict, match="no free address"):
        driver.net_join(net.id, "b", b.netns_path, {})
    driver.net_leave(net.id, "a")
    assert a.links() == ["lo"] and info.extra["host_interface"] not in host_links()
    assert driver.net_join(net.id, "b", b.netns_path, {}).ipv4_address == info.ipv4_address


def test_leaving_again_writes_no_state(driver, containers, tmp_path):
    net = user_net(subnet="10.81.0.0/24")
    driver.net_create_network(net)
    driver.net_join(net.id, "a", containers().netns_path, {})
    driver.net_leave(net.id, "a")
    state = tmp_path / "network" / "bridge" / "networks" / f"{net.id}.json"
    written = state.stat()
    assert driver.net_leave(net.id, "a") is True
    assert (state.stat().st_ino, state.stat().st_mtime_ns) == (written.st_ino, written.st_mtime_ns)


def test_leaving_an_unrecorded_endpoint_removes_its_leftover_veth(driver):
    net = user_net(subnet="10.82.0.0/24")
    driver.net_create_network(net)
    leftover = _host_veth_name(net.id, "crashed")  # as a join cut short by a crash leaves it
    subprocess.run(["ip", "link", "add", leftover, "type", "veth", "peer", "name", "crashedpeer"], check=True)
    driver.net_leave(net.id, "crashed")
    assert leftover not in host_links() and "crashedpeer" not in host_links()


def test_join_unknown_network_is_not_found(driver, containers):
    with pytest.raises(NotFound):
        driver.net_join("nope", "a", containers().netns_path, {})


def test_outbound_traffic_is_masqueraded(driver, containers, outside):
    net = default_net()
    driver.net_create_network(net)
    c = containers()
    driver.net_join(net.id, "c", c.netns_path, {})
    srv = serve(outside, "tcp", 7100)
    # The outside host sees the sandbox's own address, not the container's.
    assert ask(c, "tcp", OUTSIDE_IP, 7100).stdout.strip() == f"from {SANDBOX_UPLINK_IP}"
    srv.wait()


def test_internal_network_cannot_reach_outside(driver, containers, outside):
    net = user_net("in", subnet="10.61.0.0/24", internal=True)
    info_gw = driver.net_create_network(net)["gateway"]
    c = containers()
    info = driver.net_join(net.id, "c", c.netns_path, {})
    assert info.gateway == "" and "default" not in c.run("ip", "route", check=True).stdout
    # Even with a route added by hand, the forward fence drops the traffic.
    c.run("ip", "route", "add", "default", "via", info_gw, check=True)
    res = c.run(PYTHON, "-c", "import socket; socket.create_connection(('%s', 7200), timeout=2)" % OUTSIDE_IP)
    assert res.returncode != 0 and "timed out" in res.stderr


def test_networks_are_isolated_from_each_other(driver, containers):
    a_net, b_net = user_net("a", subnet="10.90.0.0/24"), user_net("b", subnet="10.91.0.0/24")
    driver.net_create_network(a_net)
    driver.net_create_network(b_net)
    a, b = containers(), containers()
    driver.net_join(a_net.id, "a", a.netns_path, {})
    ip_b = driver.net_join(b_net.id, "b", b.netns_path, {}).ipv4_address.split("/")[0]
    res = a.run(PYTHON, "-c", "import socket; socket.create_connection(('%s', 7300), timeout=2)" % ip_b)
    assert res.returncode != 0 and "timed out" in res.stderr


# ---------------------------------------------------------------------------
# ports
# ---------------------------------------------------------------------------


@pytest.fixture
def web(driver, containers):
    net = default_net()
    driver.net_create_network(net)
    c = containers()
    driver.net_join(net.id, "web", c.netns_path, {})
    return net, c


@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_published_port_answers_on_loopback_through_the_proxy(driver, web, proto):
    net, c = web
    bound = driver.net_publish_port(net.id, "web", PortBinding(8080, proto))
    assert bound.host_port > 0 and bound.container_ip == "10.198.0.2" and bound.proto == proto
    srv = serve(c, proto, 8080)
    # The proxy relays, so the container sees the gateway as the client.
    assert ask(None, proto, "127.0.0.1", bound.host_port).stdout.strip() == "from 10.198.0.1"
    srv.wait()


def test_published_port_is_dnatted_for_outside_clients(driver, web, outside):
    net, c = web
    bound = driver.net_publish_port(net.id, "web", PortBinding(8080, "tcp", host_port=18080))
    assert bound.host_port == 18080
    assert "tcp dport 18080 dnat to 10.198.0.2:8080" in nft_ruleset()
    srv = serve(c, "tcp", 8080)
    # DNAT keeps the client's address: the container sees the outside host itself.
    assert ask(outside, "tcp", SANDBOX_UPLINK_IP, 18080).stdout.strip() == f"from {OUTSIDE_IP}"
    srv.wait()


def test_container_reaches_its_own_published_port_hairpin(driver, web):
    net, c = web
    bound = driver.net_publish_port(net.id, "web", PortBinding(8080, "tcp"))
    srv = serve(c, "tcp", 8080)
    assert ask(c, "tcp", "10.198.0.1", bound.host_port).stdout.strip().startswith("from 10.198.0.")
    srv.wait()


def test_port_in_use_is_a_conflict_and_configures_nothing(driver, web):
    net, c = web
    taken = socket.socket()
    taken.bind(("0.0.0.0", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        with pytest.raises(Conflict, match="already in use"):
            driver.net_publish_port(net.id, "web", PortBinding(80, "tcp", host_port=port))
    finally:
        taken.close()
    assert f"dport {port}" not in nft_ruleset()
    assert ("Published ports", "0") in driver.net_status()


def test_unpublish_removes_rule_and_listener(driver, web):
    net, c = web
    bound = driver.net_publish_port(net.id, "web", PortBinding(8080, "udp", host_port=18081))
    driver.net_unpublish_port(net.id, "web", bound)
    driver.net_unpublish_port(net.id, "web", bound)
    assert "18081" not in nft_ruleset()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 18081))  # free again
    s.close()


def test_leave_unpublishes_the_endpoints_ports(driver, web):
    net, c = web
    driver.net_publish_port(net.id, "web", PortBinding(8080, "tcp", host_port=18082))
    driver.net_leave(net.id, "web")
    assert "18082" not in nft_ruleset()
    assert ("Published ports", "0") in driver.net_status()


# ---------------------------------------------------------------------------
# restart
# ---------------------------------------------------------------------------


def test_restart_keeps_addresses_ports_and_converges(make_driver, containers, tmp_path):
    first = make_driver()
    net = default_net()
    opts = first.net_create_network(net)
    a = containers()
    first.net_join(net.id, "a", a.netns_path, {})
    bound = first.net_publish_port(net.id, "a", PortBinding(8080, "tcp"))
    first.net_cleanup()  # daemon stops: proxy gone, kernel state and files stay
    rules = nft_ruleset()

    second = make_driver()
    assert second.net_create_network(net) == opts  # reconciles, does not re-create
    assert nft_ruleset() == rules
    srv = serve(a, "tcp", 8080)
    assert ask(None, "tcp", "127.0.0.1", bound.host_port).stdout.strip() == "from 10.198.0.1"
    srv.wait()
    b = containers()
    assert second.net_join(net.id, "b", b.netns_path, {}).ipv4_address == "10.198.0.3/24"
    state = json.loads((tmp_path / "network" / "bridge" / "networks" / f"{net.id}.json").read_text())
    assert state["pool"]["allocated"] == {"10.198.0.2": "a", "10.198.0.3": "b"}


def test_restart_recreates_a_missing_bridge(make_driver):
    net = default_net()
    make_driver().net_create_network(net)
    subprocess.run(["ip", "link", "del", "berthtest0"], check=True)
    make_driver().net_create_network(net)
    assert "10.198.0.1/24" in subprocess.run(["ip", "-o", "addr", "show", "dev", "berthtest0"],
                                             capture_output=True, text=True, check=True).stdout


# ---------------------------------------------------------------------------
# the "outside": one more namespace wired to the sandbox by a veth pair
# ---------------------------------------------------------------------------

SANDBOX_UPLINK_IP = "10.197.0.1"
OUTSIDE_IP = "10.197.0.2"


@pytest.fixture
def outside(kit_netns, containers):
    assert_not_host_netns()
    box = containers()
    subprocess.run(["ip", "link", "add", "uplink0", "type", "veth", "peer", "name", "eth0",
                    "netns", str(box.pid)], check=True)
    subprocess.run(["ip", "addr", "add", f"{SANDBOX_UPLINK_IP}/24", "dev", "uplink0"], check=True)
    subprocess.run(["ip", "link", "set", "uplink0", "up"], check=True)
    for cmd in (["ip", "addr", "add", f"{OUTSIDE_IP}/24", "dev", "eth0"], ["ip", "link", "set", "eth0", "up"],
                ["ip", "link", "set", "lo", "up"]):
        box.run(*cmd, check=True)
    return box
