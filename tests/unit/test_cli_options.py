"""The declarative options of fast verbs: the tiny parser agrees with argparse or steps aside."""

import argparse

import pytest

from berth.cli import options
from berth.cli.images import IMAGES_OPTIONS


def argparse_result(table, argv):
    parser = argparse.ArgumentParser(prog="t")
    options.add(parser, table)
    return vars(parser.parse_args(argv))


@pytest.mark.parametrize("argv", [[], ["-a"], ["-aq"], ["busybox"], ["--no-trunc", "busybox", "-q"],
                                  ["-f", "dangling=true", "-f", "reference=bu*"], ["--format", "{{.ID}}"]])
def test_fast_parse_agrees_with_argparse(argv):
    fast = options.fast_parse(IMAGES_OPTIONS, argv)
    assert fast is not None
    assert vars(fast) == argparse_result(IMAGES_OPTIONS, argv)


@pytest.mark.parametrize("argv", [["-h"], ["--help"], ["-x"], ["a", "b"], ["-f"], ["--all=1"]])
def test_unusual_input_is_left_to_argparse(argv):
    assert options.fast_parse(IMAGES_OPTIONS, argv) is None


def test_one_or_more_positionals():
    table = ((("-s",), "flag", "size", False, "sizes"), ((), "args+", "objects", None, "names"))
    assert vars(options.fast_parse(table, ["-s", "a", "b"])) == {"size": True, "objects": ["a", "b"]}
    assert options.fast_parse(table, ["-s"]) is None  # argparse reports the missing argument
