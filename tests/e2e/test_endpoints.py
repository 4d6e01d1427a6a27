"""Docker's endpoint model, answer for answer as dockerd 20.10 gives it.

A container has any number of endpoints (none included) and keeps its NetworkMode as given;
connect and disconnect work whatever its state, with dockerd's status codes and messages
(docker-compose 1.x creates each container, disconnects it and connects it again with its
aliases). Each expected answer below was taken from the real dockerd.
"""

from __future__ import annotations

import json
import time
import urllib.parse

import pytest

from tests.e2e.netapi import api, connect, create, disconnect, inspect, new_network, sh, start


# ---------------------------------------------------------------------------
# created and stopped containers: only the settings change
# ---------------------------------------------------------------------------


def test_compose_dance_disconnect_then_connect_with_aliases_before_start(netd):
    new_network(netd, "dance")
    cid = create(netd, "danced", "dance", aliases=["first"])
    assert disconnect(netd, "dance", "danced") == (200, None)
    info = inspect(netd, "danced")
    assert info["HostConfig"]["NetworkMode"] == "dance" and info["NetworkSettings"]["Networks"] == {}
    assert connect(netd, "dance", "danced", Aliases=["web", "danced"]) == (200, None)
    assert inspect(netd, "danced")["NetworkSettings"]["Networks"]["dance"]["Aliases"] == ["web", "danced", cid[:12]]
    assert start(netd, "danced")[0] == 204
    create(netd, "asker", "dance")
    start(netd, "asker")
    assert inspect(netd, "danced")["NetworkSettings"]["Networks"]["dance"]["IPAddress"] in sh(netd, "asker", "nslookup web")


def test_connecting_a_stopped_container_again_keeps_the_first_settings(netd):
    new_network(netd, "twice")
    create(netd, "twiced")
    assert connect(netd, "twice", "twiced", Aliases=["x"]) == (200, None)
    assert connect(netd, "twice", "twiced", Aliases=["y"]) == (200, None)
    assert inspect(netd, "twiced")["NetworkSettings"]["Networks"]["twice"]["Aliases"][0] == "x"


def test_created_endpoint_has_no_network_id_until_it_is_joined_and_keeps_it_when_stopped(netd):
    net_id = new_network(netd, "shapes")
    create(netd, "shaped", "shapes")
    created = inspect(netd, "shaped")["NetworkSettings"]
    assert created["Networks"]["shapes"]["NetworkID"] == "" and created["Networks"]["shapes"]["EndpointID"] == ""
    assert created["Ports"] == {} and created["SandboxID"] == "" and created["IPAddress"] == ""
    start(netd, "shaped")
    running = inspect(netd, "shaped")["NetworkSettings"]
    endpoint = running["Networks"]["shapes"]
    assert endpoint["NetworkID"] == net_id and len(endpoint["EndpointID"]) == 64 and endpoint["IPAddress"]
    assert running["IPAddress"] == "" and running["EndpointID"] == ""  # top-level fields are the default bridge's
    assert api(netd, "POST", "/containers/shaped/stop?t=0")[0] == 204
    stopped = inspect(netd, "shaped")["NetworkSettings"]["Networks"]["shapes"]
    assert (stopped["NetworkID"], stopped["EndpointID"], stopped["IPAddress"], stopped["Gateway"]) == (net_id, "", "", "")


def test_default_bridge_fills_the_top_level_address_fields(netd):
    create(netd, "onbridge")
    start(netd, "onbridge")
    settings = inspect(netd, "onbridge")["NetworkSettings"]
    assert settings["IPAddress"] == settings["Networks"]["bridge"]["IPAddress"] != ""
    assert settings["Gateway"] and settings["MacAddress"] and settings["EndpointID"]
    assert inspect(netd, "onbridge")["HostConfig"]["NetworkMode"] == "default"


# ---------------------------------------------------------------------------
# refusals, with dockerd's status codes and messages
# ---------------------------------------------------------------------------


