"""fastjson's encoders write exactly what json.dumps writes."""

import json

import pytest

from berth.cli import fastjson

VALUES = [
    {}, [], "", "é\u2028\x00\"\\", 0, -1, 10**20, 1.5, -0.0, 1e300, float("inf"), float("-inf"), True, False, None,
    {"a": [1, 2.25, {"b": None, "c": [], "d": {}}], "é": "ü", "x": [[[]]], "t": True},
    [{"Id": "abc", "Config": {"Env": ["A=1"], "Labels": {}}, "State": {"Pid": 42, "Running": False}}],
]


@pytest.mark.parametrize("value", VALUES)
def test_dumps_matches_json(value):
    assert fastjson.dumps(value) == json.dumps(value)


@pytest.mark.parametrize("value", VALUES)
def test_dumps_indented_matches_json(value):
    assert fastjson.dumps_indented(value, indent=4) == json.dumps(value, indent=4)


@pytest.mark.parametrize("value", [(1, 2), {1: "int key"}, {"s": {1, 2}}, {"f": float("nan")}])
def test_other_types_and_errors_come_from_json(value):
    try:
        expected = json.dumps(value, indent=4)
    except TypeError as exc:
        with pytest.raises(TypeError, match=str(exc)):
            fastjson.dumps_indented(value)
        with pytest.raises(TypeError):
            fastjson.dumps(value)
        return
    assert fastjson.dumps_indented(value) == expected
    assert fastjson.dumps(value) == json.dumps(value)
