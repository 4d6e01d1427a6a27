"""The bridge driver's embedded DNS (127.0.0.11) in a network namespace made by each test.

As in test_netdrivers_bridge: the test thread sits in a fresh namespace (the
daemon's "host"), containers are ``unshare -n sleep`` children, and every query
stays inside: containers ask 127.0.0.11 in their own namespace, and the resolver
forwards to a fake upstream server the test runs on an address it puts on the
sandbox's own loopback interface.
"""

from __future__ import annotations

import re
import socket
import struct
import subprocess
import sys
import threading
import uuid

import pytest

from berth.hookspecs.types import NetworkConfig
from berth.plugins.netdrivers.bridge import BridgeDriver
from berth.testing.network_kit import assert_not_host_netns, containers, kit_netns  # noqa: F401

PYTHON = sys.executable
UPSTREAM_IP = "10.196.0.53"  # the fake upstream, on the sandbox's lo
DEAD_UPSTREAM_IP = "10.196.0.54"  # on the sandbox's lo, nothing listens: ICMP port unreachable
UPSTREAM_NAME = "upstream.example"
UPSTREAM_ANSWER = "192.0.2.77"


# ---------------------------------------------------------------------------
# a fake upstream DNS server (written independently of the resolver's codec)
# ---------------------------------------------------------------------------


class FakeUpstream:
    """Answers A for UPSTREAM_NAME, NXDOMAIN for everything else; remembers every name asked."""

    def __init__(self, ip: str):
        self.asked: list[str] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, 53))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(4096)
            except OSError:
                return
            if not data:
                return  # shut down
            labels, i = [], 12
            while data[i]:
                labels.append(data[i + 1:i + 1 + data[i]].decode())
                i += 1 + data[i]
            qtype = struct.unpack_from("!H", data, i + 1)[0]
            name = ".".join(labels).lower()
            self.asked.append(name)
            question = data[12:i + 5]
            if name == UPSTREAM_NAME and qtype == 1:
                answer = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(UPSTREAM_ANSWER)
                reply = data[:2] + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0) + question + answer
            elif name == UPSTREAM_NAME:
                reply = data[:2] + struct.pack("!HHHHH", 0x8180, 1, 0, 0, 0) + question
            else:
                reply = data[:2] + struct.pack("!HHHHH", 0x8183, 1, 0, 0, 0) + question
            self.sock.sendto(reply, addr)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked recvfrom (close alone does not)
        except OSError:
            pass  # ENOTCONN for an unconnected UDP socket, but Linux has woken the reader all the same
        self.thread.join()
        self.sock.close()


@pytest.fixture
def upstream(kit_netns):
    assert_not_host_netns()
    for ip in (UPSTREAM_IP, DEAD_UPSTREAM_IP):
        subprocess.run(["ip", "addr", "add", f"{ip}/32", "dev", "lo"], check=True)
    server = FakeUpstream(UPSTREAM_IP)
    yield server
    server.close()


@pytest.fixture
def make_driver(tmp_path, kit_netns, upstream):
    made = []

    def make(**options) -> BridgeDriver:
        assert_not_host_netns()
        opts = {"bridge": "berthtest0", "bip": "10.198.0.1/24",
                "default_address_pools": [{"base": "10.201.0.0/16", "size": 24}], "dns": [UPSTREAM_IP]}
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


def user_net(name="mynet", **kw) -> NetworkConfig:
    return NetworkConfig(id=uuid.uuid4().hex * 2, name=name, **kw)


def default_net() -> NetworkConfig:
    return NetworkConfig(id="d" * 64, name="bridge", options={"com.docker.network.bridge.name": "berthtest0"})


def cid() -> str:
    """A container id, as the engine uses for endpoint ids."""
    return uuid.uuid4().hex * 2


def join(driver, net, box, name, **options):
    eid = options.pop("endpoint_id", None) or cid()
    info = driver.net_join(net.id, eid, box.netns_path, {"container_name": name, "hostname": eid[:12], **options})
    return eid, info.ipv4_address.split("/")[0], info


