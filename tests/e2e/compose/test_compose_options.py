"""A compose file with the container options users put in theirs (projects/options), brought up by
Debian's docker-compose 1.29 on berthd; each option checked from inside the container, where it acts."""

from __future__ import annotations

import pytest

from tests.helpers import api


@pytest.fixture(scope="module")
def tuned(compose):
    compose("options", "up", "-d")
    yield compose
    compose("options", "down", "-v", check=False)


def inside(compose, script: str) -> str:
    return compose.out("options", "exec", "-T", "tuned", "sh", "-c", script)


def test_names_user_and_working_directory(tuned):
    assert inside(tuned, "hostname; cat /proc/sys/kernel/domainname; id -u; id -g; id -G; pwd").split() == \
        ["tuned-host", "example.test", "1000", "1000", "1000", "2000", "/tmp"]


def test_read_only_root_with_a_sized_tmpfs_and_shm(tuned):
    out = inside(tuned, "touch /x 2>/dev/null || echo ro; df -k /tmp /dev/shm | tail -2 | awk '{print $2}'")
    assert out.split() == ["ro", "8192", "32768"]


def test_capabilities_sysctls_ulimits_and_no_new_privileges(tuned):
    out = inside(tuned, "grep -E '^(CapBnd|NoNewPrivs)' /proc/self/status | awk '{print $2}'; "
                        "cat /proc/sys/net/ipv4/ip_unprivileged_port_start; ulimit -Sn; ulimit -Hn; ulimit -u")
    bounding, no_new_privs, port_start, soft, hard, nproc = out.split()
    caps = int(bounding, 16)  # the bounding set: uid 1000 has no effective capabilities of its own
    assert caps & (1 << 25) and not caps & (1 << 13)  # CAP_SYS_TIME added, CAP_NET_RAW dropped
    assert (no_new_privs, port_start, soft, hard, nproc) == ("1", "80", "1024", "2048", "512")


def test_resources_reach_the_containers_cgroup(tuned):
    hc = api(tuned.daemon, "GET", "/containers/options_tuned_1/json")[1]["HostConfig"]
    assert (hc["Memory"], hc["MemoryReservation"], hc["NanoCpus"], hc["CpuShares"], hc["PidsLimit"],
            hc["OomScoreAdj"]) == (64 << 20, 32 << 20, 500_000_000, 512, 50, 100)
    out = inside(tuned, "cat /proc/self/oom_score_adj")
    assert out.split() == ["100"]


def test_hosts_dns_and_environment(tuned):
    out = inside(tuned, "grep gateway.test /etc/hosts; cat /etc/resolv.conf; echo $FROM_COMPOSE")
    assert "10.1.2.3\tgateway.test" in out
    # on a user-defined network the resolver is dockerd's embedded one; the file names the search and options
    assert "search search.test" in out and "options ndots:3" in out and out.strip().endswith("1")


def test_logging_restart_stop_signal_and_labels_are_recorded(tuned):
    info = api(tuned.daemon, "GET", "/containers/options_tuned_1/json")[1]
    assert info["HostConfig"]["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "2"}}
    assert info["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert info["Config"]["StopSignal"] == "SIGINT" and info["Config"]["Labels"]["test.options"] == "yes"
