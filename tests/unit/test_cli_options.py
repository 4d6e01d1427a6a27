"""The declarative options of fast verbs: the tiny parser agrees with argparse or steps aside."""

import argparse

import pytest

from berth.cli import options
from berth.cli.images import IMAGES_OPTIONS
from berth.cli.runopts import CONTAINER_OPTIONS, RUN_OPTIONS
from berth.cli.system import INSPECT_OPTIONS


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


# -- run/create: the remainder, floats, choices, -h as a value flag ------------------------------------

def run_parser(table):
    parser = argparse.ArgumentParser(prog="t", add_help=False)  # run's -h is --hostname
    options.add(parser, table)
    return parser


@pytest.mark.parametrize("argv", [
    ["busybox"], ["busybox", "true"], ["--rm", "busybox", "sh", "-c", "echo -x", "--rm", "-it"],
    ["-dit", "--name", "x", "busybox", "sh"], ["-it", "busybox"], ["-h", "myhost", "busybox", "hostname"],
    ["--entrypoint", "", "busybox", "echo"], ["--entrypoint=", "busybox"], ["-e", "NAME", "-e", "A=1", "busybox"],
    ["--cpus", "1.5", "-c", "512", "--cpus=2", "busybox"], ["--cpus", "1.", "busybox"], ["--cpus", ".5", "busybox"],
    ["-p", "80:80", "-v", "/a:/b", "--mount", "type=tmpfs,target=/x", "--tmpfs", "/run", "busybox"],
    ["--pull", "never", "--restart=on-failure:3", "--detach-keys", "ctrl-a", "busybox"],
    ["--net", "none", "--network-alias", "a", "--dns-opt", "x", "busybox"]
])
def test_run_fast_parse_agrees_with_argparse(argv):
    fast = options.fast_parse(RUN_OPTIONS, argv)
    assert fast is not None, argv
    assert vars(fast) == vars(run_parser(RUN_OPTIONS).parse_args(argv))


@pytest.mark.parametrize("argv", [
    [], ["--rm"], ["--help"], ["--help=x", "busybox"], ["-h"], ["-x", "busybox"], ["--rm=1", "busybox"],
    ["--cpus", "1e1", "busybox"], ["--cpus", "abc", "busybox"], ["--cpus", "²", "busybox"], ["--cpus", ".", "busybox"],
    ["-c", "٣", "busybox"], ["-c", "3_0", "busybox"], ["--pids-limit", "-1", "busybox"], ["--pull", "sometimes", "x"],
    ["-e=X", "busybox"], ["-eX=1", "busybox"], ["-dp", "80", "busybox"], ["-e", "-x", "busybox"],
    ["--", "busybox"], ["busybox", "--", "echo"], ["busybox", "echo", "--", "x"], ["-", "busybox"], ["", "busybox"],
])
def test_run_unusual_input_is_left_to_argparse(argv):
    assert options.fast_parse(RUN_OPTIONS, argv) is None


def test_remainder_takes_every_word_after_the_image():
    opts = options.fast_parse(CONTAINER_OPTIONS, ["-i", "busybox", "-i", "--name", "x", "-h"])
    assert (opts.image, opts.command, opts.interactive, opts.name, opts.hostname) == \
        ("busybox", ["-i", "--name", "x", "-h"], True, None, None)
    assert options.fast_parse(CONTAINER_OPTIONS, ["busybox"]).command == []


def test_a_leading_remainder_starts_at_the_first_positional_word():
    table = ((("-v",), "flag", "verbose", False, "v"), ((), "remainder", "command", (), "cmd"))
    assert vars(options.fast_parse(table, ["-v", "ls", "-v", "x"])) == {"verbose": True, "command": ["ls", "-v", "x"]}
    assert vars(options.fast_parse(table, ["-v"])) == {"verbose": True, "command": []}
    parser = argparse.ArgumentParser(prog="t")
    options.add(parser, table)
    for argv in (["-v", "ls", "-v", "x"], ["-v"]):
        assert vars(parser.parse_args(argv)) == vars(options.fast_parse(table, argv))


def test_float_kind_converts_like_argparse():
    table = ((("--cpus",), "float", "cpus", None, "cpus"),)
    assert options.fast_parse(table, ["--cpus", "0.25"]).cpus == 0.25
    assert options.fast_parse(table, ["--cpus", "-1"]) is None
    with pytest.raises(SystemExit):
        run_parser(table).parse_args(["--cpus", "x"])


def test_help_kind_is_argparse_help_and_defers():
    table = ((("--help",), "help", "help", None, "show help"), (("-h", "--hostname"), "str", "hostname", None, "h"))
    assert options.fast_parse(table, ["--help"]) is None
    assert vars(options.fast_parse(table, ["-h", "x"])) == {"hostname": "x"}
    with pytest.raises(SystemExit) as exc:
        run_parser(table).parse_args(["--help"])
    assert exc.value.code == 0


@pytest.mark.parametrize("argv", [["x"], ["-s", "a", "b"], ["--type", "image", "-f", "{{.Id}}", "a"],
                                  ["--type=volume", "v"]])
def test_inspect_fast_parse_agrees_with_argparse(argv):
    parser = argparse.ArgumentParser(prog="t")
    options.add(parser, INSPECT_OPTIONS)
    assert vars(options.fast_parse(INSPECT_OPTIONS, argv)) == vars(parser.parse_args(argv))


@pytest.mark.parametrize("argv", [[], ["--type", "bogus", "x"], ["-sf", "{{.Id}}", "x"], ["-h"]])
def test_inspect_unusual_input_is_left_to_argparse(argv):
    assert options.fast_parse(INSPECT_OPTIONS, argv) is None


def test_choices_and_metavar_reach_argparse():
    parser = argparse.ArgumentParser(prog="t")
    options.add(parser, INSPECT_OPTIONS)
    text = parser.format_help()
    assert "NAME|ID" in text and "{container,image,network,volume}" in text