def nslookup(box, name: str) -> subprocess.CompletedProcess:
    """busybox nslookup asking the embedded resolver, run inside the container's namespace."""
    return box.run("/bin/busybox", "nslookup", name, "127.0.0.11", timeout=60)


def addresses(res: subprocess.CompletedProcess) -> list[str]:
    """The answer addresses in nslookup's output (the server's own lines excluded)."""
    answer = res.stdout.split("Name:", 1)[1] if "Name:" in res.stdout else ""
    return re.findall(r"Address: (\d+\.\d+\.\d+\.\d+)$", answer, re.M)


def listening_on_dns(box) -> str:
    """Sockets on 127.0.0.11 in the container (the resolver's, on random ports), as ss lists them."""
    return box.run("ss", "-Hlntu", "src", "127.0.0.11", check=True).stdout.strip()


def nft_tables(box) -> str:
    return box.run("nft", "list", "tables", check=True).stdout


TCP_QUERY = r"""
import socket, struct, sys
name = sys.argv[1]
q = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack("!HH", 1, 1)
s = socket.create_connection(("127.0.0.11", 53), timeout=10)
s.sendall(struct.pack("!H", len(q)) + q)
size = struct.unpack("!H", s.recv(2, socket.MSG_WAITALL))[0]
r = s.recv(size, socket.MSG_WAITALL)
qid, flags, qd, an = struct.unpack_from("!HHHH", r)
print(hex(qid), flags & 0xF, an, socket.inet_ntoa(r[-4:]) if an else "")
"""


# ---------------------------------------------------------------------------
# names on a user-defined network
# ---------------------------------------------------------------------------


def test_join_on_user_network_points_resolv_conf_at_embedded_dns(driver, containers):
    net = user_net()
    driver.net_create_network(net)
    _, _, info = join(driver, net, containers(), "web")
    assert info.resolver == "127.0.0.11"


def test_containers_resolve_each_other_by_name(driver, containers):
    net = user_net()
    driver.net_create_network(net)
    a, b = containers(), containers()
    _, ip_a, _ = join(driver, net, a, "web")
    _, ip_b, _ = join(driver, net, b, "db")
    res = nslookup(a, "db")
    assert res.returncode == 0 and addresses(res) == [ip_b], res.stdout + res.stderr
    assert addresses(nslookup(b, "web")) == [ip_a]
    assert addresses(nslookup(b, "WEB.")) == [ip_a]  # case-insensitive, rooted names too
    assert addresses(nslookup(a, "web")) == [ip_a]  # a container resolves itself


def test_aliases_short_id_and_network_suffix_resolve(driver, containers):
    net = user_net("front")
    driver.net_create_network(net)
    a, b = containers(), containers()
    eid_a, ip_a, _ = join(driver, net, a, "web", aliases=["www", "api.internal"])
    join(driver, net, b, "db")
    for name in ("www", "api.internal", eid_a[:12], "web.front", "www.front"):
        assert addresses(nslookup(b, name)) == [ip_a], name


def test_shared_alias_answers_every_container(driver, containers):
    net = user_net()
    driver.net_create_network(net)
    a, b, c = containers(), containers(), containers()
    _, ip_a, _ = join(driver, net, a, "one", aliases=["pool"])
    _, ip_b, _ = join(driver, net, b, "two", aliases=["pool"])
    join(driver, net, c, "client")
    assert sorted(addresses(nslookup(c, "pool"))) == sorted([ip_a, ip_b])


def test_reverse_lookup_names_container_and_network(driver, containers, upstream):
    net = user_net("back")
    driver.net_create_network(net)
    a, b = containers(), containers()
    join(driver, net, a, "web")
    _, ip_b, _ = join(driver, net, b, "db")
    res = nslookup(a, ip_b)
    assert "name = db.back" in res.stdout, res.stdout + res.stderr
    assert not any(name.endswith(".in-addr.arpa") for name in upstream.asked)  # answered locally


