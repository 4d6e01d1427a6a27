"""HostConfig fields through the Engine API itself (what clients other than the docker CLI send):
warnings, dockerd's defaults in inspect, and refusals, on berthd and on the real dockerd alike."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import pytest

from tests.e2e.test_api_wire import http
from tests.peers import missing_peer

LAB_DOCKER = SimpleNamespace(socket="/run/lab-docker.sock")
KMEM_DEPRECATED = "Specifying a kernel memory limit is deprecated and will be removed in a future release."


@pytest.fixture(scope="module")
def dockerd():
    try:
        status, _, _ = http(LAB_DOCKER, "GET", "/_ping")
    except OSError as exc:
        missing_peer(f"the real dockerd at {LAB_DOCKER.socket} does not answer: {exc}", "start it with bash .ci/peers")
    assert status == 200
    return LAB_DOCKER


@pytest.fixture(params=["berthd", "dockerd"])
def engine(request, daemon):
    """Each test runs against berthd and against the real dockerd."""
    return daemon if request.param == "berthd" else request.getfixturevalue("dockerd")


class Created:
    """Containers a test made on ``engine``, removed afterwards."""

    def __init__(self, engine):
        self.engine, self.ids = engine, []

    def create(self, host_config: dict, cmd=("true",)) -> tuple[int, dict]:
        body = {"Image": "busybox", "Cmd": list(cmd), "HostConfig": {"NetworkMode": "none", **host_config}}
        status, _, raw = http(self.engine, "POST", "/v1.41/containers/create", body)
        answer = json.loads(raw)
        if status == 201:
            self.ids.append(answer["Id"])
        return status, answer

    def remove_all(self) -> None:
        for cid in self.ids:
            http(self.engine, "DELETE", f"/v1.41/containers/{cid}?force=1")


@pytest.fixture
def made(engine):
    created = Created(engine)
    yield created
    created.remove_all()


def test_kernel_memory_is_accepted_with_the_deprecation_warning(made):
    status, answer = made.create({"KernelMemory": 50 << 20})
    assert status == 201 and KMEM_DEPRECATED in answer["Warnings"]


def test_inspect_shows_dockers_defaults(made, engine):
    status, answer = made.create({"Memory": 100 << 20, "PidMode": "host"})
    assert status == 201
    _, _, raw = http(engine, "GET", f"/v1.41/containers/{answer['Id']}/json")
    hc = json.loads(raw)["HostConfig"]
    cgroupns = "private" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "host"
    assert (hc["IpcMode"], hc["ShmSize"], hc["CgroupnsMode"], hc["OomKillDisable"], hc["MemorySwap"]) == \
        ("private", 64 << 20, cgroupns, False, 200 << 20)
    assert hc["SecurityOpt"] == ["label=disable"]


def test_container_modes_are_recorded_by_full_id(made, engine):
    _, donor = made.create({}, cmd=["sleep", "30"])
    status, answer = made.create({"IpcMode": f"container:{donor['Id'][:12]}"})
    assert status == 201
    _, _, raw = http(engine, "GET", f"/v1.41/containers/{answer['Id']}/json")
    assert json.loads(raw)["HostConfig"]["IpcMode"] == f"container:{donor['Id']}"


def test_a_sysctl_outside_the_containers_namespaces_fails_the_start(made, engine):
    status, answer = made.create({"Sysctls": {"vm.swappiness": "1"}})
    assert status == 201  # dockerd (runc) checks it at start
    status, _, raw = http(engine, "POST", f"/v1.41/containers/{answer['Id']}/start")
    assert status in (400, 500)  # berth: bad input is a 4xx; dockerd passes runc's refusal on as a 500
    assert 'sysctl "vm.swappiness" is not in a separate kernel namespace' in json.loads(raw)["message"]


def test_a_volume_driver_other_than_local_is_not_found(made):
    status, answer = made.create({"VolumeDriver": "flocker", "Binds": ["hcapi-vol:/data"]})
    assert status == 404
    assert answer["message"] == 'create hcapi-vol: error looking up volume plugin flocker: plugin "flocker" not found'


def test_maximum_iops_is_refused(made):
    status, answer = made.create({"IOMaximumIOps": 5})
    assert status in (400, 500)  # dockerd answers 500; berth's bad input is a 400
    assert answer["message"] == "Invalid QoS settings: linux does not support configuration of maximum IOPs"


def test_update_answers_with_the_warnings_of_what_it_cannot_apply(made, engine):
    _, answer = made.create({})
    status, _, raw = http(engine, "POST", f"/v1.41/containers/{answer['Id']}/update", {"KernelMemory": 50 << 20})
    assert status == 200 and KMEM_DEPRECATED in json.loads(raw)["Warnings"]


def test_info_reports_the_cgroup_limits_dockerd_reports(daemon, dockerd):
    keys = ("MemoryLimit", "SwapLimit", "KernelMemoryTCP", "CpuCfsPeriod", "CpuCfsQuota", "CPUShares", "CPUSet",
            "PidsLimit", "OomKillDisable", "CgroupVersion")
    answers = [json.loads(http(engine, "GET", "/v1.41/info")[2]) for engine in (daemon, dockerd)]
    assert [{k: a[k] for k in keys} for a in answers][0] == {k: answers[1][k] for k in keys}


def test_update_cannot_raise_memory_above_the_swap_set_at_create(made, engine):
    _, answer = made.create({"Memory": 100 << 20})  # MemorySwap defaults to 200m
    status, _, raw = http(engine, "POST", f"/v1.41/containers/{answer['Id']}/update", {"Memory": 300 << 20})
    assert status == 409
    assert json.loads(raw)["message"] == (f"Cannot update container {answer['Id']}: Memory limit should be smaller "
                                          "than already set memoryswap limit, update the memoryswap at the same time")


def test_field_names_are_matched_ignoring_case_as_gos_decoder_does(made, engine):
    # docker-py sends CPURealtimePeriod/CPURealtimeRuntime; Go's JSON decoder finds CpuRealtime*
    status, answer = made.create({"CPURealtimePeriod": 1000, "CPURealtimeRuntime": 500, "memory": 64 << 20})
    assert status == 201, answer
    _, _, raw = http(engine, "GET", f"/v1.41/containers/{answer['Id']}/json")
    hc = json.loads(raw)["HostConfig"]
    assert (hc["CpuRealtimePeriod"], hc["CpuRealtimeRuntime"], hc["Memory"]) == (1000, 500, 64 << 20)
