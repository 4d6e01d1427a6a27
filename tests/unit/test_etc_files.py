"""The /etc/hosts Docker writes for a container."""

from __future__ import annotations

from berth.containers import etcfiles
from berth.containers.etcfiles import hosts_content


def test_hosts_lists_extra_hosts_then_links_then_each_address_of_the_container():
    text = hosts_content("box", ["10.0.0.2", "10.1.0.2"], ["db:10.9.9.9"], [("10.0.0.3", "web abc123 web-1")])
    assert text.splitlines()[6:] == ["10.9.9.9\tdb", "10.0.0.3\tweb abc123 web-1", "10.0.0.2\tbox", "10.1.0.2\tbox"]


def test_a_domain_name_gives_the_fully_qualified_name_then_the_short_one():
    assert hosts_content("web", ["10.0.0.2"], domainname="example.test").splitlines()[-1] == \
        "10.0.0.2\tweb.example.test web"
    assert hosts_content("a.b.c", ["10.0.0.2"]).splitlines()[-1] == "10.0.0.2\ta.b.c a"


def test_the_embedded_resolvers_file_is_written_in_dockerds_order(tmp_path):
    host = tmp_path / "resolv.conf"
    host.write_text("nameserver 10.0.0.1\n")
    assert etcfiles.embedded_resolv_conf(["s.test"], ["timeout:2"], str(host)) == \
        "search s.test\nnameserver 127.0.0.11\noptions timeout:2 ndots:0\n"
    # a user's ndots replaces the resolver's ndots:0 (dockerd 20.10)
    assert etcfiles.embedded_resolv_conf([], ["ndots:3"], str(host)) == "nameserver 127.0.0.11\noptions ndots:3\n"


def test_explicit_dns_settings_are_written_in_dockerds_order(tmp_path):
    host = tmp_path / "resolv.conf"
    host.write_text("nameserver 10.0.0.1\n")
    assert etcfiles.resolv_conf_content(["10.9.9.9"], ["s.test"], ["timeout:2"], str(host)) == \
        "search s.test\nnameserver 10.9.9.9\noptions timeout:2\n"
