"""run/create command lines read as the docker CLI's flag parser reads them, from the one option table."""

import argparse

import pytest

from berth.cli import flaghelp, flags, flagvalues
from berth.cli.argparsing import add_options
from berth.cli.runopts import CONTAINER_OPTIONS, RUN_OPTIONS


def parse(*argv):
    return flags.parse(RUN_OPTIONS, list(argv))


def error(*argv) -> str:
    with pytest.raises(flags.FlagError) as exc:
        parse(*argv)
    return str(exc.value)


# -- the forms pflag accepts -----------------------------------------------------------------------------

def test_booleans_take_an_attached_value_only():
    assert parse("--rm=false", "busybox").rm is False
    assert parse("--sig-proxy=false", "busybox").sig_proxy is False
    assert parse("-d=0", "busybox").detach is False
    opts = parse("--rm", "false")  # "false" is the image, as for the docker CLI
    assert (opts.rm, opts.image) == (True, "false")


def test_shorthands_combine_and_the_first_valued_one_takes_the_rest_of_the_word():
    opts = parse("-dit", "-p80:80", "-e=X=1", "-dp8080:80", "busybox")
    assert (opts.detach, opts.interactive, opts.tty) == (True, True, True)
    assert opts.publish == ["80:80", "8080:80"] and opts.env == ["X=1"]


def test_a_value_may_start_with_a_dash():
    opts = parse("--entrypoint", "-x", "--pids-limit", "-1", "-w", "--rm", "busybox")
    assert (opts.entrypoint, opts.pids_limit, opts.workdir, opts.rm) == ("-x", -1, "--rm", False)


def test_the_first_word_that_is_not_a_flag_ends_the_flags():
    opts = parse("-i", "busybox", "-i", "--name", "x", "--", "-h")
    assert (opts.image, opts.command, opts.name) == ("busybox", ["-i", "--name", "x", "--", "-h"], "")
    assert parse("--", "--rm", "x").image == "--rm"
    assert parse("-", "x").image == "-"


def test_hidden_aliases_fill_the_same_option():
    opts = parse("--net", "a", "--network", "b", "--net-alias", "x", "--dns-opt", "ndots:1", "busybox")
    assert [n["Target"] for n in opts.network] == ["a", "b"]
    assert (opts.network_alias, opts.dns_option) == (["x"], ["ndots:1"])


def test_maps_and_ulimits_keep_the_last_value_of_a_key():
    opts = parse("--sysctl", "net.a=1", "--sysctl", "net.a=2", "--ulimit", "nofile=1", "--ulimit", "nofile=2:3",
                 "--annotation", "k", "busybox")
    assert opts.sysctl == {"net.a": "2"} and opts.annotation == {"k": ""}
    assert opts.ulimit == {"nofile": {"Name": "nofile", "Hard": 3, "Soft": 2}}


def test_values_are_converted_by_kind():
    opts = parse("-c", "010", "--cpus", "1.5", "-m", "1.5g", "--health-interval", "1m30s", "--blkio-weight", "0x10",
                 "--memory-swap", "-1", "busybox")
    assert (opts.cpu_shares, opts.cpus, opts.memory) == (8, 1_500_000_000, 3 << 29)
    assert (opts.health_interval, opts.blkio_weight, opts.memory_swap) == (90 * 10 ** 9, 16, -1)


def test_unset_options_keep_dockers_zero_values_and_none_where_docker_asks_whether_they_were_given():
    opts = parse("busybox")
    assert (opts.memory_swappiness, opts.restart, opts.pull, opts.sig_proxy) == (-1, "no", "missing", True)
    assert (opts.entrypoint, opts.init, opts.stop_timeout) == (None, None, None)