def test_disconnecting_what_is_not_connected(netd):
    new_network(netd, "loose")
    cid = create(netd, "loosed")
    assert disconnect(netd, "loose", "loosed") == (500, {"message": f"container {cid} is not connected to the network loose"})
    start(netd, "loosed")
    assert disconnect(netd, "loose", "loosed") == (500, {"message": f"container {cid} is not connected to network loose"})
    assert disconnect(netd, "nowhere", "loosed") == (404, {"message": "network nowhere not found"})
    assert disconnect(netd, "loose", "nobody") == (404, {"message": "No such container: nobody"})


def test_connecting_a_running_container_twice_is_403(netd):
    new_network(netd, "dup")
    create(netd, "duped", "dup")
    start(netd, "duped")
    assert connect(netd, "dup", "duped") == (403, {"message": "endpoint with name duped already exists in network dup"})


SHARED = "container sharing network namespace with another container or host cannot be connected to any other network"
HOST = "container cannot be disconnected from host network or connected to host network"
NONE = "container cannot be connected to multiple networks with one of the networks in private (none) mode"


@pytest.mark.parametrize("mode, running, network, expected", [
    ("host", False, "user", (400, SHARED)),
    ("host", True, "user", (400, SHARED)),
    ("host", True, "host", (403, "endpoint with name {name} already exists in network host")),
    ("none", False, "user", (400, NONE)),
    ("none", True, "user", (400, NONE)),
    ("default", False, "host", (400, HOST)),
    ("default", True, "host", (400, HOST)),
    ("default", True, "none", (400, NONE)),
    ("default", False, "none", (400, NONE)),
])
def test_host_and_none_rules_on_connect(netd, mode, running, network, expected):
    new_network(netd, "user")
    name = f"rule-{mode}-{int(running)}-{network}"
    create(netd, name, mode)
    if running:
        assert start(netd, name)[0] == 204
    status, reply = connect(netd, network, name)
    assert (status, reply["message"]) == (expected[0], expected[1].format(name=name))


def test_host_network_cannot_be_left_by_a_host_container(netd):
    create(netd, "hosted", "host")
    start(netd, "hosted")
    assert disconnect(netd, "host", "hosted") == (400, {"message": HOST})


def test_none_container_that_left_none_may_join_a_network(netd):
    new_network(netd, "after-none")
    create(netd, "unnone", "none")
    start(netd, "unnone")
    assert disconnect(netd, "none", "unnone") == (200, None)
    assert connect(netd, "after-none", "unnone") == (200, None)
    assert "eth0" in sh(netd, "unnone", "ip -o link")


@pytest.mark.parametrize("endpoint, message", [
    ({"Aliases": ["a"]}, "network-scoped alias is supported only for containers in user defined networks"),
    ({"IPAMConfig": {"IPv4Address": "10.231.0.99"}}, "user specified IP address is supported on user defined networks only"),
])
def test_aliases_and_addresses_on_the_default_bridge_are_refused(netd, endpoint, message):
    create(netd, "plain")
    assert connect(netd, "bridge", "plain", **endpoint) == (400, {"message": message})
    status, reply = api(netd, "POST", "/containers/create?name=plain2",
                        {"Image": "busybox", "NetworkingConfig": {"EndpointsConfig": {"bridge": endpoint}}})
    assert (status, reply["message"]) == (400, message)


def test_an_address_needs_a_network_with_its_own_subnet(netd):
    new_network(netd, "nosubnet")
    create(netd, "addressed")
    reply = connect(netd, "nosubnet", "addressed", IPAMConfig={"IPv4Address": "172.30.9.9"})
    assert reply == (400, {"message": "user specified IP address is supported only when connecting to networks "
                                      "with user configured subnets"})


# ---------------------------------------------------------------------------
# running containers: the effect is immediate
# ---------------------------------------------------------------------------


