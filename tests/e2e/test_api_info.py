"""``GET /info`` has dockerd's shape, and its counts agree with the list routes."""

from __future__ import annotations

import io
import json
import os

import pytest

from tests.e2e.test_api_wire import http
from tests.peers import missing_peer

docker = pytest.importorskip("docker")

LAB_DOCKER = "/run/lab-docker.sock"


@pytest.fixture(scope="module")
def dockerd_info() -> dict:
    """The real dockerd's ``/info`` (a peer: skipped locally, a failure in CI when absent)."""
    if not os.path.exists(LAB_DOCKER):
        missing_peer(f"the real dockerd is not running: no socket at {LAB_DOCKER}", "bash .ci/peers")
    client = docker.APIClient(base_url="unix://" + LAB_DOCKER, version="auto")
    try:
        return client.info()
    finally:
        client.close()


@pytest.fixture(scope="module")
def api(sdk):
    """docker-py's low-level client (``images(all=True)``, ``build`` as a stream)."""
    return sdk.api


def test_info_has_every_field_of_dockerds_with_the_same_json_type(daemon, dockerd_info):
    _, _, body = http(daemon, "GET", "/v1.41/info")
    berth = json.loads(body)
    kinds = {name: type(value).__name__ for name, value in berth.items()}
    wanted = {name: type(value).__name__ for name, value in dockerd_info.items()}
    assert {name: kinds.get(name) for name in wanted} == wanted


def test_a_node_outside_a_swarm_is_inactive(api):
    assert api.info()["Swarm"] == {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                                   "ControlAvailable": False, "Error": "", "RemoteManagers": None}


def test_info_images_counts_what_images_all_lists(api):
    dockerfile = b"FROM busybox\nRUN echo one > /one\nRUN echo two > /two\n"
    list(api.build(fileobj=io.BytesIO(dockerfile), tag="info-count:latest", rm=True))
    try:
        listed_all = api.images(all=True)
        assert len(listed_all) > len(api.images())  # the build's intermediate images are there
        assert api.info()["Images"] == len(listed_all)
    finally:
        api.remove_image("info-count:latest")


def test_info_lists_the_insecure_loopback_registries(api):
    registry = api.info()["RegistryConfig"]
    assert "127.0.0.0/8" in registry["InsecureRegistryCIDRs"]
    assert registry["IndexConfigs"]["docker.io"]["Official"] is True


def test_info_counts_event_listeners(api):
    before = api.info()["NEventsListener"]
    events = api.events(decode=True)
    try:
        assert api.info()["NEventsListener"] == before + 1
    finally:
        events.close()


def test_version_details_say_experimental_as_a_string(api):
    engine = api.version()["Components"][0]
    assert engine["Name"] == "Engine" and engine["Details"]["Experimental"] == "false"


def test_system_df_rows_have_dockerds_fields(api):
    api.create_volume("df-volume")
    container = api.create_container("busybox", "true", host_config=api.create_host_config(binds=["df-volume:/d"]))
    try:
        usage = api.df()
        assert "ImagesInUse" not in usage
        row = next(c for c in usage["Containers"] if c["Id"] == container["Id"])
        # as dockerd: SizeRootFs is there, a zero SizeRw is left out (omitempty)
        assert row["SizeRootFs"] > 0 and row.get("SizeRw", 1) > 0
        volume = next(v for v in usage["Volumes"] if v["Name"] == "df-volume")
        assert volume["Options"] is None and "Status" not in volume
        assert volume["UsageData"] == {"Size": 0, "RefCount": 1}
    finally:
        api.remove_container(container, force=True)
        api.remove_volume("df-volume")
