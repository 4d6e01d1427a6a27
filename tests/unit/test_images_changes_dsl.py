"""Dockerfile instructions for import -c / commit -c."""

import pytest

from berth.errors import InvalidArgument
from berth.images.changes_dsl import apply_changes


def test_cmd_and_entrypoint_take_json_and_shell_forms():
    out = apply_changes({}, ['CMD ["echo", "hi"]', "ENTRYPOINT top -b"])
    assert out["Cmd"] == ["echo", "hi"]
    assert out["Entrypoint"] == ["/bin/sh", "-c", "top -b"]


def test_env_replaces_existing_keys_and_keeps_others():
    out = apply_changes({"Env": ["PATH=/bin", "A=1"]}, ['ENV A=2 B="two words"', "ENV C legacy form"])
    assert out["Env"] == ["PATH=/bin", "A=2", "B=two words", "C=legacy form"]


def test_label_expose_volume_user_workdir_stopsignal():
    out = apply_changes({"WorkingDir": "/app"}, ["LABEL a=b", "EXPOSE 80 53/udp", 'VOLUME ["/data"]', "USER 1000:1000",
                                                 "WORKDIR sub", "STOPSIGNAL SIGINT"])
    assert out["Labels"] == {"a": "b"}
    assert out["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert out["Volumes"] == {"/data": {}}
    assert (out["User"], out["WorkingDir"], out["StopSignal"]) == ("1000:1000", "/app/sub", "SIGINT")


def test_the_input_config_is_not_modified():
    original = {"Env": ["A=1"]}
    apply_changes(original, ["ENV A=2"])
    assert original == {"Env": ["A=1"]}


@pytest.mark.parametrize("line", ["RUN echo no", "FROM busybox", "EXPOSE http", "USER", "ENV =x"])
def test_unsupported_or_malformed_instructions_are_refused(line):
    with pytest.raises(InvalidArgument):
        apply_changes({}, [line])
