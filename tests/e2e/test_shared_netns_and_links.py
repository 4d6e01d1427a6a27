"""``--network container:X`` and legacy ``--link``, as dockerd 20.10 answers them.

A container in X's network namespace sees X's interfaces, hostname and /etc files and
may not set what would contradict them; a link on the default bridge gives /etc/hosts
lines and Docker's ``ALIAS_*`` variables; on a user-defined network it is an alias only
the linking container resolves.
"""

from __future__ import annotations

import pytest

from tests.e2e.netapi import api, connect, create, inspect, new_network, sh, start


# ---------------------------------------------------------------------------
# container:X
# ---------------------------------------------------------------------------


def test_container_mode_shares_the_namespace_hostname_and_etc_files(netd):
    owner = create(netd, "owner", cmd=("sh", "-c", "echo served > /tmp/i.html && exec httpd -f -p 8080 -h /tmp"))
    start(netd, "owner")
    create(netd, "guest", "container:owner")
    assert start(netd, "guest")[0] == 204
    guest, host = inspect(netd, "guest"), inspect(netd, "owner")
    assert guest["HostConfig"]["NetworkMode"] == f"container:{owner}"
    assert guest["NetworkSettings"]["Networks"] == {} and guest["NetworkSettings"]["SandboxKey"] == ""
    assert guest["Config"]["Hostname"] == host["Config"]["Hostname"] == sh(netd, "guest", "hostname").strip()
    assert (guest["HostsPath"], guest["ResolvConfPath"]) == (host["HostsPath"], host["ResolvConfPath"])
    address = host["NetworkSettings"]["IPAddress"]
    assert f"inet {address}/" in sh(netd, "guest", "ip -o -4 addr")
    assert sh(netd, "guest", "wget -qO- http://127.0.0.1:8080/i.html") == "served\n"


def test_container_mode_needs_the_other_container_running(netd):
    other = create(netd, "sleeping")
    create(netd, "waiting", "container:sleeping")
    assert start(netd, "waiting") == (409, {"message": f"cannot join network of a non running container: {other}"})
    state = inspect(netd, "waiting")["State"]
    assert (state["Status"], state["ExitCode"]) == ("created", 128)


def test_container_mode_with_a_missing_container_fails_at_start(netd):
    create(netd, "orphaned", "container:nobody-here")
    assert inspect(netd, "orphaned")["HostConfig"]["NetworkMode"] == "container:nobody-here"
    assert start(netd, "orphaned") == (404, {"message": "No such container: nobody-here"})


@pytest.mark.parametrize("config, host_config, message", [
    ({"Hostname": "mine"}, {}, "conflicting options: hostname and the network mode"),
    ({}, {"Dns": ["192.0.2.53"]}, "conflicting options: dns and the network mode"),
    ({}, {"ExtraHosts": ["a:192.0.2.1"]}, "conflicting options: custom host-to-IP mapping and the network mode"),
    ({"MacAddress": "02:42:ac:11:00:09"}, {}, "conflicting options: mac-address and the network mode"),
    ({}, {"PortBindings": {"80/tcp": [{"HostPort": "8080"}]}},
     "conflicting options: port publishing and the container type network mode"),
    ({}, {"PublishAllPorts": True}, "conflicting options: port publishing and the container type network mode"),
    ({"ExposedPorts": {"80/tcp": {}}}, {}, "conflicting options: port exposing and the container type network mode"),
    ({}, {"Links": ["x:y"]}, "conflicting options: container type network can't be used with links. "
                             "This would result in undefined behavior"),
])
def test_container_mode_refuses_what_belongs_to_the_namespace_owner(netd, config, host_config, message):
    body = {"Image": "busybox", **config, "HostConfig": {"NetworkMode": "container:someone", **host_config}}
    assert api(netd, "POST", "/containers/create", body) == (400, {"message": message})


def test_container_mode_without_a_name_is_refused(netd):
    body = {"Image": "busybox", "HostConfig": {"NetworkMode": "container:"}}
    assert api(netd, "POST", "/containers/create", body) == \
        (400, {"message": "Invalid network mode: invalid container format container:<name|id>"})