def test_connecting_a_running_container_adds_the_interface_at_once(netd):
    new_network(netd, "second")
    create(netd, "growing")
    start(netd, "growing")
    assert sh(netd, "growing", "ip -o link | grep -c eth").strip() == "1"
    assert connect(netd, "second", "growing", Aliases=["grown"]) == (200, None)
    address = inspect(netd, "growing")["NetworkSettings"]["Networks"]["second"]["IPAddress"]
    assert f"inet {address}/" in sh(netd, "growing", "ip -o -4 addr show eth1")
    assert f"{address}\t" in sh(netd, "growing", "cat /etc/hosts")


def test_disconnecting_the_last_network_leaves_only_loopback(netd):
    new_network(netd, "last")
    create(netd, "lonely", "last")
    start(netd, "lonely")
    assert disconnect(netd, "last", "lonely") == (200, None)
    assert sh(netd, "lonely", "ls /sys/class/net").split() == ["lo"]
    assert inspect(netd, "lonely")["NetworkSettings"]["Networks"] == {}


def test_start_without_endpoints_gives_a_namespace_with_loopback_up_only(netd):
    create(netd, "empty")
    disconnect(netd, "bridge", "empty")
    assert start(netd, "empty")[0] == 204
    info = inspect(netd, "empty")
    assert (info["State"]["Status"], info["HostConfig"]["NetworkMode"], info["NetworkSettings"]["Networks"]) == \
        ("running", "default", {})
    assert sh(netd, "empty", "ls /sys/class/net").split() == ["lo"]
    assert "UP" in sh(netd, "empty", "ip -o link show lo") and sh(netd, "empty", "ping -c1 -W2 127.0.0.1")


def test_disconnecting_the_network_of_the_default_route_moves_it_to_the_next(netd):
    new_network(netd, "first-gw")
    new_network(netd, "second-gw")
    create(netd, "routed", "first-gw")
    connect(netd, "second-gw", "routed")
    start(netd, "routed")
    assert "default via" in sh(netd, "routed", "ip route")
    disconnect(netd, "first-gw", "routed")
    gateway = api(netd, "GET", "/networks/second-gw")[1]["IPAM"]["Config"][0]["Gateway"]
    assert f"default via {gateway}" in sh(netd, "routed", "ip route")


# ---------------------------------------------------------------------------
# networks: inspect, rm, prune and events
# ---------------------------------------------------------------------------


def test_network_inspect_lists_running_endpoints_only_and_the_list_none(netd):
    new_network(netd, "listed")
    create(netd, "up-one", "listed")
    create(netd, "down-one", "listed")
    start(netd, "up-one")
    containers = api(netd, "GET", "/networks/listed")[1]["Containers"]
    assert [c["Name"] for c in containers.values()] == ["up-one"]
    entry = next(iter(containers.values()))
    assert entry["EndpointID"] == inspect(netd, "up-one")["NetworkSettings"]["Networks"]["listed"]["EndpointID"]
    listed = next(n for n in api(netd, "GET", "/networks")[1] if n["Name"] == "listed")
    assert listed["Containers"] == {}


def test_removing_a_network_with_a_running_endpoint_is_403(netd):
    net_id = new_network(netd, "busy")
    create(netd, "busy-one", "busy")
    start(netd, "busy-one")
    assert api(netd, "DELETE", "/networks/busy") == (403, {"message": f"error while removing network: network busy id "
                                                                   f"{net_id} has active endpoints"})
    assert api(netd, "DELETE", "/networks/bridge") == (403, {"message": "bridge is a pre-defined network and cannot be removed"})


def test_a_network_used_only_by_stopped_containers_can_be_removed_and_start_then_fails(netd):
    net_id = new_network(netd, "gone")
    create(netd, "orphan", "gone")
    start(netd, "orphan")
    api(netd, "POST", "/containers/orphan/stop?t=0")
    assert api(netd, "DELETE", "/networks/gone") == (204, None)
    assert start(netd, "orphan") == (404, {"message": f"network {net_id} not found"})
    state = inspect(netd, "orphan")["State"]
    assert (state["Status"], state["Error"]) == ("exited", f"network {net_id} not found")


