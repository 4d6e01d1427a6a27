"""Endpoint records: what a client asked for, kept apart from what a run reported."""

from __future__ import annotations

import pytest

from berth.containers import endpoints
from berth.errors import InvalidArgument


def test_a_new_record_keeps_the_settings_asked_for_and_no_network_id():
    record = endpoints.new_record({"Aliases": ["db"], "IPAMConfig": {"IPv4Address": "10.0.0.9"}, "Links": ["a:b"],
                                   "MacAddress": "02:42:0a:00:00:09", "DriverOpts": {"k": "v"}})
    assert record == {"network_id": "", "aliases": ["db"], "ip": "10.0.0.9", "links": ["a:b"],
                      "mac": "02:42:0a:00:00:09", "driver_opts": {"k": "v"}}


@pytest.mark.parametrize("cfg, message", [({"IPAMConfig": {"IPv4Address": "10.0.0"}}, "invalid IPv4 address"),
                                          ({"Aliases": "db"}, "Aliases must be a list of strings"),
                                          ({"IPAMConfig": []}, "IPAMConfig must be a JSON object")])
def test_malformed_settings_are_refused(cfg, message):
    with pytest.raises(InvalidArgument, match=message):
        endpoints.new_record(cfg)


def test_implicit_aliases_are_the_short_id_and_the_hostname_once():
    record = endpoints.new_record({"Aliases": ["web", "abc123"]})
    endpoints.add_implicit_aliases(record, "abc123", "box")
    endpoints.add_implicit_aliases(record, "abc123", "box")
    assert record["aliases"] == ["web", "abc123", "box"]


def test_clearing_a_run_keeps_the_network_id():
    record = {**endpoints.new_record({}), "network_id": "n1", "endpoint_id": "e1", "ipv4_address": "10.0.0.2/24",
              "gateway": "10.0.0.1", "netns": "/proc/1/ns/net"}
    endpoints.clear_runtime(record)
    assert record["network_id"] == "n1" and not endpoints.is_joined(record) and "ipv4_address" not in record


def test_a_running_containers_record_from_before_endpoint_ids_counts_as_joined():
    old = {"network_id": "n1", "aliases": [], "ip": "", "ipv4_address": "10.0.0.2/24", "netns": "/proc/9/ns/net"}
    endpoints.adopt_legacy(old, "c" * 64)
    assert endpoints.is_joined(old) and old["endpoint_id"] == "c" * 64
