"""The declarative options of fast verbs: the tiny parser agrees with argparse or steps aside."""

import argparse

import pytest

from berth.cli import options
from berth.cli.argparsing import add_options
from berth.cli.images import IMAGES_OPTIONS
from berth.cli.system import INSPECT_OPTIONS


def argparse_result(table, argv):
    parser = argparse.ArgumentParser(prog="t")
    add_options(parser, table)
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
    table = ((("-s",), "bool", "size", False, "sizes"), ((), "args+", "objects", None, "names"))
    assert vars(options.fast_parse(table, ["-s", "a", "b"])) == {"size": True, "objects": ["a", "b"]}
    assert options.fast_parse(table, ["-s"]) is None  # argparse reports the missing argument


# -- the remainder, -h as a value flag ---------------------------------------------------------------------

def run_parser(table):
    parser = argparse.ArgumentParser(prog="t", add_help=False)  # run's -h is --hostname
    add_options(parser, table)
    return parser


def test_a_leading_remainder_starts_at_the_first_positional_word():
    table = ((("-v",), "bool", "verbose", False, "v"), ((), "remainder", "command", (), "cmd"))
    assert vars(options.fast_parse(table, ["-v", "ls", "-v", "x"])) == {"verbose": True, "command": ["ls", "-v", "x"]}
    assert vars(options.fast_parse(table, ["-v"])) == {"verbose": True, "command": []}
    parser = argparse.ArgumentParser(prog="t")
    add_options(parser, table)
    for argv in (["-v", "ls", "-v", "x"], ["-v"]):
        assert vars(parser.parse_args(argv)) == vars(options.fast_parse(table, argv))


def test_a_leading_zero_is_left_to_argparse_which_reads_it_as_go_octal():
    table = ((("-n", "--last"), "int", "last", -1, "n"),)
    assert options.fast_parse(table, ["-n", "010"]) is None
    assert run_parser(table).parse_args(["-n", "010"]).last == 8
    assert options.fast_parse(table, ["-n", "10"]).last == 10


def test_help_kind_is_argparse_help_and_defers():
    table = ((("--help",), "help", "help", None, "show help"), (("-h", "--hostname"), "string", "hostname", None, "h"))
    assert options.fast_parse(table, ["--help"]) is None
    assert vars(options.fast_parse(table, ["-h", "x"])) == {"hostname": "x"}
    with pytest.raises(SystemExit) as exc:
        run_parser(table).parse_args(["--help"])
    assert exc.value.code == 0


@pytest.mark.parametrize("argv", [["x"], ["-s", "a", "b"], ["--type", "image", "-f", "{{.Id}}", "a"],
                                  ["--type=volume", "v"]])
def test_inspect_fast_parse_agrees_with_argparse(argv):
    parser = argparse.ArgumentParser(prog="t")
    add_options(parser, INSPECT_OPTIONS)
    assert vars(options.fast_parse(INSPECT_OPTIONS, argv)) == vars(parser.parse_args(argv))


@pytest.mark.parametrize("argv", [[], ["--type", "bogus", "x"], ["-sf", "{{.Id}}", "x"], ["-h"]])
def test_inspect_unusual_input_is_left_to_argparse(argv):
    assert options.fast_parse(INSPECT_OPTIONS, argv) is None


def test_choices_and_metavar_reach_argparse():
    parser = argparse.ArgumentParser(prog="t")
    add_options(parser, INSPECT_OPTIONS)
    text = parser.format_help()
    assert "NAME|ID" in text and "{container,image,network,volume}" in text
