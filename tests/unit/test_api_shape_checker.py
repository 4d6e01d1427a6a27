"""The API shape checker (tests/compat) tells apart exactly the differences clients can see."""

from __future__ import annotations

from berth.api import server
from tests.compat import spec
from tests.compat.scenario import UNSCRIPTED, script
from tests.compat.shape_diff import Schemas, compare


def kinds(dockerd, berth, schemas=Schemas(), maps=frozenset()) -> set[tuple[str, str]]:
    return {(d.kind, d.path) for d in compare("GET /x", dockerd, berth, schemas, maps)}


def schemas_for(route: str, method: str = "GET", status: int = 200) -> Schemas:
    return Schemas(spec.load("1.45").response(route, method, status), spec.load("1.41").response(route, method, status))


def test_null_empty_list_and_empty_object_are_different_types():
    assert kinds({"A": None}, {"A": []}) == {("type", "A")}
    assert kinds({"A": {}}, {"A": []}) == {("type", "A")}
    assert kinds({"A": [1]}, {"A": []}) == set()  # an empty list is data, not a shape


def test_integers_and_floats_are_both_numbers_as_go_writes_them():
    assert kinds({"A": 0}, {"A": 0.5}) == set()
    assert kinds({"A": 0}, {"A": False}) == {("type", "A")}


def test_fields_missing_and_extra_are_reported_by_path():
    assert kinds({"State": {"Health": {}}}, {"State": {"Running": True}}) == {
        ("missing", "State.Health"), ("extra", "State.Running")}


def test_a_field_newer_than_api_1_41_is_not_extra_but_a_field_dockerd_omits_is():
    schemas = schemas_for("/containers/{id}/json")
    # HostConfig.Annotations came with API 1.43; Config.StopSignal was in 1.41 (dockerd omits it when unset)
    assert kinds({"HostConfig": {}}, {"HostConfig": {"Annotations": None}}, schemas) == set()
    assert kinds({"Config": {}}, {"Config": {"StopSignal": "SIGTERM"}}, schemas) == {("extra", "Config.StopSignal")}


def test_the_spec_says_which_objects_are_maps_whose_keys_are_data():
    schemas = schemas_for("/containers/{id}/json")
    dockerd = {"Config": {"Labels": {"a": "1"}}}
    assert kinds(dockerd, {"Config": {"Labels": {"b": "2"}}}, schemas) == set()
    assert kinds(dockerd, {"Config": {"Labels": {"a": 1}}}, schemas) == {("type", "Config.Labels.*")}


def test_undocumented_maps_are_named_by_the_step():
    assert kinds({"networks": {"eth0": {}}}, {"networks": {"eth1": {}}}, maps=frozenset({"networks"})) == set()
    assert kinds({"networks": {"eth0": {}}}, {"networks": {"eth1": {}}}) == {
        ("missing", "networks.eth0"), ("extra", "networks.eth1")}


def test_mounts_pair_by_destination_whatever_their_order():
    dockerd = {"Mounts": [{"Destination": "/a", "Name": "v"}, {"Destination": "/b"}]}
    berth = {"Mounts": [{"Destination": "/b"}, {"Destination": "/a", "Name": "v"}]}
    assert kinds(dockerd, berth) == set()


def test_the_script_reaches_every_route_berth_serves():
    scripted = {(step.method, step.route) for step in script()}
    assert server.registered_routes() - scripted - set(UNSCRIPTED) == set()


def test_every_scripted_route_is_in_the_spec():
    unknown = [s.label for s in script() if spec.load("1.45").operation(s.route, s.method) is None and not s.off_spec]
    assert unknown == []
