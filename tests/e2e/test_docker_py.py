"""docker-py (the Docker SDK for Python) against berthd: containers, images, volumes, networks."""

from __future__ import annotations

import io

import pytest

docker = pytest.importorskip("docker")


def test_ping_and_version(sdk):
    assert sdk.ping() is True
    assert sdk.version()["ApiVersion"] == "1.45"


def test_containers_run_returns_output(sdk):
    assert sdk.containers.run("busybox", ["echo", "from-sdk"], remove=True) == b"from-sdk\n"


def test_failing_run_raises_container_error_with_exit_status(sdk):
    with pytest.raises(docker.errors.ContainerError) as info:
        sdk.containers.run("busybox", ["sh", "-c", "echo oops >&2; exit 3"], remove=True)
    assert info.value.exit_status == 3


def test_container_lifecycle(sdk):
    c = sdk.containers.run("busybox", ["sh", "-c", "echo ready; sleep 60"], detach=True, name="sdkbox",
                           labels={"suite": "e2e"})
    try:
        assert c.id in [x.id for x in sdk.containers.list(filters={"label": "suite=e2e"})]
        same = sdk.containers.get("sdkbox")
        assert same.id == c.id and same.status == "running"
        code, output = c.exec_run(["sh", "-c", "echo $((2*21)); exit 4"])
        assert (code, output) == (4, b"42\n")
        assert b"ready" in c.logs()
        c.stop(timeout=1)
        c.reload()
        assert c.status == "exited"
        assert c.wait()["StatusCode"] == 137 or c.attrs["State"]["ExitCode"] in (137, 143)
    finally:
        c.remove(force=True)
    with pytest.raises(docker.errors.NotFound):
        sdk.containers.get("sdkbox")


def test_missing_image_is_image_not_found(sdk):
    with pytest.raises(docker.errors.ImageNotFound):
        sdk.images.get("no-such-image:latest")


def test_images_list_get_tag_save_load_remove(sdk):
    image = sdk.images.get("busybox")
    assert any("busybox:latest" in i.tags for i in sdk.images.list())
    assert image.tag("sdkcopy", "v1") is True
    assert "sdkcopy:v1" in sdk.images.get("sdkcopy:v1").tags
    archive = b"".join(sdk.images.get("sdkcopy:v1").save(named="sdkcopy:v1"))
    sdk.images.remove("sdkcopy:v1")
    with pytest.raises(docker.errors.ImageNotFound):
        sdk.images.get("sdkcopy:v1")
    loaded = sdk.images.load(io.BytesIO(archive))
    assert "sdkcopy:v1" in loaded[0].tags
    sdk.images.remove("sdkcopy:v1")


def test_volumes(sdk):
    vol = sdk.volumes.create("sdkvol", labels={"k": "v"})
    try:
        assert sdk.volumes.get("sdkvol").attrs["Labels"] == {"k": "v"}
        assert "sdkvol" in [v.name for v in sdk.volumes.list()]
        sdk.containers.run("busybox", ["sh", "-c", "echo x > /v/f"], volumes={"sdkvol": {"bind": "/v", "mode": "rw"}},
                           remove=True)
        assert sdk.containers.run("busybox", ["cat", "/v/f"], volumes=["sdkvol:/v:ro"], remove=True) == b"x\n"
    finally:
        vol.remove()
    with pytest.raises(docker.errors.NotFound):
        sdk.volumes.get("sdkvol")


def test_networks_list_and_host_none(sdk):
    names = {n.name for n in sdk.networks.list()}
    assert {"host", "none"} <= names
    assert sdk.networks.get("none").attrs["Driver"] == "null"


def test_networks_create_and_remove_on_a_bridge_daemon(bridge_daemon):
    client = docker.DockerClient(base_url=bridge_daemon.host, version="auto", timeout=60)
    try:
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet="10.233.7.0/24")])
        net = client.networks.create("sdknet", driver="bridge", ipam=ipam)
        c = client.containers.run("busybox", ["sleep", "60"], detach=True, network="sdknet")
        try:
            net.reload()
            assert c.id in net.attrs["Containers"]
            c.reload()
            assert c.attrs["NetworkSettings"]["Networks"]["sdknet"]["IPAddress"].startswith("10.233.7.")
        finally:
            c.remove(force=True)
        net.remove()
        with pytest.raises(docker.errors.NotFound):
            client.networks.get("sdknet")
    finally:
        client.close()
