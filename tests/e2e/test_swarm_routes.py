"""Swarm routes answer as dockerd does on a node outside a swarm: 503 with its messages, never 404; init and join
check their requests as dockerd does."""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_api_wire import http

docker = pytest.importorskip("docker")

NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this '
                 'node to swarm and try again.')

MANAGER_ROUTES = [
    ("GET", "/swarm"), ("GET", "/swarm/unlockkey"),
    ("GET", "/services"), ("GET", "/services/web"), ("DELETE", "/services/web"), ("GET", "/services/web/logs?stdout=1"),
    ("GET", "/nodes"), ("GET", "/nodes/n1"), ("DELETE", "/nodes/n1"),
    ("GET", "/tasks"), ("GET", "/tasks/t1"), ("GET", "/tasks/t1/logs?stderr=1"),
    ("GET", "/secrets"), ("GET", "/secrets/s1"), ("DELETE", "/secrets/s1"),
    ("GET", "/configs"), ("GET", "/configs/c1"), ("DELETE", "/configs/c1"),
]
ROUTES_WITH_A_BODY = ["/services/create", "/secrets/create", "/configs/create", "/swarm/unlock",
                      "/swarm/update?version=1", "/services/web/update?version=3", "/nodes/n1/update?version=3",
                      "/secrets/s1/update?version=3", "/configs/c1/update?version=3"]


@pytest.mark.parametrize("method, path", MANAGER_ROUTES)
def test_manager_routes_are_unavailable_outside_a_swarm(daemon, method, path):
    status, _, body = http(daemon, method, "/v1.41" + path)
    assert (status, json.loads(body)) == (503, {"message": NOT_A_MANAGER})


@pytest.mark.parametrize("path", ROUTES_WITH_A_BODY)
def test_manager_routes_read_their_body_before_answering_503(daemon, path):
    status, _, body = http(daemon, "POST", "/v1.41" + path, {})
    assert (status, json.loads(body)) == (503, {"message": NOT_A_MANAGER})


@pytest.mark.parametrize("path", ["/services/create", "/swarm/init", "/swarm/join", "/secrets/create"])
def test_an_empty_body_is_dockers_eof_error(daemon, path):
    status, _, body = http(daemon, "POST", "/v1.41" + path)
    assert (status, json.loads(body)) == (400, {"message": "got EOF while reading request body"})


@pytest.mark.parametrize("path, message", [
    ("/services/web/update", "invalid service version '': strconv.ParseUint: parsing \"\": invalid syntax"),
    ("/nodes/n1/update?version=x", "invalid node version 'x': strconv.ParseUint: parsing \"x\": invalid syntax"),
    ("/swarm/update", "invalid swarm version '': strconv.ParseUint: parsing \"\": invalid syntax"),
    ("/configs/c1/update", "invalid config version"),
])
def test_an_update_without_a_version_is_a_400(daemon, path, message):
    status, _, body = http(daemon, "POST", "/v1.41" + path, {})
    assert (status, json.loads(body)) == (400, {"message": message})


def test_service_logs_need_a_stream(daemon):
    status, _, body = http(daemon, "GET", "/v1.41/services/web/logs")  # dockerd: an untyped 500 (bad input: 400)
    assert (status, json.loads(body)) == (400, {"message": "Bad parameters: you must choose at least one stream"})


def test_leaving_is_not_part_of_a_swarm(daemon):
    status, _, body = http(daemon, "POST", "/v1.41/swarm/leave?force=1")
    assert (status, json.loads(body)) == (503, {"message": "This node is not part of a swarm"})


@pytest.mark.parametrize("path, body, message", [
    ("/swarm/init", {}, 'invalid ListenAddr "": invalid empty address'),
    ("/swarm/init", {"ListenAddr": "nonsense"},
     "listen address must be an IP address or network interface (with optional port number)"),
    ("/swarm/init", {"ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": "0.0.0.0"},
     "advertise address must be a non-zero IP address or network interface (with optional port number)"),
    ("/swarm/join", {"ListenAddr": "0.0.0.0:2377"}, "at least 1 RemoteAddr is required to join"),
])
def test_init_and_join_requests_are_checked_as_dockerd_checks_them(daemon, path, body, message):
    status, _, answer = http(daemon, "POST", "/v1.41" + path, body)
    assert (status, json.loads(answer)) == (400, {"message": message})


def test_joining_an_unreachable_manager_is_dockerds_connection_error(daemon):
    status, _, body = http(daemon, "POST", "/v1.41/swarm/join", {"ListenAddr": "0.0.0.0:2377",
                                                                 "RemoteAddrs": ["127.0.0.1:1"]})
    assert status == 503
    assert json.loads(body)["message"] == ('rpc error: code = Unavailable desc = connection error: desc = "transport: '
                                           'Error while dialing dial tcp 127.0.0.1:1: connect: connection refused"')


def test_docker_py_sees_an_inactive_node(sdk):
    assert sdk.info()["Swarm"]["LocalNodeState"] == "inactive"
    assert sdk.swarm.leave(force=True) is True  # docker-py takes the 503 as "nothing to leave"
    with pytest.raises(docker.errors.APIError) as listing:
        sdk.services.list()
    assert listing.value.status_code == 503
