"""Networking through berthd, inside a sandbox network namespace the test made.

What a Docker user expects: containers on a user-defined network reach each other
by name; on the default bridge by address; published ports answer on the host's
(here: the sandbox's) addresses and on loopback; host and none networks; addresses
kept across a daemon restart; nothing left behind.
"""

import json
import subprocess
import re
import time

import pytest

from tests.conftest import in_netns


def out(result) -> str:
    return result.stdout.decode()


@pytest.fixture
def netd(sandbox_netns, make_daemon, busybox_path):
    d = make_daemon(args=["-s", "vfs"], netns=sandbox_netns).start()
    assert d.cli("image", "bootstrap", "busybox").returncode == 0
    d.netns_name = sandbox_netns
    return d


def ip_of(d, name: str, network: str = "bridge") -> str:
    info = json.loads(out(d.cli("inspect", name)))[0]
    return info["NetworkSettings"]["Networks"][network]["IPAddress"]


def test_default_bridge_containers_reach_each_other_by_address_not_by_name(netd):
    assert netd.cli("run", "-d", "--name", "a1", "busybox", "sleep", "300").returncode == 0
    address = ip_of(netd, "a1")
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", address)
    ping = netd.cli("run", "--rm", "busybox", "ping", "-c", "1", "-W", "2", address)
    assert ping.returncode == 0, ping.stdout.decode() + ping.stderr.decode()
    by_name = netd.cli("run", "--rm", "busybox", "ping", "-c", "1", "-W", "1", "a1")
    assert by_name.returncode != 0


def test_user_defined_network_resolves_names_and_aliases(netd):
    assert netd.cli("network", "create", "appnet").returncode == 0
    assert netd.cli("run", "-d", "--name", "db", "--network", "appnet", "--network-alias", "database",
                    "busybox", "sleep", "300").returncode == 0
    for target in ("db", "database"):
        ping = netd.cli("run", "--rm", "--network", "appnet", "busybox", "ping", "-c", "1", "-W", "2", target)
        assert ping.returncode == 0, target + ping.stdout.decode() + ping.stderr.decode()


def test_published_port_answers_on_sandbox_address_and_loopback(netd):
    result = netd.cli("run", "-d", "--name", "web", "-p", "8080:80", "busybox", "sh", "-c",
                      "echo hello-from-httpd > /tmp/index.html && httpd -f -p 80 -h /tmp")
    assert result.returncode == 0, result.stderr.decode()
    time.sleep(0.5)
    assert "0.0.0.0:8080->80/tcp" in out(netd.cli("ps"))
    assert out(netd.cli("port", "web")).strip().startswith("80/tcp -> 0.0.0.0:8080")
    page = in_netns(netd.netns_name, "busybox", "wget", "-q", "-O", "-", "http://127.0.0.1:8080/index.html")
    assert out(page) == "hello-from-httpd\n", page.stderr.decode()


def test_publish_all_uses_random_ports_for_exposed_ports(netd):
    # busybox has no EXPOSE: declare one at create time, as an image would
    result = netd.cli("create", "--name", "exposed", "-P", "--expose", "80", "busybox", "httpd", "-f", "-p", "80")
    if result.returncode != 0 and "unrecognized arguments: --expose" in result.stderr.decode():
        pytest.fail("berth create lacks --expose")
    assert netd.cli("start", "exposed").returncode == 0
    ports = json.loads(out(netd.cli("inspect", "exposed")))[0]["NetworkSettings"]["Ports"]
    assert ports["80/tcp"] and int(ports["80/tcp"][0]["HostPort"]) > 0


def test_host_network_sees_the_sandbox_interfaces_and_none_only_lo(netd):
    host_links = out(netd.cli("run", "--rm", "--network", "host", "busybox", "ip", "-o", "link"))
    assert "berth0" in host_links or "br-" in host_links or "docker0" in host_links or " lo:" in host_links
    sandbox = out(in_netns(netd.netns_name, "ip", "-o", "link"))
    assert len(host_links.splitlines()) == len(sandbox.splitlines())
    none_links = out(netd.cli("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link")).splitlines()
    assert len(none_links) == 1 and ": lo:" in none_links[0]


