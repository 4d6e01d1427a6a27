"""Hostile and malformed requests get Docker's status code and a ``{"message": ...}`` body, never a 500,
and corrupt state on disk is reported at restart without crashing the daemon or deleting anything."""

from __future__ import annotations

import json
import os
import threading
import urllib.parse

import pytest

from tests.helpers import api

DAEMON_ARGS = ["-s", "vfs"]


def expect_error(daemon, status: int, method: str, path: str, body=None, contains: str = "", **kw) -> str:
    got, payload = api(daemon, method, path, body, **kw)
    assert got == status, (got, payload)
    assert isinstance(payload, dict) and isinstance(payload.get("message"), str), payload
    assert contains.lower() in payload["message"].lower(), payload
    return payload["message"]


def container_names(daemon) -> set[str]:
    _, rows = api(daemon, "GET", "/containers/json?all=1")
    return {row["Names"][0].lstrip("/") for row in rows}


@pytest.mark.parametrize("body, contains", [
    ({"Image": "busybox", "Env": {"A": "1"}}, "Env must be a list of strings"),
    ({"Image": "busybox", "Env": ["=x"]}, "needs a name"),
    ({"Image": "busybox", "Cmd": ["echo", 1]}, "Cmd must be a list of strings"),
    ({"Image": "busybox", "Labels": ["a"]}, "Labels must be an object"),
    ({"Image": "busybox", "WorkingDir": "relative"}, "absolute path"),
    ({"Image": "busybox", "HostConfig": "x"}, "HostConfig must be an object"),
    ({"Image": "busybox", "HostConfig": {"Memory": -5}}, "Memory cannot be -5"),
    ({"Image": "busybox", "HostConfig": {"Memory": 100}}, "Minimum memory limit"),
    ({"Image": "busybox", "HostConfig": {"Memory": "abc"}}, "Memory must be an integer"),
    ({"Image": "busybox", "HostConfig": {"CpuShares": True}}, "CpuShares must be an integer"),
    ({"Image": "busybox", "HostConfig": {"NanoCpus": -1}}, "NanoCpus cannot be -1"),
    ({"Image": "busybox", "HostConfig": {"PortBindings": "garbage"}}, "PortBindings must be an object"),
    ({"Image": "busybox", "HostConfig": {"PortBindings": {"80/tcp": "x"}}}, "list of objects"),
    ({"Image": "busybox", "HostConfig": {"RestartPolicy": "always"}}, "RestartPolicy must be an object"),
    ({"Image": "busybox", "HostConfig": {"Mounts": "x"}}, "Mounts must be a list of objects"),
    ({"Image": "busybox", "HostConfig": {"Dns": "1.1.1.1"}}, "Dns must be a list of strings"),
    ({"Image": "busybox", "NetworkingConfig": "x"}, "NetworkingConfig must be an object"),
    ({"Image": "busybox", "NetworkingConfig": {"EndpointsConfig": {"none": "x"}}}, "EndpointsConfig"),
    ([1, 2], "must be a JSON object"),
    ("str", "must be a JSON object"),
])
def test_create_with_wrong_types_is_a_400_and_creates_nothing(daemon, body, contains):
    before = container_names(daemon)
    expect_error(daemon, 400, "POST", "/containers/create?name=badtypes", body, contains)
    assert container_names(daemon) == before


def test_create_takes_a_lone_string_cmd_as_one_argument_like_docker(daemon):
    status, body = api(daemon, "POST", "/containers/create?name=strcmd", {"Image": "busybox", "Cmd": "echo hi"})
    assert status == 201, body
    _, info = api(daemon, "GET", "/containers/strcmd/json")
    assert (info["Path"], info["Args"]) == ("echo hi", [])  # Docker's strslice: not split, not per character
    api(daemon, "DELETE", "/containers/strcmd")


def test_malformed_json_is_a_400(daemon):
    expect_error(daemon, 400, "POST", "/containers/create", raw=b"{bad", contains="invalid JSON")
    expect_error(daemon, 400, "POST", "/volumes/create", raw=b"[1]", contains="JSON object")


@pytest.mark.parametrize("query", ["filters=%5B1%5D", "filters=garbage", "filters=%7B%22name%22%3A%5B%5B1%5D%5D%7D"])
@pytest.mark.parametrize("route", ["/containers/json", "/images/json", "/volumes", "/networks"])
def test_bad_filters_are_a_400_on_every_list_route(daemon, route, query):
    expect_error(daemon, 400, "GET", f"{route}?{query}", contains="invalid filters")


def test_legacy_filter_form_still_works(daemon):
    def images(filters: dict) -> list:
        status, rows = api(daemon, "GET", f"/images/json?filters={urllib.parse.quote(json.dumps(filters))}")
        assert status == 200, rows
        return rows

    assert [r["RepoTags"] for r in images({"reference": {"busybox": True}})] == [["busybox:latest"]]
    assert images({"reference": {"nosuchimage": True}}) == []


