"""Swarm objects follow Go's encoding/json rules, as dockerd's answers do."""

from __future__ import annotations

import pytest

from berth.errors import InvalidArgument
from berth.swarm import apitypes, gojson


def roundtrip(data: dict, t=apitypes.ServiceSpec) -> dict:
    return gojson.encode(gojson.decode(data, t), t)


def test_field_names_match_case_insensitively():
    assert roundtrip({"name": "web", "tasktemplate": {"containerspec": {"image": "busybox"}}})["Name"] == "web"


def test_unknown_fields_vanish():
    assert "Bogus" not in roundtrip({"Name": "web", "Bogus": 1})


def test_omitempty_zero_values_are_left_out_and_the_others_shown():
    assert roundtrip({"UpdateConfig": {}})["UpdateConfig"] == {"Parallelism": 0, "MaxFailureRatio": 0, "Order": ""}


def test_a_pointer_to_zero_is_not_empty():
    policy = roundtrip({"TaskTemplate": {"RestartPolicy": {"MaxAttempts": 0}}})["TaskTemplate"]["RestartPolicy"]
    assert policy == {"MaxAttempts": 0}


def test_a_struct_field_is_never_left_out():
    assert roundtrip({}, apitypes.Service)["Endpoint"] == {"Spec": {}}


def test_labels_without_omitempty_are_null_when_absent():
    assert roundtrip({})["Labels"] is None


def test_bytes_travel_as_base64():
    assert gojson.decode({"Data": "aGk="}, apitypes.SecretSpec)["Data"] == b"hi"


def test_bad_base64_is_gos_error():
    with pytest.raises(InvalidArgument, match="illegal base64 data at input byte 2"):
        gojson.decode({"Data": "aG!="}, apitypes.SecretSpec)


def test_a_mistyped_field_is_named_by_its_struct_and_path():
    with pytest.raises(InvalidArgument) as refused:
        gojson.decode({"Mode": {"Replicated": {"Replicas": -1}}}, apitypes.ServiceSpec)
    assert refused.value.message == ("json: cannot unmarshal number -1 into Go struct field "
                                     "ReplicatedService.Mode.Replicated.Replicas of type uint64")


def test_a_body_that_is_not_an_object_names_the_type():
    with pytest.raises(InvalidArgument, match=r"cannot unmarshal array into Go value of type swarm.InitRequest"):
        gojson.decode([], apitypes.InitRequest)


def test_floats_that_are_whole_are_written_as_go_writes_them():
    assert roundtrip({"UpdateConfig": {"MaxFailureRatio": 1.0}})["UpdateConfig"]["MaxFailureRatio"] == 1