def test_addresses_survive_a_daemon_crash(netd):
    assert netd.cli("run", "-d", "--name", "keeper", "busybox", "sleep", "300").returncode == 0
    before = ip_of(netd, "keeper")
    netd.proc.kill()  # SIGKILL: no clean shutdown
    netd.proc.wait()
    netd.logfile.close()
    netd.start()
    assert ip_of(netd, "keeper") == before
    assert "keeper" in out(netd.cli("ps"))
    assert netd.cli("run", "-d", "--name", "newcomer", "busybox", "sleep", "300").returncode == 0
    assert ip_of(netd, "newcomer") != before


def test_removing_everything_leaves_no_veth_bridge_or_rule(netd):
    netd.cli("network", "create", "tmpnet")
    netd.cli("run", "-d", "--name", "t1", "--network", "tmpnet", "-p", "9090:80", "busybox", "sleep", "300")
    assert ":9090" in out(in_netns(netd.netns_name, "ss", "-Hltnu"))
    netd.remove_everything()
    assert netd.cli("network", "rm", "tmpnet").returncode == 0
    links = out(in_netns(netd.netns_name, "ip", "-o", "link"))
    assert "veth" not in links
    assert "tmpnet" not in links and "br-" not in links
    rules = out(in_netns(netd.netns_name, "nft", "list", "ruleset"))
    assert "9090" not in rules
    listeners = out(in_netns(netd.netns_name, "ss", "-Hltnu"))
    assert ":9090" not in listeners  # the userland proxy let go of the port


def test_etc_files_name_the_container_and_its_resolver(netd):
    netd.cli("network", "create", "filesnet")
    lines = out(netd.cli("run", "--rm", "--network", "filesnet", "--hostname", "box1", "busybox", "sh", "-c",
                         "cat /etc/hosts /etc/resolv.conf; ip -o -4 addr show eth0")).splitlines()
    address = next(line.split()[3].split("/")[0] for line in lines if " eth0 " in line)
    assert f"{address}\tbox1" in lines
    assert "nameserver 127.0.0.11" in lines  # the embedded resolver on user-defined networks
    default = out(netd.cli("run", "--rm", "busybox", "cat", "/etc/resolv.conf"))
    assert "127.0.0.11" not in default


def test_bridge_none_means_no_default_bridge_network_as_dockerd(make_daemon, sandbox_netns):
    """berthd -b none: a bridge network left by an earlier run goes (its device too), and a container
    that would be on it gets only lo, with Config.NetworkDisabled, as dockerd records it."""
    first = make_daemon(netns=sandbox_netns).start()  # in the test's namespace: the default bridge exists
    assert "bridge" in first.cli("network", "ls", "--format", "{{.Name}}").stdout.decode().split()
    first.stop()
    again = make_daemon(["--bridge", "none"], base=first.base, netns=sandbox_netns).start()
    assert again.cli("network", "ls", "--format", "{{.Name}}").stdout.decode().split() == ["host", "none"]
    links = subprocess.run(["ip", "-n", sandbox_netns, "-o", "link"], capture_output=True, text=True).stdout
    assert "berth0" not in links
    assert again.cli("image", "bootstrap", "busybox").returncode == 0
    run = again.cli("run", "--name", "alone", "busybox", "sh", "-c", "ip -o link | cut -d: -f2")
    assert run.returncode == 0, run.stderr.decode() + again.log()
    assert run.stdout.decode().split() == ["lo"]
    inspected = json.loads(again.cli("inspect", "alone").stdout)[0]
    assert inspected["Config"]["NetworkDisabled"] is True and inspected["HostConfig"]["NetworkMode"] == "default"
