"""A service spec is stored and shown exactly as dockerd 20.10 stores and shows it (recorded answers in data/)."""

from __future__ import annotations

import json
import os

import pytest

from berth.errors import BerthError
from berth.swarm import apitypes, gojson, servicespec, validation

RECORDED = json.load(open(os.path.join(os.path.dirname(__file__), "data", "swarm_service_specs.json")))
CASES, ERRORS = RECORDED["cases"], RECORDED["errors"]


def stored(request: dict) -> dict:
    spec = servicespec.canonical(gojson.decode(request, apitypes.ServiceSpec))
    validation.check_service(spec)
    return spec


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_stored_spec_is_dockerds(case):
    assert gojson.encode(stored(CASES[case]["request"]), apitypes.ServiceSpec) == CASES[case]["spec"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_insert_defaults_fills_what_dockerd_fills(case):
    spec = servicespec.with_defaults(stored(CASES[case]["request"]))
    assert gojson.encode(spec, apitypes.ServiceSpec) == CASES[case]["defaults"]


@pytest.mark.parametrize("case", sorted(c for c in CASES if CASES[c]["task_spec"]))
def test_a_task_carries_the_template_without_its_runtime(case):
    spec = servicespec.task_spec(stored(CASES[case]["request"]))
    assert gojson.encode(spec, apitypes.TaskSpec) == CASES[case]["task_spec"]


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_a_spec_dockerd_refuses_is_refused_with_its_status_and_message(case):
    with pytest.raises(BerthError) as refused:
        stored(ERRORS[case]["request"])
    # where dockerd answers bad input with an untyped 500, berth answers 400 (its rule: bad input is a 4xx)
    status = 400 if ERRORS[case]["status"] == 500 else ERRORS[case]["status"]
    assert (refused.value.status, refused.value.message) == (status, ERRORS[case]["message"])


def test_a_service_without_a_name_gets_a_generated_one():
    assert stored({"TaskTemplate": {"ContainerSpec": {"Image": "busybox"}}})["Name"]