def test_query_over_tcp_is_answered(driver, containers):
    net = user_net()
    driver.net_create_network(net)
    a, b = containers(), containers()
    join(driver, net, a, "web")
    _, ip_b, _ = join(driver, net, b, "db")
    res = a.run(PYTHON, "-c", TCP_QUERY, "db", timeout=60)
    assert res.stdout.split() == ["0x1234", "0", "1", ip_b], res.stdout + res.stderr


ONE_SHOT_DNS_SERVER = r"""
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", 53))
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(("0.0.0.0", 53)); t.listen(1)
print("bound", flush=True)
"""


def test_container_may_run_its_own_dns_server_on_port_53(driver, containers):
    net = user_net()
    driver.net_create_network(net)
    a, b = containers(), containers()
    join(driver, net, a, "web")
    _, ip_b, _ = join(driver, net, b, "db")
    res = a.run(PYTHON, "-c", ONE_SHOT_DNS_SERVER, timeout=60)
    assert res.stdout.strip() == "bound", res.stderr
    assert addresses(nslookup(a, "db")) == [ip_b]


# ---------------------------------------------------------------------------
# forwarding
# ---------------------------------------------------------------------------


def test_unknown_name_is_forwarded_to_upstream(driver, containers, upstream):
    net = user_net()
    driver.net_create_network(net)
    a = containers()
    join(driver, net, a, "web")
    res = nslookup(a, UPSTREAM_NAME)
    assert addresses(res) == [UPSTREAM_ANSWER], res.stdout + res.stderr
    assert UPSTREAM_NAME in upstream.asked


def test_names_on_other_networks_do_not_resolve(driver, containers, upstream):
    one, two = user_net("one"), user_net("two")
    driver.net_create_network(one)
    driver.net_create_network(two)
    a, b = containers(), containers()
    join(driver, one, a, "web")
    join(driver, two, b, "elsewhere", aliases=["other-alias"])
    for name in ("elsewhere", "other-alias"):
        res = nslookup(a, name)
        assert addresses(res) == [] and "NXDOMAIN" in res.stdout + res.stderr, res.stdout
        assert name in upstream.asked  # not ours on this network: forwarded, and the upstream said no


def test_container_dns_option_overrides_daemon_upstream(make_driver, containers, upstream):
    driver = make_driver(dns=[DEAD_UPSTREAM_IP])
    net = user_net()
    driver.net_create_network(net)
    a, b = containers(), containers()
    join(driver, net, a, "web", dns=[UPSTREAM_IP])
    join(driver, net, b, "db")
    assert addresses(nslookup(a, UPSTREAM_NAME)) == [UPSTREAM_ANSWER]
    res = nslookup(b, UPSTREAM_NAME)
    assert "SERVFAIL" in res.stdout + res.stderr, res.stdout + res.stderr


def test_unreachable_upstream_gives_servfail(make_driver, containers, upstream):
    driver = make_driver(dns=[DEAD_UPSTREAM_IP])
    net = user_net()
    driver.net_create_network(net)
    a, b = containers(), containers()
    join(driver, net, a, "web")
    _, ip_b, _ = join(driver, net, b, "db")
    res = nslookup(a, UPSTREAM_NAME)
    assert "SERVFAIL" in res.stdout + res.stderr and addresses(res) == [], res.stdout + res.stderr
    assert addresses(nslookup(a, "db")) == [ip_b]  # local names do not need the upstream


def test_internal_network_does_not_forward(driver, containers, upstream):
    net = user_net("sealed", internal=True)
    driver.net_create_network(net)
    a, b = containers(), containers()
    join(driver, net, a, "web")
    _, ip_b, _ = join(driver, net, b, "db")
    assert addresses(nslookup(a, "db")) == [ip_b]
    res = nslookup(a, UPSTREAM_NAME)
    assert "SERVFAIL" in res.stdout + res.stderr, res.stdout + res.stderr
    assert UPSTREAM_NAME not in upstream.asked


