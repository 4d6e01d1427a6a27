"""Log driver settings: dockerd's checks at create (keys) and at start (values), defaults, attributes, tags.

Every message asserted exactly here is the one the real dockerd (20.10) answers for the same LogConfig.
"""

import pytest

from berth.containers import logdrivers
from berth.containers.logdrivers import LogDefaults, LogDriverInitError, ReadLogsNotSupported
from berth.containers.model import Container
from berth.errors import InvalidArgument
from berth.humanize import from_human_size, ram_in_bytes

CREATE_REFUSALS = [
    ("bogus", {}, 'error looking up logging plugin bogus: plugin "bogus" not found'),
    ("JSON-FILE", {}, 'error looking up logging plugin JSON-FILE: plugin "JSON-FILE" not found'),
    ("gelf", {}, 'error looking up logging plugin gelf: plugin "gelf" not found'),
    ("bogus", {"mode": "x"}, "logger: logging mode not supported: x"),
    ("json-file", {"bogus": "1"}, "unknown log opt 'bogus' for json-file log driver"),
    ("local", {"bogus": "1"}, "unknown log opt 'bogus' for log driver local"),
    ("local", {"labels": "a"}, "unknown log opt 'labels' for log driver local"),
    ("local", {"tag": "x"}, "unknown log opt 'tag' for log driver local"),
    ("json-file", {"mode": "bogus"}, "logger: logging mode not supported: bogus"),
    ("json-file", {"mode": "blocking", "max-buffer-size": "1m"},
     "logger: max-buffer-size option is only supported with 'mode=non-blocking'"),
    ("json-file", {"mode": "non-blocking", "max-buffer-size": "x"},
     "error parsing option max-buffer-size: invalid size: 'x'"),
    ("json-file", {"cache-disabled": "x"}, "invalid value for option cache-disabled: x"),
    ("syslog", {"bogus": "1"}, "unknown log opt 'bogus' for syslog log driver"),
    ("syslog", {"max-size": "1k"}, "unknown log opt 'max-size' for syslog log driver"),
    ("syslog", {"syslog-address": "nope"}, "syslog-address should be in form proto://address, got nope"),
    ("syslog", {"syslog-address": "unix:///no/such"}, "stat /no/such: no such file or directory"),
    ("syslog", {"syslog-facility": "24"}, "invalid syslog facility"),
    ("syslog", {"syslog-format": "json"}, "Invalid syslog format"),
]


@pytest.mark.parametrize("driver,options,message", CREATE_REFUSALS)
def test_create_refuses_what_dockerd_refuses_with_its_message(driver, options, message):
    with pytest.raises(InvalidArgument) as exc:
        LogDefaults().settle({"Type": driver, "Config": options})
    assert exc.value.message == message and exc.value.status == 400


@pytest.mark.parametrize("driver,options", [
    ("json-file", {"max-size": "abc", "labels": "a", "env": "b", "env-regex": "c", "labels-regex": "d", "tag": "x",
                   "mode": "non-blocking", "max-buffer-size": "1m", "cache-max-size": "zz"}),
    ("local", {"max-size": "abc", "max-file": "x", "compress": "maybe"}),
    ("none", {"bogus": "x", "mode": "zz"}),  # none takes anything, as in dockerd
])
def test_create_accepts_what_dockerd_accepts(driver, options):
    assert LogDefaults().settle({"Type": driver, "Config": options}) == {"Type": driver, "Config": options}


def test_an_empty_type_takes_the_daemon_default_and_its_options():
    defaults = LogDefaults("local", {"max-size": "5m"})
    assert defaults.settle(None) == {"Type": "local", "Config": {"max-size": "5m"}}
    assert defaults.settle({"Type": "", "Config": {}}) == {"Type": "local", "Config": {"max-size": "5m"}}
    assert defaults.settle({"Type": "local", "Config": {"max-size": "1m"}}) == {"Type": "local",
                                                                                "Config": {"max-size": "1m"}}
    assert defaults.settle({"Type": "json-file"}) == {"Type": "json-file", "Config": {}}  # another driver's options


def test_the_default_is_json_file():
    assert LogDefaults().settle({}) == {"Type": "json-file", "Config": {}}


def test_daemon_defaults_are_checked_like_a_containers():
    with pytest.raises(InvalidArgument, match="unknown log opt 'labels' for log driver local"):
        LogDefaults.from_config("local", {"labels": "x"})
    assert LogDefaults.from_config("", {}).driver == "json-file"


def test_a_non_string_option_is_a_400():
    with pytest.raises(InvalidArgument):
        LogDefaults().settle({"Type": "json-file", "Config": {"max-size": 1}})


def container(driver="json-file", options=None, labels=None, env=None, cid="c" * 64):
    return Container(id=cid, name="web", created="2026-12-06T21:50:22.890912231Z", image_id="sha256:" + "ab" * 32,
                     config={"Image": "busybox", "Env": env or [], "Labels": labels or {}},
                     host_config={"LogConfig": {"Type": driver, "Config": options or {}}},
                     path="sh", args=["-c", "echo hi"], labels=labels or {})