def test_container_mode_cannot_connect_to_networks(netd):
    create(netd, "hub")
    start(netd, "hub")
    cid = create(netd, "spoke", "container:hub")
    start(netd, "spoke")
    assert connect(netd, "bridge", "spoke") == (400, {"message": "container sharing network namespace with another "
                                                               "container or host cannot be connected to any other network"})
    assert api(netd, "POST", "/networks/bridge/disconnect", {"Container": "spoke"}) == \
        (500, {"message": f"container {cid} is not connected to network bridge"})


# ---------------------------------------------------------------------------
# --link
# ---------------------------------------------------------------------------


def test_link_on_the_default_bridge_sets_hosts_and_docker_variables(netd):
    web = create(netd, "web-1", Env=["SECRET=1"], ExposedPorts={"80/tcp": {}, "53/udp": {}})
    start(netd, "web-1")
    create(netd, "client-1", HostConfig={"Links": ["web-1:webalias", "web-1"]})
    assert start(netd, "client-1")[0] == 204
    address = inspect(netd, "web-1")["NetworkSettings"]["IPAddress"]
    env = set(sh(netd, "client-1", "env").split())
    assert {f"WEBALIAS_PORT=udp://{address}:53", f"WEBALIAS_PORT_80_TCP=tcp://{address}:80",
            f"WEBALIAS_PORT_80_TCP_ADDR={address}", "WEBALIAS_PORT_80_TCP_PORT=80", "WEBALIAS_PORT_80_TCP_PROTO=tcp",
            f"WEBALIAS_PORT_53_UDP=udp://{address}:53", "WEBALIAS_NAME=/client-1/webalias", "WEBALIAS_ENV_SECRET=1",
            "WEB_1_NAME=/client-1/web-1", f"WEB_1_PORT_80_TCP=tcp://{address}:80"} <= env
    assert not any(v.startswith(("WEBALIAS_ENV_PATH=", "WEBALIAS_ENV_HOME=")) for v in env)
    hosts = sh(netd, "client-1", "cat /etc/hosts")
    assert f"{address}\twebalias {web[:12]} web-1\n" in hosts and f"{address}\tweb-1 {web[:12]}\n" in hosts
    assert inspect(netd, "client-1")["HostConfig"]["Links"] == ["/web-1:/client-1/webalias", "/web-1:/client-1/web-1"]


def test_linking_container_follows_the_linked_one_to_its_new_address(netd):
    create(netd, "moving")
    create(netd, "filler")
    start(netd, "moving")
    create(netd, "follower", HostConfig={"Links": ["moving:m"]})
    start(netd, "follower")
    api(netd, "POST", "/containers/moving/stop?t=0")
    start(netd, "filler")  # takes the old address
    start(netd, "moving")
    address = inspect(netd, "moving")["NetworkSettings"]["IPAddress"]
    assert f"{address}\tm " in sh(netd, "follower", "cat /etc/hosts")


def test_link_to_a_stopped_container_fails_the_start(netd):
    create(netd, "stopped-child")
    create(netd, "parent", HostConfig={"Links": ["stopped-child:kid"]})
    assert start(netd, "parent") == (500, {"message": "Cannot link to a non running container: /stopped-child AS "
                                                   "/parent/kid"})


@pytest.mark.parametrize("links, message", [
    (["ghost:x"], "could not get container for ghost: No such container: ghost"),
    (["a:b:c"], "bad format for links: a:b:c"),
])
def test_bad_links_are_refused_at_create(netd, links, message):
    body = {"Image": "busybox", "HostConfig": {"Links": links}}
    assert api(netd, "POST", "/containers/create", body) == (400, {"message": message})


def test_link_with_host_networking_is_refused(netd):
    create(netd, "target")
    body = {"Image": "busybox", "HostConfig": {"NetworkMode": "host", "Links": ["target:t"]}}
    assert api(netd, "POST", "/containers/create", body) == (400, {"message": "conflicting options: host type "
                                                                          "networking can't be used with links. "
                                                                          "This would result in undefined behavior"})


