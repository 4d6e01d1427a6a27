"""swarmkit's formats (IDs, tokens, keys), placement constraints and template placeholders."""

from __future__ import annotations

import re

import pytest

from berth.errors import BerthError, InvalidArgument
from berth.swarm import ids, placement, templates

NODE = {"ID": "n1", "Spec": {"Role": "manager", "Labels": {"zone": "a"}},
        "Description": {"Hostname": "vm", "Platform": {"OS": "linux", "Architecture": "x86_64"},
                        "Engine": {"Labels": None}},
        "Status": {"Addr": "127.0.0.1"}}


def test_object_ids_are_25_base36_characters():
    assert re.fullmatch(r"[0-9a-z]{25}", ids.new_id())


def test_join_tokens_carry_the_root_ca_digest():
    worker, manager = ids.join_token(b"ca"), ids.join_token(b"ca")
    assert worker.split("-")[2] == manager.split("-")[2] and worker != manager
    assert re.fullmatch(r"SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}", worker)


def test_unlock_keys_are_swarmkits():
    assert re.fullmatch(r"SWMKEY-1-[A-Za-z0-9+/]{43}", ids.unlock_key())


@pytest.mark.parametrize("constraint, matches", [
    ("node.role==manager", True), ("node.role!=manager", False), ("node.hostname==VM", True),
    ("node.labels.zone==a", True), ("node.labels.zone==b", False), ("node.platform.os==linux", True),
    ("node.ip==127.0.0.0/8", True), ("engine.labels.x!=y", True), ("node.color==red", False)])
def test_constraints_match_the_node_as_swarmkit_matches_them(constraint, matches):
    assert placement.node_matches(placement.parse([constraint]), NODE) is matches


def test_a_constraint_without_an_operator_is_swarmkits_error():
    with pytest.raises(BerthError, match="constraint expected one operator from ==, !="):
        placement.parse(["node.role=manager"])


def values() -> dict:
    return templates.context("s1", "web", {"tier": "front"}, {"ID": "n1", "Hostname": "vm", "Platform": {
        "OS": "linux", "Architecture": "x86_64"}}, "t1", "web.2.t1", "2")


def test_placeholders_expand_to_the_tasks_context():
    assert templates.expand("{{.Service.Name}}-{{.Task.Slot}}@{{.Node.Hostname}}", values()) == "web-2@vm"


def test_service_labels_are_reachable_with_index():
    assert templates.expand('{{index .Service.Labels "tier"}}', values()) == "front"


def test_an_unknown_field_is_refused_as_swarmkit_refuses_it():
    with pytest.raises(InvalidArgument, match=r"can't evaluate field Nope in type \*template.Context"):
        templates.expand("{{.Nope}}", values(), what="hostname")


def test_an_action_berth_does_not_evaluate_is_refused_not_passed_through():
    with pytest.raises(InvalidArgument, match="berth evaluates"):
        templates.expand("{{range .Service.Labels}}x{{end}}", values())