def test_bad_time_and_count_parameters_are_clear_400s(daemon):
    assert api(daemon, "POST", "/containers/create?name=params", {"Image": "busybox", "Cmd": ["true"]})[0] == 201
    try:
        expect_error(daemon, 400, "GET", "/containers/params/logs?stdout=1&since=garbage", contains="since")
        expect_error(daemon, 400, "GET", "/containers/params/logs?stdout=1&until=garbage", contains="until")
        expect_error(daemon, 400, "GET", "/containers/params/logs?stdout=1&tail=abc", contains="tail")
        expect_error(daemon, 400, "GET", "/events?since=garbage&until=1", contains="since")
        # refused before the 200 headers are sent, so the client sees a real error
        expect_error(daemon, 400, "POST", "/containers/params/wait?condition=bogus", contains="invalid condition")
    finally:
        api(daemon, "DELETE", "/containers/params?force=1")


def test_prune_with_a_garbage_until_filter_is_a_clear_400(daemon):
    filters = urllib.parse.quote(json.dumps({"until": ["garbage"]}))
    expect_error(daemon, 400, "POST", f"/containers/prune?filters={filters}", contains="until=garbage")


def test_a_negative_tail_means_every_line_as_in_docker(daemon):
    status, body = api(daemon, "POST", "/containers/create?name=tailneg",
                       {"Image": "busybox", "Cmd": ["sh", "-c", "for i in 1 2 3 4 5 6 7; do echo line$i; done"]})
    assert status == 201, body
    try:
        assert api(daemon, "POST", "/containers/tailneg/start")[0] == 204
        assert api(daemon, "POST", "/containers/tailneg/wait")[0] == 200
        result = daemon.cli("logs", "--tail", "-5", "tailneg")
        assert result.stdout.decode().split() == [f"line{i}" for i in range(1, 8)], result.stderr.decode()
    finally:
        api(daemon, "DELETE", "/containers/tailneg?force=1")


def test_corrupt_log_lines_are_skipped_not_a_500(daemon):
    status, body = api(daemon, "POST", "/containers/create?name=badlog",
                       {"Image": "busybox", "Cmd": ["sh", "-c", "echo one; echo two"]})
    assert status == 201, body
    try:
        assert api(daemon, "POST", "/containers/badlog/start")[0] == 204
        assert api(daemon, "POST", "/containers/badlog/wait")[0] == 200
        _, info = api(daemon, "GET", "/containers/badlog/json")
        with open(info["LogPath"], "rb") as f:
            lines = f.read().splitlines(True)
        damaged = [lines[0], b'{"log": 5, "stream": "stdout", "time": "x"}\n', b"[1, 2]\n", b"\xff\xfe\n",
                   b'{"log": "bad time\\n", "stream": "stdout", "time": "yesterday"}\n', *lines[1:]]
        with open(info["LogPath"], "wb") as f:
            f.write(b"".join(damaged))
        result = daemon.cli("logs", "badlog")
        assert result.returncode == 0, result.stderr.decode()
        assert result.stdout.decode().split() == ["one", "two"]
        assert daemon.cli("logs", "--since", "1", "badlog").stdout.decode().split() == ["one", "two"]
    finally:
        api(daemon, "DELETE", "/containers/badlog?force=1")


def test_exec_update_network_and_volume_bodies_are_type_checked(daemon):
    assert api(daemon, "POST", "/containers/create?name=bodies", {"Image": "busybox", "Cmd": ["sleep", "60"]})[0] == 201
    try:
        expect_error(daemon, 400, "POST", "/containers/bodies/exec", {"Cmd": ["ls"], "Env": "A=1"}, "Env")
        expect_error(daemon, 400, "POST", "/containers/bodies/exec", {"Cmd": ["ls"], "User": 5}, "User")
        expect_error(daemon, 400, "POST", "/containers/bodies/update", {"Memory": -7}, "Memory")
        expect_error(daemon, 400, "POST", "/containers/bodies/update", {"RestartPolicy": "x"}, "RestartPolicy")
        _, info = api(daemon, "GET", "/containers/bodies/json")
        assert info["HostConfig"].get("Memory", 0) == 0  # nothing half-applied
        expect_error(daemon, 400, "POST", "/networks/create", {"Name": 5}, "Name")
        expect_error(daemon, 400, "POST", "/networks/create", {"Name": "n1", "IPAM": "x"}, "IPAM")
        expect_error(daemon, 404, "POST", "/networks/create", {"Name": "n1", "Driver": "nosuch"}, "not found")
        expect_error(daemon, 400, "POST", "/networks/none/connect", {}, "Container")
        expect_error(daemon, 400, "POST", "/volumes/create", {"Name": "v9", "Labels": "x"}, "Labels")
        assert api(daemon, "GET", "/volumes/v9")[0] == 404
    finally:
        api(daemon, "DELETE", "/containers/bodies?force=1")


