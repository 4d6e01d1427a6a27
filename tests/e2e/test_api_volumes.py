"""Volume routes with Docker's filters and its prune rules (anonymous only since API 1.42)."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from tests.e2e.test_api_wire import http

docker = pytest.importorskip("docker")

ANONYMOUS = "com.docker.volume.anonymous"


@pytest.fixture
def api(daemon):
    """docker-py's low-level client at the current API version; every volume is removed afterwards."""
    client = docker.APIClient(base_url=daemon.host, version="1.45")
    yield client
    for volume in client.volumes()["Volumes"] or []:
        client.remove_volume(volume["Name"], force=True)
    client.close()


def names(volumes: dict) -> set[str]:
    return {v["Name"] for v in volumes["Volumes"] or []}


def test_a_volume_created_without_a_name_is_anonymous(api):
    anonymous = api.create_volume()
    named = api.create_volume("data")
    assert anonymous["Labels"] == {ANONYMOUS: ""}
    assert named["Labels"] is None  # docker-py sent no labels; dockerd answers null then


def test_labels_and_options_are_shown_as_sent_null_or_empty(daemon, api):
    """dockerd keeps a request's ``{}`` and a missing map apart (the docker CLI sends ``{}``); ``api``
    removes the volumes afterwards."""
    status, _, body = http(daemon, "POST", "/v1.45/volumes/create", {"Name": "sent-empty", "Labels": {},
                                                                      "DriverOpts": {}})
    assert status == 201 and (json.loads(body)["Labels"], json.loads(body)["Options"]) == ({}, {})
    status, _, body = http(daemon, "POST", "/v1.45/volumes/create", {"Name": "sent-none"})
    assert status == 201 and (json.loads(body)["Labels"], json.loads(body)["Options"]) == (None, None)
    assert "Status" not in json.loads(body)


def test_prune_removes_only_anonymous_volumes(api):
    anonymous = api.create_volume()["Name"]
    api.create_volume("kept")
    assert api.prune_volumes()["VolumesDeleted"] == [anonymous]
    assert names(api.volumes()) == {"kept"}


def test_prune_with_all_removes_named_volumes_too(api):
    api.create_volume("named")
    assert api.prune_volumes(filters={"all": "true"})["VolumesDeleted"] == ["named"]


def test_prune_for_an_api_older_than_1_42_removes_every_unused_volume(api, daemon):
    api.create_volume("named")
    old = docker.APIClient(base_url=daemon.host, version="1.41")
    try:
        assert old.prune_volumes()["VolumesDeleted"] == ["named"]
    finally:
        old.close()


def test_prune_keeps_volumes_in_use(api):
    used = api.create_volume()["Name"]
    container = api.create_container("busybox", "true", host_config=api.create_host_config(binds=[f"{used}:/data"]))
    try:
        assert api.prune_volumes()["VolumesDeleted"] == []
    finally:
        api.remove_container(container, force=True)


def test_prune_filters_by_label_and_by_missing_label(api):
    api.create_volume("keep", labels={"tier": "db"})
    api.create_volume("drop", labels={"tier": "web"})
    result = api.prune_volumes(filters={"all": "1", "label!": "tier=db"})
    assert result["VolumesDeleted"] == ["drop"]
    assert api.prune_volumes(filters={"all": "1", "label": "tier=db"})["VolumesDeleted"] == ["keep"]


def test_list_filters_name_as_a_regular_expression(api):
    for name in ("web-data", "web-logs", "db-data"):
        api.create_volume(name)
    assert names(api.volumes(filters={"name": "^web-"})) == {"web-data", "web-logs"}
    assert names(api.volumes(filters={"name": "data$"})) == {"web-data", "db-data"}


def test_list_filters_driver_label_and_dangling(api):
    api.create_volume("loose", labels={"app": "a"})
    used = api.create_volume("used", labels={"app": "b"})["Name"]
    container = api.create_container("busybox", "true", host_config=api.create_host_config(binds=[f"{used}:/d"]))
    try:
        assert names(api.volumes(filters={"dangling": "true"})) == {"loose"}
        assert names(api.volumes(filters={"dangling": "false"})) == {"used"}
        assert names(api.volumes(filters={"label": "app=b"})) == {"used"}
        assert names(api.volumes(filters={"label": "app"})) == {"loose", "used"}
        assert names(api.volumes(filters={"driver": "local"})) == {"loose", "used"}
        assert names(api.volumes(filters={"driver": "nfs"})) == set()
    finally:
        api.remove_container(container, force=True)


@pytest.mark.parametrize("method, path, filters, message", [
    ("GET", "/volumes", {"colour": ["red"]}, "invalid filter 'colour'"),
    ("POST", "/volumes/prune", {"dangling": ["true"]}, "invalid filter 'dangling'"),
    ("GET", "/volumes", {"dangling": ["maybe"]}, "invalid filter 'dangling=[maybe]'"),
    ("POST", "/volumes/prune", {"all": ["perhaps"]}, "invalid filter 'all=[perhaps]'"),
])
def test_bad_filters_are_a_400(daemon, method, path, filters, message):
    query = urllib.parse.quote(json.dumps(filters))
    status, _, body = http(daemon, method, f"/v1.45{path}?filters={query}")
    assert (status, json.loads(body)) == (400, {"message": message})
