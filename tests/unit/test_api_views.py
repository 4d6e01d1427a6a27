"""The API views write dockerd's JSON: Go's zero values, its omitempty fields, and per-version shapes."""

from __future__ import annotations

from types import SimpleNamespace

from berth.api import gofields, views


def image(**fields):
    return SimpleNamespace(**{"id": "sha256:" + "a" * 64, "parent": "", "repo_tags": [], "repo_digests": [],
                              "size": 10, "created": "2000-01-01T00:00:00Z", "config": {"config": {}}, **fields})


def test_a_struct_has_every_field_at_its_zero_value_and_omitempty_ones_only_when_set():
    config = gofields.render(gofields.CONFIG, {"Hostname": "h", "Domainname": None, "StopSignal": "",
                                               "ExposedPorts": {}, "StopTimeout": 0, "Unknown": 1})
    assert config["Domainname"] == "" and config["OnBuild"] is None and config["AttachStdin"] is False
    assert "StopSignal" not in config and "ExposedPorts" not in config and "Unknown" not in config
    assert config["StopTimeout"] == 0  # a pointer: left out only when null


def test_host_config_fills_go_zero_values_and_completes_its_structs():
    c = SimpleNamespace(host_config={"RestartPolicy": {"Name": "always"},
                                     "PortBindings": {"80/tcp": [{"HostPort": "8080"}]}})
    hc = views.host_config(c)
    assert hc["RestartPolicy"] == {"Name": "always", "MaximumRetryCount": 0}
    assert hc["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}
    assert hc["ConsoleSize"] == [0, 0] and hc["Binds"] is None and hc["ShmSize"] == 0
    assert hc["NetworkMode"] == "default" and "Init" not in hc and "Tmpfs" not in hc


def test_untagged_images_are_none_none_for_clients_older_than_api_1_43():
    old = views.image_summary(image(), api=(1, 41))
    assert (old["RepoTags"], old["RepoDigests"]) == (["<none>:<none>"], ["<none>@<none>"])
    assert old["VirtualSize"] == 10 and old["Labels"] is None
    tagged = views.image_summary(image(repo_tags=["x:1"]), api=(1, 41))
    assert (tagged["RepoTags"], tagged["RepoDigests"]) == (["x:1"], None)


def test_no_tags_or_digests_are_empty_lists_from_api_1_43_and_virtual_size_is_gone_in_1_44():
    new = views.image_summary(image(), api=(1, 45))
    assert (new["RepoTags"], new["RepoDigests"]) == ([], []) and "VirtualSize" not in new


def test_image_inspect_leaves_out_the_fields_api_1_45_dropped():
    img = image()
    assert {"Container", "ContainerConfig", "VirtualSize"} <= set(views.image_inspect(img, [], "vfs", {}, (1, 41)))
    assert not {"Container", "ContainerConfig", "VirtualSize"} & set(views.image_inspect(img, [], "vfs", {}, (1, 45)))
    assert views.image_inspect(img, [], "vfs", {}, (1, 41))["ContainerConfig"]["Hostname"] == ""


def test_stats_of_a_stopped_container_are_dockerds_zero_sample():
    c = SimpleNamespace(id="c" * 64, name="web")
    stats = views.container_stats(c, {}, {}, "0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z")
    assert stats["blkio_stats"]["io_service_bytes_recursive"] is None
    assert stats["cpu_stats"]["cpu_usage"] == {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0}
    assert stats["memory_stats"] == {} and stats["pids_stats"] == {} and "networks" not in stats


def test_stats_of_a_running_container_list_empty_block_io_and_omit_zero_memory_figures():
    c = SimpleNamespace(id="c" * 64, name="web")
    sample = {"blkio_stats": {"io_service_bytes_recursive": [{"major": 8}]}, "memory_stats": {"usage": 5, "failcnt": 0},
              "cpu_stats": {"cpu_usage": {"total_usage": 7}, "online_cpus": 2}}
    stats = views.container_stats(c, sample, {}, "now", "before")
    assert stats["blkio_stats"]["io_merged_recursive"] == [] and stats["blkio_stats"]["io_service_bytes_recursive"]
    assert stats["memory_stats"] == {"usage": 5} and stats["cpu_stats"]["online_cpus"] == 2
    assert stats["precpu_stats"]["throttling_data"] == {"periods": 0, "throttled_periods": 0, "throttled_time": 0}
