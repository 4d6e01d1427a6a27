"""Third-party plugins as their authors use them: the example distributions under tests/plugins, installed
(tests/plugins/install.py), run through the kits and a live berthd; a plugin of another contract version."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap

from berth.hookspecs import CONTRACT


def run_kit(cwd, *args, env=None):
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "berth.testing", "-p", "no:cacheprovider", "-q", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=900, env={**os.environ, **(env or {})})


def timing_rows(path) -> list[dict]:
    with open(path, newline="") as f:
        return [dict(zip(("time", "kind", "hook", "seconds", "outcome"), row)) for row in csv.reader(f)]


def test_a_kit_runs_a_third_party_driver_with_an_extension_around_it(tmp_path):
    timings = tmp_path / "timing.csv"
    result = run_kit(tmp_path, "--berth-graphdriver=example", "--berth-extension=timing", "-k", "empty_base or remount",
                     env={"BERTH_TIMING_CSV": str(timings)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    hooks = {(r["kind"], r["hook"], r["outcome"]) for r in timing_rows(timings)}
    assert {("graph", "graph_create", "ok"), ("graph", "graph_mount", "ok"), ("graph", "graph_apply_diff", "ok")} <= hooks


def test_a_kit_refuses_an_extension_that_is_not_installed(tmp_path):
    result = run_kit(tmp_path, "--berth-graphdriver=example", "--berth-extension=no-such-ext", "-k", "empty_base")
    assert result.returncode == 1
    assert "no-such-ext not installed" in result.stdout and "timing" in result.stdout


def test_berthd_registers_an_extension_on_every_kind_and_lists_it(make_daemon, tmp_path):
    timings = tmp_path / "timing.csv"
    d = make_daemon(["-s", "vfs"], env={"BERTH_TIMING_CSV": str(timings)}).start()
    assert d.cli("image", "bootstrap", "busybox").returncode == 0
    run = d.cli("run", "--rm", "--network", "none", "busybox", "true")  # none: a network whose driver joins
    assert run.returncode == 0, run.stderr.decode() + d.log()
    kinds = {(r["kind"], r["hook"]) for r in timing_rows(timings)}
    assert {("graph", "graph_mount"), ("exec", "exec_create"), ("exec", "exec_start"), ("network", "net_join")} <= kinds
    listing = d.cli("plugins", "ls").stdout.decode()
    row = next(line for line in listing.splitlines() if line.split()[:2] == ["extension", "timing"])
    assert "berth-timing" in row and "*" in row and "wraps graph: all" in row and "exec: all" in row
    info = json.loads(d.cli("info", "--format", "{{json .BerthDrivers}}").stdout)
    (timing,) = [r for r in info if r["Kind"] == "extension" and r["Name"] == "timing"]
    assert {"graph_mount", "exec_create", "net_join"} <= set(timing["Hooks"])


def test_a_disabled_extension_is_listed_as_disabled(make_daemon):
    d = make_daemon(["-s", "vfs"])
    with open(os.path.join(d.base, "daemon.json"), "w") as f:
        json.dump({"disabled-extensions": ["timing"]}, f)
    d.start()
    listing = d.cli("plugins", "ls").stdout.decode()
    row = next(line for line in listing.splitlines() if line.split()[:2] == ["extension", "timing"])
    assert "disabled" in row and "*" not in row


def test_a_loopback_network_gives_its_containers_only_lo_and_no_nameserver(make_daemon):
    d = make_daemon(["-s", "vfs"]).start()  # --bridge none, host namespace: the driver makes no device here
    assert d.cli("image", "bootstrap", "busybox").returncode == 0
    assert d.cli("network", "create", "-d", "loopback", "only-lo").returncode == 0
    out = d.cli("run", "--rm", "--network", "only-lo", "busybox", "sh", "-c",
                "ip -o link | cut -d: -f2; ping -c1 -W1 127.0.0.1 >/dev/null && echo pong; cat /etc/resolv.conf")
    assert out.returncode == 0, out.stderr.decode() + d.log()
    lines = out.stdout.decode().split("\n")
    assert [line.strip() for line in lines[:2]] == ["lo", "pong"]
    assert "nameserver" not in out.stdout.decode()
    asked = d.cli("run", "--rm", "--network", "only-lo", "--dns", "10.9.9.9", "busybox", "cat", "/etc/resolv.conf")
    assert "nameserver 10.9.9.9" in asked.stdout.decode()  # what the user names is kept


def write_distribution(site, name: str, group: str, entry: str, module: str, source: str) -> None:
    """A distribution as pip leaves it in site-packages: the module and a dist-info with its entry point."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{entry} = {module}:Driver\n")


OLD_DRIVER = '''
    from berth import hookimpl

    class Driver:
        name = "old-layers"
        description = "written for the first contract"
        priority = 0
        contract = "1.0"

        @classmethod
        def probe(cls, root):
            return None

        def __init__(self, root, options):
            self.root = root
'''


def test_a_driver_of_another_contract_version_is_refused_naming_driver_and_versions(make_daemon, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    write_distribution(site, "acme-old-layers", "berth.graphdrivers", "old-layers", "acme_old_layers", OLD_DRIVER)
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    d = make_daemon(["-s", "old-layers"], env=env)
    with open(os.path.join(d.base, "daemon.json"), "w") as f:
        f.write("{}")
    started = subprocess.run(d.command(), capture_output=True, text=True, timeout=60, env={**os.environ, **env})
    assert started.returncode != 0
    assert ("graph driver 'old-layers' from distribution 'acme-old-layers' was written for driver contract 1.0, "
            f"but this berth 0.1.0 speaks contract {CONTRACT}") in started.stderr
    listed = make_daemon(["-s", "vfs"], env=env).start().cli("plugins", "ls").stdout.decode()
    row = next(line for line in listed.splitlines() if line.split()[:2] == ["graph", "old-layers"])
    assert "acme-old-layers" in row and "unavailable" in row and "contract 1.0" in row


def test_the_exec_and_network_kits_run_a_driver_with_an_extension_spanning_kinds(tmp_path):
    timings = tmp_path / "timing.csv"
    env = {"BERTH_TIMING_CSV": str(timings)}
    execs = run_kit(tmp_path, "--berth-execdriver=minirunc", "--berth-extension=timing", "-k",
                    "create_then_start or exit_codes", env=env)
    assert execs.returncode == 0, execs.stdout + execs.stderr
    nets = run_kit(tmp_path, "--berth-netdriver=loopback", "--berth-extension=timing", "-k", "lo_is_up", env=env)
    assert nets.returncode == 0, nets.stdout + nets.stderr
    hooks = {(r["kind"], r["hook"]) for r in timing_rows(timings)}
    assert {("exec", "exec_create"), ("exec", "exec_wait"), ("network", "net_join"), ("network", "net_sandbox")} <= hooks


def test_a_node_id_of_the_exec_or_network_kit_reruns_that_test(tmp_path):
    for option, test in (("--berth-netdriver=loopback", "::test_join_reports_the_endpoint_and_lo_is_up[loopback]"),
                         ("--berth-execdriver=minirunc", "::test_exit_codes[minirunc-3]")):
        listed = run_kit(tmp_path, option, "--collect-only")
        node = next(line for line in listed.stdout.splitlines() if line.endswith(test))
        again = run_kit(tmp_path, option, node)
        assert again.returncode == 0 and "1 passed" in again.stdout, again.stdout + again.stderr
