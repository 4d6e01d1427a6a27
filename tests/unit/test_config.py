"""Settings precedence: flag > environment > config file > default."""

import json

import pytest

from berth import config
from berth.errors import ConfigError


@pytest.fixture
def daemon_json(tmp_path):
    def write(data):
        path = tmp_path / "daemon.json"
        path.write_text(json.dumps(data))
        return str(path)

    return write


def test_defaults_apply_when_nothing_is_set(daemon_json):
    cfg = config.resolve({}, {}, daemon_json({}))
    assert cfg.data_root == "/var/lib/berth" and cfg.source("data_root") == "default"
    assert cfg.storage_driver is None  # None means auto-detect


def test_flag_beats_environment_beats_file(daemon_json):
    path = daemon_json({"storage-driver": "fromfile"})
    assert config.resolve({}, {}, path).storage_driver == "fromfile"
    assert config.resolve({}, {"BERTH_STORAGE_DRIVER": "fromenv"}, path).storage_driver == "fromenv"
    cfg = config.resolve({"storage_driver": "fromflag"}, {"BERTH_STORAGE_DRIVER": "fromenv"}, path)
    assert cfg.storage_driver == "fromflag"
    assert cfg.source("storage_driver") == "flag --storage-driver"


def test_docker_driver_is_an_alias_that_berth_variable_overrides(daemon_json):
    path = daemon_json({})
    assert config.resolve({}, {"DOCKER_DRIVER": "vfs"}, path).storage_driver == "vfs"
    cfg = config.resolve({}, {"DOCKER_DRIVER": "vfs", "BERTH_STORAGE_DRIVER": "overlay"}, path)
    assert cfg.storage_driver == "overlay"
    assert cfg.source("storage_driver") == "env BERTH_STORAGE_DRIVER"


def test_graph_key_is_an_alias_of_data_root(daemon_json):
    assert config.resolve({}, {}, daemon_json({"graph": "/srv/old"})).data_root == "/srv/old"
    assert config.resolve({}, {}, daemon_json({"graph": "/srv/old", "data-root": "/srv/new"})).data_root == "/srv/new"


def test_exec_and_network_driver_variables(daemon_json):
    cfg = config.resolve({}, {"BERTH_EXEC_DRIVER": "oci", "BERTH_NETWORK_DRIVER": "none"}, daemon_json({}))
    assert (cfg.exec_driver, cfg.network_driver) == ("oci", "none")


def test_unknown_config_key_is_an_error_listing_known_keys(daemon_json):
    with pytest.raises(ConfigError, match="unknown keys storage_driver.*known keys:.*storage-driver"):
        config.resolve({}, {}, daemon_json({"storage_driver": "vfs"}))


def test_broken_config_file_is_an_error(tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read config file"):
        config.resolve({}, {}, str(path))


def test_explicit_missing_config_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        config.resolve({}, {}, str(tmp_path / "absent.json"))