START_REFUSALS = [
    ("json-file", {"max-size": "abc"}, "invalid size: 'abc'"),
    ("json-file", {"max-size": "-1"}, "invalid size: '-1'"),
    ("json-file", {"max-size": "0"}, "max-size must be a positive number"),
    ("json-file", {"max-size": "1.2.3"}, 'strconv.ParseFloat: parsing "1.2.3": invalid syntax'),
    ("json-file", {"max-size": ""}, "invalid size: ''"),
    ("json-file", {"max-size": "1k", "max-file": "0"}, "max-file cannot be less than 1"),
    ("json-file", {"max-size": "1k", "max-file": "x"}, 'strconv.Atoi: parsing "x": invalid syntax'),
    ("json-file", {"compress": "maybe"}, 'strconv.ParseBool: parsing "maybe": invalid syntax'),
    ("json-file", {"compress": "true"},
     "compress cannot be true when max-file is less than 2 or max-size is not set"),
    ("json-file", {"max-size": "1k", "max-file": "1", "compress": "1"},
     "compress cannot be true when max-file is less than 2 or max-size is not set"),
    ("local", {"max-size": "abc"}, "invalid value for max-size: abc: invalid size: 'abc'"),
    ("local", {"max-file": "x"}, 'invalid value for max-file: x: strconv.Atoi: parsing "x": invalid syntax'),
    ("local", {"max-file": "0"}, "compression cannot be enabled when max file count is 1"),
    ("local", {"max-file": "1"}, "compression cannot be enabled when max file count is 1"),
    ("local", {"max-file": "-1", "compress": "false"}, "max file count cannot be less than 0"),
    ("local", {"compress": "x"}, 'error reading compress log option: strconv.ParseBool: parsing "x": invalid syntax'),
    ("json-file", {"tag": "{{.Nope}}"},
     'template: log-tag:1:2: executing "log-tag" at <.Nope>: can\'t evaluate field Nope in type *logger.Info'),
]


@pytest.mark.parametrize("driver,options,reason", START_REFUSALS)
def test_start_refuses_a_bad_value_with_dockerds_message(tmp_path, driver, options, reason):
    with pytest.raises(LogDriverInitError) as exc:
        logdrivers.io_settings(container(driver, options), str(tmp_path))
    assert exc.value.message == f"failed to initialize logging driver: {reason}"
    assert exc.value.status == 400  # dockerd says 500; berth's rule: the user's input is a 4xx


def test_json_file_without_options_logs_without_limits(tmp_path):
    io = logdrivers.io_settings(container(), str(tmp_path))
    assert io == {"log_path": str(tmp_path / f"{'c' * 64}-json.log"), "log_driver": "json-file",
                  "log_max_size": -1, "log_max_files": 1, "log_compress": False, "log_attrs": {}}


def test_json_file_sizes_are_decimal_as_in_docker(tmp_path):
    io = logdrivers.io_settings(container(options={"max-size": "10m", "max-file": "3", "compress": "true"}),
                                str(tmp_path))
    assert (io["log_max_size"], io["log_max_files"], io["log_compress"]) == (10_000_000, 3, True)


def test_local_defaults_are_dockers(tmp_path):
    io = logdrivers.io_settings(container("local"), str(tmp_path))
    assert io["log_path"] == str(tmp_path / "local-logs" / "container.log")
    assert (tmp_path / "local-logs").is_dir()
    assert (io["log_driver"], io["log_max_size"], io["log_max_files"], io["log_compress"]) == \
        ("local", 20 * 1024 * 1024, 5, True)


def test_none_logs_nothing_and_cannot_be_read(tmp_path):
    assert logdrivers.io_settings(container("none"), str(tmp_path)) == {"log_path": None}
    with pytest.raises(ReadLogsNotSupported) as exc:
        logdrivers.source(container("none").host_config, str(tmp_path), "c" * 64)
    assert (exc.value.status, exc.value.message) == (501, "configured logging driver does not support reading")


def test_non_blocking_mode_gets_a_buffer(tmp_path):
    io = logdrivers.io_settings(container(options={"mode": "non-blocking"}), str(tmp_path))
    assert io["log_max_buffer"] == 1_000_000
    io = logdrivers.io_settings(container(options={"mode": "non-blocking", "max-buffer-size": "4k"}), str(tmp_path))
    assert io["log_max_buffer"] == 4096


def test_labels_and_env_become_attributes(tmp_path):
    c = container(options={"labels": "app,missing", "env": "FOO", "env-regex": "^X_", "labels-regex": "^tier"},
                  labels={"app": "web", "tier": "front", "other": "1"}, env=["FOO=bar", "X_A=1", "Y=2"])
    attrs = logdrivers.io_settings(c, str(tmp_path))["log_attrs"]
    assert attrs == {"app": "web", "tier": "front", "FOO": "bar", "X_A": "1"}


