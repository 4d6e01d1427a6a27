"""berth volume, system df/prune, events and version/info through the berth CLI; and --format templates."""

from __future__ import annotations

import json
import time

from berth.cli.templates import render


def out(daemon, *args: str) -> str:
    result = daemon.cli(*args)
    assert result.returncode == 0, f"berth {' '.join(args)}: {result.stderr.decode()}"
    return result.stdout.decode().strip()


def test_volume_create_ls_inspect_rm_prune(daemon):
    assert out(daemon, "volume", "create", "--label", "k=v", "named1") == "named1"
    assert out(daemon, "volume", "ls").splitlines()[0].split() == ["DRIVER", "VOLUME", "NAME"]
    assert "named1" in out(daemon, "volume", "ls", "-q").split()
    assert out(daemon, "volume", "ls", "-q", "--filter", "label=k=v") == "named1"
    assert out(daemon, "volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Labels.k}}", "named1") == "named1 local v"
    anon = out(daemon, "run", "-d", "-v", "/x", "busybox", "true")
    out(daemon, "wait", anon)
    out(daemon, "rm", anon)
    pruned = out(daemon, "volume", "prune", "-f")
    assert pruned.startswith("Deleted Volumes:") and "named1" not in pruned  # only anonymous ones by default
    assert out(daemon, "volume", "rm", "named1") == "named1"
    missing = daemon.cli("volume", "rm", "named1")
    assert missing.returncode == 1 and b"no such volume" in missing.stderr


def test_system_df_and_prune(daemon):
    df = out(daemon, "system", "df").splitlines()
    assert df[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert df[1].startswith("Images          1 ")
    assert out(daemon, "system", "df", "--format", "{{.Type}}").splitlines() == [
        "Images", "Containers", "Local Volumes", "Build Cache"]
    out(daemon, "run", "--name", "leftover", "busybox", "true")
    pruned = out(daemon, "system", "prune", "-f")
    assert "Deleted Containers:" in pruned and pruned.endswith("Total reclaimed space: 0B")
    assert out(daemon, "ps", "-aq") == ""


def test_events_since_until_with_filters_and_formats(daemon):
    start = time.time()
    out(daemon, "run", "--rm", "--name", "ev1", "busybox", "true")
    until = str(time.time() + 0.5)
    plain = out(daemon, "events", "--since", str(start - 1), "--until", until, "--filter", "container=ev1")
    assert " container create " in plain and "name=ev1" in plain
    actions = out(daemon, "events", "--since", str(start - 1), "--until", until, "--filter", "event=die",
                  "--filter", "container=ev1", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}")
    assert actions.splitlines() == ["container die ev1"]
    lines = out(daemon, "events", "--since", str(start - 1), "--until", until, "--format", "json").splitlines()
    assert all(json.loads(line)["Type"] for line in lines)


def test_version_and_info_formats(daemon):
    assert out(daemon, "version", "--format", "{{.Server.ApiVersion}}") == "1.45"
    assert "Server: berth" in out(daemon, "version")
    assert out(daemon, "info", "--format", "{{.Driver}}") == "vfs"
    assert " Storage Driver: vfs" in out(daemon, "info").splitlines()


def test_unknown_verb_and_bad_flag_exit_codes(daemon):
    assert daemon.cli("frobnicate").returncode == 1
    bad = daemon.cli("ps", "--bogus")
    assert bad.returncode == 125 and b"See 'berth ps --help'." in bad.stderr


# -- the Go-template subset (no daemon needed) ----------------------------------


def test_template_fields_functions_and_blocks():
    data = {"ID": "abc", "L": {"b": "2", "a": "1"}, "X": [1, 2], "S": {"On": True}, "N": None,
            "Label": lambda key: "v-" + key}
    assert render("{{.ID}}\\t{{.S.On}}", data) == "abc\ttrue"
    assert render("{{json .L}}", data) == '{"b":"2","a":"1"}'
    assert render("{{.L}} {{.X}} {{.Missing}}", data) == "map[a:1 b:2] [1 2] <no value>"
    assert render('{{range $k, $v := .L}}{{$k}}={{$v}};{{end}}', data) == "a=1;b=2;"
    assert render("{{range .X}}<{{.}}>{{end}}", data) == "<1><2>"
    assert render("{{if .N}}a{{else if .S.On}}b{{else}}c{{end}}", data) == "b"
    assert render('{{.Label "x"}} {{.ID | upper}} {{join .X ","}} {{index .L "a"}} {{len .X}}', data) == \
        "v-x ABC 1,2 1 2"
    assert render("{{with .S}}{{.On}}{{end}} {{- \" x\"}}", data) == "true x"
    assert render('{{printf "%s-%d" .ID 3}}', data) == "abc-3"
