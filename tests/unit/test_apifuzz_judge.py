"""The API fuzz's judgement of one answer (tests/apifuzz): what it must call a finding, and what not."""

from __future__ import annotations

import json

import requests

from tests.apifuzz import exchange as ex
from tests.apifuzz import spec
from tests.apifuzz.runner import Fuzzer

INSPECT = "GET /containers/{id}/json"


def answered(route: str, status: int, body: bytes, content_type: str = "application/json") -> ex.Exchange:
    """An exchange as ``exchange.send`` leaves it, for a whole (sized) answer."""
    case = spec.operations()[route].Case(path_parameters={"id": "x"})
    response = requests.Response()
    response.status_code, response._content, response._content_consumed = status, body, True
    response.headers["Content-Type"] = content_type
    response.headers["Content-Length"] = str(len(body))
    response.request = requests.Request("GET", "http://berth/v1.45/containers/x/json").prepare()
    return ex.Exchange(route, case, status=status, headers=dict(response.headers), body=body, complete=True,
                       sized=True, response=response)


def fuzzer(**excuses) -> Fuzzer:
    return Fuzzer("/nonexistent.sock", "/nonexistent", {}, {}, excuses.get("messages", {}))


def test_a_docker_error_body_is_no_finding():
    assert ex.problems(answered(INSPECT, 404, b'{"message": "No such container: x"}'), {}) == []


def test_an_error_that_is_not_dockers_json_is_a_finding():
    found = ex.problems(answered(INSPECT, 400, b"400: Bad Request", "text/plain"), {})
    assert len(found) == 1 and "not JSON" in found[0]


def test_a_traceback_in_an_answer_is_a_finding():
    body = json.dumps({"message": 'Traceback (most recent call last):\n  File "x.py", line 1'}).encode()
    assert any("traceback" in f for f in ex.problems(answered(INSPECT, 400, body), {}))


def test_a_body_that_breaks_the_spec_schema_is_a_finding():
    assert ex.problems(answered(INSPECT, 200, b'{"Id": 5, "State": "running"}'), {}) != []


def test_no_answer_in_time_is_a_hang():
    assert "no answer" in ex.problems(ex.Exchange(INSPECT, None, status=0, error="ReadTimeout"), {})[0]


def test_a_server_error_with_no_dockerd_to_judge_it_is_a_finding():
    found = fuzzer().judge(answered(INSPECT, 500, b'{"message": "boom"}'))
    assert len(found) == 1 and "server error" in found[0]


def test_a_server_error_with_dockerds_own_words_is_excused():
    excused = {"This node is not part of a swarm": "dockerd's 503"}
    assert fuzzer(messages=excused).judge(answered(INSPECT, 503, b'{"message": "This node is not part of a swarm"}')) == []