# -- errors, in the docker CLI's words ---------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--foo", "busybox"], "unknown flag: --foo"),
    (["-x", "busybox"], "unknown shorthand flag: 'x' in -x"),
    (["-dxz", "busybox"], "unknown shorthand flag: 'x' in -xz"),
    (["--name"], "flag needs an argument: --name"),
    (["-p"], "flag needs an argument: 'p' in -p"),
    (["---x", "busybox"], "bad flag syntax: ---x"),
    (["--rm=maybe", "busybox"], 'invalid argument "maybe" for "--rm" flag: strconv.ParseBool: parsing "maybe": '
                                "invalid syntax"),
    (["-c", "08", "busybox"], 'invalid argument "08" for "-c, --cpu-shares" flag: strconv.ParseInt: parsing "08": '
                              "invalid syntax"),
    (["--cpus", "1e-10", "busybox"], 'invalid argument "1e-10" for "--cpus" flag: value is too precise'),
    (["--health-timeout", "5", "busybox"], 'invalid argument "5" for "--health-timeout" flag: time: missing unit in '
                                           'duration "5"'),
    (["-e", "=x", "busybox"], 'invalid argument "=x" for "-e, --env" flag: invalid environment variable: =x'),
])
def test_flag_errors_carry_dockers_message(argv, message):
    assert error(*argv) == message


def test_flags_for_a_windows_daemon_are_refused_after_parsing():
    with pytest.raises(flags.UnsupportedFlags) as exc:
        parse("--io-maxiops", "3", "--cpu-count", "2", "busybox")
    assert str(exc.value).splitlines() == [
        '"--cpu-count" is only supported on a Docker daemon running on windows, but the Docker daemon is running on '
        "linux",
        '"--io-maxiops" is only supported on a Docker daemon running on windows, but the Docker daemon is running on '
        "linux"]


def test_help_is_honoured_after_the_other_flags_are_read():
    with pytest.raises(flags.HelpRequested):
        parse("--rm", "--help", "busybox")
    assert error("--help", "--nope") == "unknown flag: --nope"
    assert parse("--help=false", "busybox").image == "busybox"


# -- Go's number, size and duration syntax --------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [("10", 10), ("010", 8), ("0x1f", 31), ("0b11", 3), ("0o17", 15),
                                         ("1_000", 1000), ("-5", -5), ("+7", 7), ("0", 0)])
def test_integers_are_read_with_base_prefixes(text, value):
    assert flagvalues.parse_int(text) == value


@pytest.mark.parametrize("text", ["", "08", "0x", "_1", "1__0", "1_", "٣", " 1", "9223372036854775808"])
def test_malformed_integers_are_refused(text):
    with pytest.raises(ValueError):
        flagvalues.parse_int(text)


@pytest.mark.parametrize("text, value", [("512", 512), ("64m", 64 << 20), ("1.5GiB", 3 << 29), ("2 kb", 2048),
                                         ("1e3", 1000), ("1B", 1), (".5k", 512)])
def test_sizes_are_binary_units(text, value):
    assert flagvalues.parse_ram_bytes(text) == value


@pytest.mark.parametrize("text, message", [("-1", "invalid size: '-1'"), ("abc", "invalid size: 'abc'"),
                                           ("1kbb", "invalid suffix: 'kbb'"), ("1e", "invalid suffix: 'e'")])
def test_bad_sizes_say_why(text, message):
    with pytest.raises(ValueError, match=message):
        flagvalues.parse_ram_bytes(text)


@pytest.mark.parametrize("text, value", [("0", 0), ("300ms", 300_000_000), ("1m30s", 90 * 10 ** 9),
                                         ("1.5h", 5400 * 10 ** 9), ("-2s", -2 * 10 ** 9), ("2µs", 2000)])
def test_durations_are_gos(text, value):
    assert flagvalues.parse_duration(text) == value


@pytest.mark.parametrize("text, value", [("1.5", 1_500_000_000), ("3/4", 750_000_000), ("1e-9", 1), ("2", 2 * 10 ** 9)])
def test_cpus_are_rational(text, value):
    assert flagvalues.parse_nano_cpus(text) == value


# -- one table, two parsers: argparse (completion) agrees with the docker-style parser ----------------------

def argparse_namespace(table, argv):
    parser = argparse.ArgumentParser(prog="t", add_help=False)
    add_options(parser, table)
    return vars(parser.parse_args(argv))