# ---------------------------------------------------------------------------
# the default bridge, leave, delete, restart
# ---------------------------------------------------------------------------


def test_default_bridge_network_has_no_embedded_dns(driver, containers):
    net = default_net()
    driver.net_create_network(net)
    a, b = containers(), containers()
    _, _, info = join(driver, net, a, "web")
    join(driver, net, b, "db")
    assert info.resolver == ""
    assert listening_on_dns(a) == "" and "berth_dns" not in nft_tables(a)
    assert "Name:" not in nslookup(a, "db").stdout


def test_leave_closes_the_listeners_and_forgets_the_names(driver, containers, upstream):
    net = user_net()
    driver.net_create_network(net)
    a, b = containers(), containers()
    eid_a, _, _ = join(driver, net, a, "web")
    join(driver, net, b, "db")
    assert listening_on_dns(a).count("127.0.0.11:") == 2  # udp and tcp
    assert "berth_dns" in nft_tables(a)
    driver.net_leave(net.id, eid_a)
    assert listening_on_dns(a) == "" and "berth_dns" not in nft_tables(a)
    res = nslookup(b, "web")
    assert addresses(res) == [] and "web" in upstream.asked


def test_delete_network_closes_every_listener(driver, containers):
    net = user_net()
    driver.net_create_network(net)
    a, b = containers(), containers()
    join(driver, net, a, "web")
    join(driver, net, b, "db")
    driver.net_delete_network(net.id)
    assert listening_on_dns(a) == "" and listening_on_dns(b) == ""
    assert ("Embedded DNS", "127.0.0.11 in 0 containers") in driver.net_status()


def test_container_on_two_networks_resolves_both(driver, containers):
    one, two = user_net("one", subnet="10.90.0.0/24"), user_net("two", subnet="10.91.0.0/24")
    driver.net_create_network(one)
    driver.net_create_network(two)
    hub, x, y = containers(), containers(), containers()
    eid = cid()
    join(driver, one, hub, "hub", endpoint_id=eid)
    join(driver, two, hub, "hub", endpoint_id=eid)
    _, ip_x, _ = join(driver, one, x, "x")
    _, ip_y, _ = join(driver, two, y, "y")
    assert addresses(nslookup(hub, "x")) == [ip_x] and addresses(nslookup(hub, "y")) == [ip_y]
    driver.net_leave(two.id, eid)  # one listener remains for network one
    assert addresses(nslookup(hub, "x")) == [ip_x]
    assert addresses(nslookup(hub, "y")) == []


def test_restart_serves_the_same_names_again(make_driver, containers):
    first = make_driver()
    net = user_net()
    first.net_create_network(net)
    a, b = containers(), containers()
    join(first, net, a, "web", aliases=["www"])
    _, ip_b, _ = join(first, net, b, "db")
    first.net_cleanup()  # daemon stops: its sockets go, the containers stay
    assert listening_on_dns(a) == ""

    second = make_driver()
    second.net_create_network(net)  # reconciles
    assert addresses(nslookup(a, "db")) == [ip_b]
    assert addresses(nslookup(b, "www")) != []


def test_restart_skips_containers_that_went_away(make_driver, containers):
    first = make_driver()
    net = user_net()
    first.net_create_network(net)
    a, b = containers(), containers()
    eid_a, _, _ = join(first, net, a, "web")
    join(first, net, b, "db")
    first.net_cleanup()
    a.kill()  # gone while the daemon was down; its veth went with its namespace

    second = make_driver()
    second.net_create_network(net)
    assert ("Embedded DNS", "127.0.0.11 in 1 containers") in second.net_status()
    assert addresses(nslookup(b, "web")) == []
    second.net_leave(net.id, eid_a)  # the engine's clean-up still works
