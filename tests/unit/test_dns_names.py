"""The embedded resolver's name table: Docker's DNSNames, network scoping and ``name.network``."""

from __future__ import annotations

from berth.plugins.netdrivers.dnsnames import NameTable, dns_names

CID = "0123456789ab" + "c" * 52


def test_dns_names_follow_dockers_order_without_duplicates():
    opts = {"container_name": "/web", "aliases": ["www", "WEB"], "hostname": CID[:12]}
    assert dns_names(CID, opts) == ["web", "www", CID[:12]]
    assert dns_names("not-hex", {"container_name": "a", "hostname": "box"}) == ["a", "box"]


def table() -> NameTable:
    t = NameTable()
    t.set_network("n1", "front", internal=False)
    t.set_network("n2", "back", internal=True)
    t.set_endpoint("n1", "e1", "10.0.1.2", ["web", "www"])
    t.set_endpoint("n1", "e2", "10.0.1.3", ["api", "www"])
    t.set_endpoint("n2", "e3", "10.0.2.2", ["db"])
    return t


def test_lookup_is_scoped_to_the_asking_networks_and_case_insensitive():
    t = table()
    assert t.lookup({"n1"}, "WEB.") == ["10.0.1.2"]
    assert t.lookup({"n1"}, "db") is None
    assert t.lookup({"n1", "n2"}, "db") == ["10.0.2.2"]


def test_shared_alias_answers_every_address():
    assert table().lookup({"n1"}, "www") == ["10.0.1.2", "10.0.1.3"]


def test_name_dot_network_resolves_only_on_that_network():
    t = table()
    assert t.lookup({"n1", "n2"}, "web.front") == ["10.0.1.2"]
    assert t.lookup({"n1", "n2"}, "web.back") is None
    assert t.lookup({"n1"}, "db.back") is None  # not attached to "back"


def test_reverse_answers_name_dot_network():
    t = table()
    assert t.reverse({"n1"}, "10.0.1.3") == "api.front"
    assert t.reverse({"n1"}, "10.0.2.2") is None


def test_removed_endpoint_and_network_no_longer_resolve():
    t = table()
    t.remove_endpoint("n1", "e1")
    assert t.lookup({"n1"}, "web") is None and t.lookup({"n1"}, "www") == ["10.0.1.3"]
    t.remove_network("n2")
    assert t.lookup({"n2"}, "db") is None
    t.remove_endpoint("n2", "e3")  # idempotent on a forgotten network


def test_forwarding_is_refused_only_when_every_network_is_internal():
    t = table()
    assert t.may_forward({"n1"}) and t.may_forward({"n1", "n2"})
    assert not t.may_forward({"n2"})


def test_a_link_alias_resolves_only_for_the_linking_endpoint():
    t = table()
    t.set_endpoint("n1", "e4", "10.0.1.4", ["client"], links={"DB": "api"})
    assert t.lookup({"n1"}, "db", asking=frozenset({("n1", "e4")})) == ["10.0.1.3"]
    assert t.lookup({"n1"}, "db", asking=frozenset({("n1", "e1")})) is None
    assert t.lookup({"n1"}, "db") is None