def test_link_on_a_user_network_is_an_alias_only_the_linking_container_resolves(netd):
    new_network(netd, "linked-net")
    create(netd, "served", "linked-net")
    start(netd, "served")
    create(netd, "linker", "linked-net", HostConfig={"NetworkMode": "linked-net", "Links": ["served:db"]})
    create(netd, "bystander", "linked-net")
    start(netd, "linker")
    start(netd, "bystander")
    address = inspect(netd, "served")["NetworkSettings"]["Networks"]["linked-net"]["IPAddress"]
    assert address in sh(netd, "linker", "nslookup db 127.0.0.11")
    assert address not in netd.cli("exec", "bystander", "nslookup", "db", "127.0.0.11").stdout.decode()
    info = inspect(netd, "linker")
    assert info["HostConfig"]["Links"] is None
    assert info["NetworkSettings"]["Networks"]["linked-net"]["Links"] == ["served:db"]


def test_links_follow_renamed_containers(netd):
    child = create(netd, "child-old")
    start(netd, "child-old")
    create(netd, "parent-old", HostConfig={"Links": ["child-old:kid"]})
    assert api(netd, "POST", "/containers/child-old/rename?name=child-new")[0] == 204
    assert api(netd, "POST", "/containers/parent-old/rename?name=parent-new")[0] == 204
    assert inspect(netd, "parent-new")["HostConfig"]["Links"] == ["/child-new:/parent-new/kid"]
    assert start(netd, "parent-new")[0] == 204
    assert f"\tkid {child[:12]} child-new\n" in sh(netd, "parent-new", "cat /etc/hosts")
    assert "KID_NAME=/parent-new/kid" in sh(netd, "parent-new", "env")


def test_a_linked_container_is_listed_under_its_link_names_too(netd):
    create(netd, "listed-child")
    start(netd, "listed-child")
    create(netd, "listed-parent", HostConfig={"Links": ["listed-child:kid"]})
    _, rows = api(netd, "GET", "/containers/json?all=1")
    names = {row["Names"][0]: row["Names"] for row in rows}
    assert names["/listed-child"] == ["/listed-child", "/listed-parent/kid"]
    assert names["/listed-parent"] == ["/listed-parent"]


def test_rm_link_forgets_the_link_and_keeps_both_containers(netd):
    create(netd, "rml-child")
    start(netd, "rml-child")
    create(netd, "rml-parent", HostConfig={"Links": ["rml-child:kid"]})
    start(netd, "rml-parent")
    assert "\tkid " in sh(netd, "rml-parent", "cat /etc/hosts")
    assert api(netd, "DELETE", "/containers/rml-parent/kid?link=1")[0] == 204
    assert inspect(netd, "rml-parent")["HostConfig"]["Links"] is None
    assert "\tkid " not in sh(netd, "rml-parent", "cat /etc/hosts")  # rewritten at once, as dockerd's
    _, rows = api(netd, "GET", "/containers/json?all=1")
    assert sorted(n for row in rows for n in row["Names"] if "rml" in n) == ["/rml-child", "/rml-parent"]
    assert api(netd, "POST", "/containers/rml-parent/restart?t=0")[0] == 204
    assert "KID_NAME" not in sh(netd, "rml-parent", "env")


def test_rm_link_refusals_are_dockerds(netd):
    create(netd, "rmr-child")
    create(netd, "rmr-parent", HostConfig={"Links": ["rmr-child:kid"]})
    assert api(netd, "DELETE", "/containers/rmr-child?link=1") == \
        (500, {"message": "Conflict, cannot remove the default link name of the container"})
    assert api(netd, "DELETE", "/containers/rmr-parent/other?link=1") == \
        (404, {"message": "No such container: rmr-parent/other"})
    assert api(netd, "DELETE", "/containers/nope/kid?link=1") == (404, {"message": "No such container: nope/kid"})


def test_a_link_name_stands_for_the_linked_container(netd):
    create(netd, "named-child")
    create(netd, "named-parent", HostConfig={"Links": ["named-child:kid"]})
    assert api(netd, "DELETE", "/containers/named-parent/kid")[0] == 204
    assert api(netd, "GET", "/containers/named-child/json")[0] == 404
