"""Managed plugins (``/plugins``): installed, inspected, configured and removed as in dockerd; never run."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from tests.e2e.test_api_wire import http

docker = pytest.importorskip("docker")

PLUGIN_CONFIG = {
    "description": "a volume plugin for the tests", "documentation": "https://example.invalid/doc",
    "entrypoint": ["/plugin"], "network": {"type": "host"},
    "interface": {"types": ["docker.volumedriver/1.0"], "socket": "plugin.sock"},
    "env": [{"name": "DEBUG", "settable": ["value"], "value": "0"}, {"name": "FIXED", "value": "1"}],
}


@pytest.fixture
def plugin_dir(tmp_path):
    (tmp_path / "rootfs" / "bin").mkdir(parents=True)
    (tmp_path / "rootfs" / "bin" / "file.txt").write_text("content")
    (tmp_path / "config.json").write_text(json.dumps(PLUGIN_CONFIG))
    return str(tmp_path)


@pytest.fixture
def api(sdk, plugin_dir):
    """docker-py's low-level client with the test plugin ``tests/vol`` installed (removed afterwards)."""
    sdk.api.create_plugin("tests/vol", plugin_dir)
    yield sdk.api
    for plugin in sdk.api.plugins():
        sdk.api.remove_plugin(plugin["Name"], force=True)


def test_an_installed_plugin_is_shown_as_dockerd_shows_it(api):
    plugin = api.inspect_plugin("tests/vol")
    assert (plugin["Name"], plugin["PluginReference"], plugin["Enabled"]) == ("tests/vol:latest",) * 2 + (False,)
    assert plugin["Config"]["Entrypoint"] == ["/plugin"]
    assert plugin["Config"]["Interface"] == {"Types": ["docker.volumedriver/1.0"], "Socket": "plugin.sock"}
    assert plugin["Config"]["Env"][0] == {"Description": "", "Name": "DEBUG", "Settable": ["value"], "Value": "0"}
    assert plugin["Settings"] == {"Args": [], "Devices": [], "Env": ["DEBUG=0", "FIXED=1"], "Mounts": []}
    assert api.inspect_plugin(plugin["Id"][:12])["Name"] == "tests/vol:latest"


def test_plugins_are_listed_and_filtered(api, daemon):
    assert [p["Name"] for p in api.plugins()] == ["tests/vol:latest"]
    for filters, count in (({"capability": ["volumedriver"]}, 1), ({"capability": ["networkdriver"]}, 0),
                           ({"enable": ["false"]}, 1), ({"enable": ["true"]}, 0)):
        _, _, body = http(daemon, "GET", "/v1.45/plugins?filters=" + urllib.parse.quote(json.dumps(filters)))
        assert len(json.loads(body)) == count, filters


def test_settable_environment_is_configured(api):
    api.configure_plugin("tests/vol", {"DEBUG": "1"})
    assert api.inspect_plugin("tests/vol")["Settings"]["Env"] == ["DEBUG=1", "FIXED=1"]


@pytest.mark.parametrize("setting, message", [
    ({"NOPE": "1"}, 'setting "NOPE" not found in the plugin configuration'),
    ({"FIXED": "2"}, 'setting "FIXED" is not settable'),
])
def test_unknown_or_fixed_settings_are_refused(api, setting, message):
    with pytest.raises(docker.errors.APIError) as refused:
        api.configure_plugin("tests/vol", setting)
    assert (refused.value.status_code, refused.value.explanation) == (400, message)


def test_a_second_plugin_of_the_same_name_is_a_conflict(api, plugin_dir):
    with pytest.raises(docker.errors.APIError) as refused:
        api.create_plugin("tests/vol:latest", plugin_dir)
    assert (refused.value.status_code, refused.value.explanation) == (409, "plugin tests/vol:latest already exists")


def test_enabling_is_refused_because_berth_cannot_run_plugins(api):
    with pytest.raises(docker.errors.APIError) as refused:
        api.enable_plugin("tests/vol")
    assert refused.value.status_code == 501 and "cannot run managed plugins" in refused.value.explanation
    with pytest.raises(docker.errors.APIError) as disabled:
        api.disable_plugin("tests/vol")
    assert disabled.value.status_code == 409


def test_a_removed_plugin_is_gone(api):
    assert api.remove_plugin("tests/vol") is True
    with pytest.raises(docker.errors.NotFound) as missing:
        api.inspect_plugin("tests/vol")
    assert missing.value.explanation == 'plugin "tests/vol" not found'


def test_a_context_without_config_is_a_400(sdk, tmp_path):
    (tmp_path / "rootfs").mkdir()
    with pytest.raises(docker.errors.APIError) as refused:
        sdk.api.create_plugin("tests/broken", str(tmp_path))
    assert refused.value.status_code == 400 and "config.json" in refused.value.explanation


def test_privileges_need_a_remote(daemon):
    status, _, body = http(daemon, "GET", "/v1.45/plugins/privileges")
    assert (status, json.loads(body)) == (400, {"message": "invalid reference format"})


def test_privileges_of_an_unreachable_plugin_are_none_as_in_dockerd(daemon):
    status, _, body = http(daemon, "GET", "/v1.45/plugins/privileges?remote=127.0.0.1:1/nothing/here:latest")
    assert (status, json.loads(body)) == (200, [])