@pytest.mark.parametrize("argv", [
    ["busybox"], ["busybox", "true"], ["--rm", "busybox", "sh", "-c", "echo -x"],
    ["-d", "--name", "x", "-h", "host", "busybox", "sh"], ["-e", "A=1", "--env", "B", "-l", "k=v", "busybox"],
    ["--cpus", "1.5", "-c", "512", "-m", "64m", "--memory-swap", "-1", "--pids-limit", "100", "busybox"],
    ["-p", "80:80", "-v", "/a:/b", "--mount", "type=tmpfs,target=/x", "--tmpfs", "/run", "busybox"],
    ["--network", "name=n,alias=a", "--network-alias", "b", "--gpus", "all", "busybox"],
    ["--sysctl", "net.a=1", "--ulimit", "nofile=5:6", "--annotation", "a=b", "busybox"],
    ["--health-interval", "5s", "--health-retries", "3", "--restart", "on-failure:3", "busybox"],
    ["--entrypoint", "", "--init", "--stop-timeout", "3", "busybox"],
])
def test_argparse_built_from_the_table_reads_plain_forms_alike(argv):
    ours = vars(flags.parse(RUN_OPTIONS, argv))
    del ours["help"]
    assert ours == argparse_namespace(RUN_OPTIONS, argv)


# -- --help lists what docker's does ---------------------------------------------------------------------------

def test_help_lists_every_flag_once_sorted_without_hidden_aliases():
    text = flaghelp.options_text(RUN_OPTIONS, width=200)
    names = [line.split("--", 1)[1].split()[0] for line in text.splitlines() if line.lstrip().startswith("-")]
    assert names == sorted(names) and len(names) == len(set(names)) == 104
    assert "--net " not in text and "--dns-opt " not in text and "--network network" in text


def test_help_shows_dockers_defaults():
    text = flaghelp.options_text(CONTAINER_OPTIONS, width=300)
    lines = {next(w for w in line.split() if w.startswith("--")): line for line in text.splitlines()
             if line.lstrip().startswith("-")}
    assert lines["--pull"].endswith('(default "missing")') and lines["--restart"].endswith('(default "no")')
    assert lines["--sysctl"].endswith("(default map[])") and lines["--ulimit"].endswith("(default [])")
    assert lines["--memory-swappiness"].endswith("(default -1)") and "default" not in lines["--cpu-shares"]


# -- build: flags anywhere on the line (pflag's interspersed mode) ---------------------------------------

def test_build_reads_flags_before_and_after_the_context_path():
    from berth.cli.build import BUILD_OPTIONS

    opts = flags.parse(BUILD_OPTIONS, ["-t", "a", ".", "--rm=false", "-t", "b", "--build-arg", "X=1"], interspersed=True)
    assert (opts.path, opts.tag, opts.rm, opts.build_arg) == (".", ["a", "b"], False, ["X=1"])
    assert flags.parse(BUILD_OPTIONS, ["ctx"], interspersed=True).rm is True  # docker's default


def test_build_refuses_a_second_context_path_as_docker_does():
    from berth.cli.build import BUILD_OPTIONS

    with pytest.raises(flags.FlagError, match="unexpected arguments: two"):
        flags.parse(BUILD_OPTIONS, ["one", "-q", "two"], interspersed=True)


def test_run_stops_reading_flags_at_the_image():
    opts = parse("busybox", "ls", "-l")
    assert (opts.image, opts.command) == ("busybox", ["ls", "-l"])


@pytest.mark.parametrize("words", [[], ["one", "two"]])
def test_build_wants_exactly_one_context_as_docker_says(words, capsys):
    from berth.cli.build import BUILD_OPTIONS, USAGE

    with pytest.raises(SystemExit) as exc:
        flags.read_or_exit(BUILD_OPTIONS, words, "berth build", USAGE, "Build", interspersed=True)
    assert exc.value.code == 1
    assert "'berth build' requires 1 argument" in capsys.readouterr().err