def test_a_tag_template_sees_dockers_fields(tmp_path):
    c = container(options={"tag": "{{.Name}}/{{.ImageName}}/{{.ID}}|{{.ImageID}}|{{.Command}}|{{.DaemonName}}|"
                                  "{{.ContainerCreated}}"})
    tag = logdrivers.io_settings(c, str(tmp_path))["log_attrs"]["tag"]
    assert tag == (f"web/busybox/{'c' * 12}|{'ab' * 6}|sh -c echo hi|docker|"
                   "2026-12-06 21:50:22.890912231 +0000 UTC")


def test_a_bad_regexp_fails_the_start(tmp_path):
    with pytest.raises(LogDriverInitError, match=r"failed to initialize logging driver: error parsing regexp: .*`\(`"):
        logdrivers.io_settings(container(options={"labels-regex": "("}), str(tmp_path))


def test_log_path_is_shown_once_the_json_file_exists(tmp_path):
    c = container()
    assert logdrivers.inspect_log_path(c.host_config, str(tmp_path), c.id) == ""
    path = tmp_path / f"{c.id}-json.log"
    path.write_bytes(b"")
    assert logdrivers.inspect_log_path(c.host_config, str(tmp_path), c.id) == str(path)
    assert logdrivers.inspect_log_path(container("local").host_config, str(tmp_path), c.id) == ""


def test_records_from_before_log_drivers_read_as_json_file(tmp_path):
    source = logdrivers.source({}, str(tmp_path), "c" * 64)
    assert (source.driver, source.path, source.max_files) == ("json-file", str(tmp_path / f"{'c' * 64}-json.log"), 1)


@pytest.mark.parametrize("text,decimal,binary", [
    ("10", 10, 10), ("1k", 1000, 1024), ("1kb", 1000, 1024), ("1KiB", 1000, 1024), ("1.5m", 1_500_000, 1_572_864),
    ("2 g", 2_000_000_000, 2 * 1024**3), ("3B", 3, 3),
])
def test_go_units_sizes(text, decimal, binary):
    assert from_human_size(text) == decimal and ram_in_bytes(text) == binary


@pytest.mark.parametrize("text", ["abc", "-1", "1x", "", " 1k", "1kk"])
def test_go_units_refuses_what_go_refuses(text):
    with pytest.raises(ValueError, match=f"invalid size: '{text}'"):
        from_human_size(text)


def test_the_daemons_cache_options_reach_every_driver():
    defaults = LogDefaults("json-file", {"max-size": "5m", "cache-disabled": "true"})
    settled = defaults.settle({"Type": "syslog", "Config": {"syslog-address": "udp://127.0.0.1:5514"}})
    assert settled["Config"] == {"syslog-address": "udp://127.0.0.1:5514", "cache-disabled": "true"}


def test_syslog_keeps_a_local_cache_with_its_options(tmp_path):
    options = {"syslog-address": "udp://127.0.0.1:5514", "syslog-facility": "local3", "cache-max-size": "1m",
               "cache-max-file": "2", "cache-compress": "false"}
    c = container("syslog", options)
    io = logdrivers.io_settings(c, str(tmp_path))
    assert (io["log_path"], io["log_driver"]) == (str(tmp_path / "container-cached.log"), "local")
    assert (io["log_max_size"], io["log_max_files"], io["log_compress"]) == (1_000_000, 2, False)
    assert {k: io["log_syslog"][k] for k in ("network", "address", "facility", "format", "tag")} == \
        {"network": "udp", "address": "127.0.0.1:5514", "facility": 19, "format": "", "tag": "c" * 12}
    source = logdrivers.source(c.host_config, str(tmp_path), c.id)
    assert (source.path, source.driver, source.max_files) == (io["log_path"], "local", 2)


def test_syslog_without_its_cache_cannot_be_read(tmp_path):
    c = container("syslog", {"syslog-address": "udp://127.0.0.1:5514", "cache-disabled": "true"})
    assert logdrivers.io_settings(c, str(tmp_path))["log_path"] is None
    with pytest.raises(ReadLogsNotSupported):
        logdrivers.source(c.host_config, str(tmp_path), c.id)


@pytest.mark.parametrize("options,reason", [
    ({"syslog-address": "tcp://127.0.0.1:1"}, "dial tcp 127.0.0.1:1: connect: connection refused"),
    ({"syslog-address": "udp://127.0.0.1:5514", "cache-max-size": "abc"},
     "error setting up local container log cache: error initializing local log cache driver: "
     "invalid value for max-size: abc: invalid size: 'abc'"),
])
def test_syslog_start_failures(tmp_path, options, reason):
    with pytest.raises(LogDriverInitError) as exc:
        logdrivers.io_settings(container("syslog", options), str(tmp_path))
    assert exc.value.message == f"failed to initialize logging driver: {reason}"