def test_a_layer_that_is_not_a_tar_is_a_400(daemon):
    junk = bytes(range(256)) * 40
    expect_error(daemon, 400, "POST", "/images/create?fromSrc=-&repo=junk", raw=junk,
                 headers={"Content-Type": "application/x-tar"}, contains="not a valid tar")


def test_long_headers_like_big_registry_tokens_are_accepted(daemon):
    status, _ = api(daemon, "GET", "/_ping", headers={"X-Registry-Auth": "a" * 20000})
    assert status == 200


def test_rm_force_racing_start_removes_the_container(daemon):
    for attempt in range(5):
        name = f"race{attempt}"
        assert api(daemon, "POST", f"/containers/create?name={name}",
                   {"Image": "busybox", "Cmd": ["sleep", "60"]})[0] == 201
        results: dict[str, int] = {}
        starter = threading.Thread(target=lambda: results.update(start=api(daemon, "POST", f"/containers/{name}/start")[0]))
        starter.start()
        status, body = api(daemon, "DELETE", f"/containers/{name}?force=1")
        starter.join()
        assert status == 204, body
        assert name not in container_names(daemon)


def test_creates_racing_for_one_name_make_one_container_and_409s(daemon):
    statuses: list[int] = []
    racers = [threading.Thread(target=lambda: statuses.append(api(daemon, "POST", "/containers/create?name=samename",
                                                                  {"Image": "busybox", "Cmd": ["true"]})[0]))
              for _ in range(6)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    try:
        assert sorted(statuses) == [201, 409, 409, 409, 409, 409]
        _, rows = api(daemon, "GET", "/containers/json?all=1")
        assert [row["Names"] for row in rows].count(["/samename"]) == 1
    finally:
        api(daemon, "DELETE", "/containers/samename?force=1")


def test_corrupt_state_files_are_reported_at_restart_and_nothing_is_deleted(make_daemon, busybox_path):
    d = make_daemon(args=["-s", "vfs"]).start()
    assert d.cli("image", "bootstrap", "busybox").returncode == 0, d.log()
    assert d.cli("create", "--name", "victim", "busybox", "true").returncode == 0
    assert d.cli("create", "--name", "fine", "busybox", "true").returncode == 0
    assert d.cli("volume", "create", "broken").returncode == 0
    assert d.cli("volume", "create", "okvol").returncode == 0
    assert d.cli("create", "--name", "badargs", "busybox", "echo", "x").returncode == 0
    victim = d.cli("inspect", "-f", "{{.Id}}", "victim").stdout.decode().strip()
    badargs = d.cli("inspect", "-f", "{{.Id}}", "badargs").stdout.decode().strip()
    d.stop()
    # valid JSON with a wrong type inside (an older berth stored such bodies): it would break `ps` for all
    badargs_record = os.path.join(d.data_root, "containers", badargs, "config.json")
    with open(badargs_record) as f:
        data = json.load(f)
    data["args"] = [1]
    with open(badargs_record, "w") as f:
        json.dump(data, f)

    record = os.path.join(d.data_root, "containers", victim, "config.json")
    with open(record, "w") as f:
        f.write('{"id": "trunc')
    with open(os.path.join(d.data_root, "volumes", "broken", "meta.json"), "w") as f:
        f.write("garbage")
    networks = os.path.join(d.data_root, "network", "networks.json")
    with open(networks, "w") as f:
        f.write('[{"id": "x"}, 5')

    d.start()
    assert os.path.exists(record)  # kept for repair, not deleted as "half-created"
    assert [n for n in os.listdir(os.path.dirname(networks)) if n.startswith("networks.json.corrupt-")]
    _, info = api(d, "GET", "/info")
    warnings = "\n".join(info["Warnings"])
    assert victim[:12] in warnings and badargs[:12] in warnings and "networks.json" in warnings, warnings
    assert container_names(d) == {"fine"}
    assert d.cli("ps", "-a").returncode == 0
    ls = d.cli("volume", "ls", "-q")
    assert ls.returncode == 0 and ls.stdout.decode().split() == ["okvol"], ls.stderr.decode()
    message = expect_error(d, 500, "GET", "/volumes/broken", contains="corrupt")
    assert "Traceback" not in message
    assert d.cli("volume", "rm", "broken").returncode == 0  # the way out for a damaged volume
    assert d.cli("run", "--rm", "busybox", "true").returncode == 0
    d.cli("rm", "-f", "fine")


def test_an_ambiguous_id_prefix_is_a_400_naming_the_prefix(daemon):
    ids = []
    while True:  # two containers whose ids share a first hex digit
        status, body = api(daemon, "POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"]})
        assert status == 201, body
        ids.append(body["Id"])
        firsts = [i[0] for i in ids]
        shared = next((ch for ch in firsts if firsts.count(ch) > 1), None)
        if shared:
            break
    try:
        expect_error(daemon, 400, "GET", f"/containers/{shared}/json", contains="multiple IDs found")
    finally:
        for cid in ids:
            api(daemon, "DELETE", f"/containers/{cid}?force=1")
