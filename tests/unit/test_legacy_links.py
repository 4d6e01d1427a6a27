"""Legacy links: parsing and the environment Docker gives a linking container."""

from __future__ import annotations

import pytest

from berth.containers import legacylinks
from berth.errors import InvalidArgument


@pytest.mark.parametrize("link, expected", [
    ("web", ("web", "web")),
    ("web:db", ("web", "db")),
    ("/web:/client/db", ("web", "db")),  # the normalised form inspect shows
])
def test_parse(link, expected):
    assert legacylinks.parse(link) == expected


@pytest.mark.parametrize("link, message", [("", "empty string specified for links"),
                                           ("a:b:c", "bad format for links: a:b:c")])
def test_parse_refuses(link, message):
    with pytest.raises(InvalidArgument, match=message):
        legacylinks.parse(link)


def test_variables_name_ports_lowest_first_tcp_before_udp_and_the_childs_env():
    env = legacylinks.link_env("my-db", "/app/my-db", "10.0.0.5",
                               {"ExposedPorts": {"5432/tcp": {}, "53/udp": {}, "53/tcp": {}},
                                "Env": ["PATH=/bin", "HOME=/root", "PASSWORD=x=y", "BARE"]})
    assert env == [
        "MY_DB_PORT=tcp://10.0.0.5:53",
        "MY_DB_PORT_53_TCP=tcp://10.0.0.5:53", "MY_DB_PORT_53_TCP_ADDR=10.0.0.5", "MY_DB_PORT_53_TCP_PORT=53",
        "MY_DB_PORT_53_TCP_PROTO=tcp",
        "MY_DB_PORT_53_UDP=udp://10.0.0.5:53", "MY_DB_PORT_53_UDP_ADDR=10.0.0.5", "MY_DB_PORT_53_UDP_PORT=53",
        "MY_DB_PORT_53_UDP_PROTO=udp",
        "MY_DB_PORT_5432_TCP=tcp://10.0.0.5:5432", "MY_DB_PORT_5432_TCP_ADDR=10.0.0.5",
        "MY_DB_PORT_5432_TCP_PORT=5432", "MY_DB_PORT_5432_TCP_PROTO=tcp",
        "MY_DB_NAME=/app/my-db",
        "MY_DB_ENV_PASSWORD=x=y",
    ]


def test_three_contiguous_ports_also_get_range_variables():
    env = legacylinks.link_env("r", "/p/r", "10.0.0.9", {"ExposedPorts": {"8000/tcp": {}, "8001/tcp": {}, "8002/tcp": {}}})
    assert env[:7] == [
        "R_PORT=tcp://10.0.0.9:8000",
        "R_PORT_8000_TCP_START=tcp://10.0.0.9:8000", "R_PORT_8000_TCP_ADDR=10.0.0.9", "R_PORT_8000_TCP_PROTO=tcp",
        "R_PORT_8000_TCP_PORT_START=8000", "R_PORT_8000_TCP_END=tcp://10.0.0.9:8002", "R_PORT_8000_TCP_PORT_END=8002",
    ]


def test_two_contiguous_ports_are_not_a_range():
    env = legacylinks.link_env("r", "/p/r", "10.0.0.9", {"ExposedPorts": {"80/tcp": {}, "81/tcp": {}}})
    assert not any("_START=" in v or "_END=" in v for v in env)


def test_user_network_links_are_aliases():
    assert legacylinks.dns_aliases(["web:db", "cache"]) == {"db": "web", "cache": "cache"}


def test_links_follow_a_rename_of_the_child_or_the_parent():
    class C:
        def __init__(self, links):
            self.host_config = {"Links": links}

    parent, other = C(["/web:/app/db", "/cache:/app/cache"]), C(None)
    assert legacylinks.rename([parent, other], "web", "web2") == [parent]
    assert parent.host_config["Links"] == ["/web2:/app/db", "/cache:/app/cache"]
    legacylinks.rename([parent], "app", "app2")
    assert parent.host_config["Links"] == ["/web2:/app2/db", "/cache:/app2/cache"]