def test_a_network_that_does_not_exist_yet_fails_at_start_not_at_create(netd):
    create(netd, "early", "later-net")
    assert start(netd, "early") == (404, {"message": "network later-net not found"})
    state = inspect(netd, "early")["State"]
    assert (state["Status"], state["ExitCode"]) == ("created", 128)
    new_network(netd, "later-net")
    assert start(netd, "early")[0] == 204


def test_prune_removes_networks_without_running_endpoints(netd):
    new_network(netd, "kept")
    new_network(netd, "pruned")
    create(netd, "keeper", "kept")
    create(netd, "sleeper", "pruned")
    start(netd, "keeper")
    assert api(netd, "POST", "/networks/prune") == (200, {"NetworksDeleted": ["pruned"]})
    assert api(netd, "POST", "/networks/prune") == (200, {"NetworksDeleted": None})


def test_network_events_name_the_container_network_and_driver(netd):
    net_id = new_network(netd, "evented")
    since = time.time()
    cid = create(netd, "eventful", "evented")
    start(netd, "eventful")
    connect(netd, "bridge", "eventful")
    disconnect(netd, "bridge", "eventful")
    api(netd, "POST", "/containers/eventful/kill")
    time.sleep(0.5)
    disconnect(netd, "evented", "eventful")
    _, raw = api(netd, "GET", f"/events?since={since}&until={time.time() + 1}&filters="
                           + urllib.parse.quote(json.dumps({"type": ["network"]})))
    events = [json.loads(line) for line in raw.splitlines()] if isinstance(raw, str) else [raw]
    seen = [(e["Action"], e["Actor"]["Attributes"]["name"]) for e in events]
    assert seen == [("connect", "evented"), ("connect", "bridge"), ("disconnect", "bridge"),
                    ("disconnect", "evented"), ("disconnect", "evented")]
    assert events[0]["Actor"] == {"ID": net_id, "Attributes": {"container": cid, "name": "evented", "type": "bridge"}}


def test_the_none_networks_driver_is_called_null_as_in_docker(netd):
    assert api(netd, "GET", "/networks/none")[1]["Driver"] == "null"
    listed = api(netd, "GET", "/networks?filters=" + urllib.parse.quote(json.dumps({"driver": ["null"]})))[1]
    assert [n["Name"] for n in listed] == ["none"]


def test_several_networks_at_create_need_api_1_44(netd):
    new_network(netd, "one")
    new_network(netd, "two")
    body = {"Image": "busybox", "Cmd": ["sleep", "300"], "HostConfig": {"NetworkMode": "one"},
            "NetworkingConfig": {"EndpointsConfig": {"one": {}, "two": {"Aliases": ["second"]}}}}
    assert api(netd, "POST", "/v1.43/containers/create", body) == \
        (400, {"message": "Container cannot be connected to network endpoints: one, two"})
    status, reply = api(netd, "POST", "/v1.44/containers/create?name=both", body)
    assert status == 201, reply
    start(netd, "both")
    joined = inspect(netd, "both")["NetworkSettings"]["Networks"]
    assert sorted(joined) == ["one", "two"] and all(n["IPAddress"] for n in joined.values())
    assert "second" in joined["two"]["Aliases"]


def test_a_renamed_running_container_answers_to_its_new_name_only(netd):
    new_network(netd, "renaming")
    create(netd, "before", "renaming")
    create(netd, "peer", "renaming")
    start(netd, "before")
    start(netd, "peer")
    address = inspect(netd, "before")["NetworkSettings"]["Networks"]["renaming"]["IPAddress"]
    assert api(netd, "POST", "/containers/before/rename?name=after")[0] == 204
    assert address in sh(netd, "peer", "nslookup after 127.0.0.11")
    assert address not in netd.cli("exec", "peer", "nslookup", "before", "127.0.0.11").stdout.decode()
