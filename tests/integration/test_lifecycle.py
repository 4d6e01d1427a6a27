"""Isolation defaults and the container lifecycle, driven through docker-py against a real berthd."""

import os
import signal

import time

import docker
import pytest

DOCKER_DEFAULT_CAPS = "00000000a80425fb"


@pytest.fixture(scope="module")
def client(daemon):
    c = docker.DockerClient(base_url=daemon.host, version="1.45", timeout=60)
    yield c
    c.close()


def run(client, *command, **kwargs):
    """Run to completion; return (exit code, stdout+stderr text)."""
    container = client.containers.run("busybox", list(command), detach=True, **kwargs)
    try:
        code = container.wait(timeout=60)["StatusCode"]
        return code, container.logs().decode()
    finally:
        container.remove(force=True)


def test_capabilities_are_dockers_default_set(client):
    code, output = run(client, "grep", "CapEff", "/proc/self/status")
    assert code == 0 and output.split()[1] == DOCKER_DEFAULT_CAPS


def test_cap_drop_and_cap_add(client):
    _, dropped = run(client, "grep", "CapEff", "/proc/self/status", cap_drop=["CHOWN"])
    assert int(dropped.split()[1], 16) == int(DOCKER_DEFAULT_CAPS, 16) & ~1
    _, added = run(client, "grep", "CapEff", "/proc/self/status", cap_add=["NET_ADMIN"])
    assert int(added.split()[1], 16) == int(DOCKER_DEFAULT_CAPS, 16) | (1 << 12)


def test_no_new_privileges_is_off_by_default_as_in_docker(client):
    _, output = run(client, "grep", "NoNewPrivs", "/proc/self/status")
    assert output.split()[1] == "0"


def test_security_opt_no_new_privileges_sets_it(client):
    _, output = run(client, "grep", "NoNewPrivs", "/proc/self/status", security_opt=["no-new-privileges"])
    assert output.split()[1] == "1"


def test_proc_paths_are_masked_and_sys_is_read_only(client):
    masked = "/proc/kcore" if os.path.exists("/proc/kcore") else "/proc/keys"
    code, output = run(client, "sh", "-c", f"wc -c < {masked}; touch /sys/x 2>&1; echo 1 > /proc/sys/kernel/ns_last_pid 2>&1")
    lines = output.splitlines()
    assert lines[0].strip() == "0"
    assert "Read-only file system" in lines[1]
    assert "Read-only file system" in lines[2]


def test_user_by_name_and_number(client):
    assert run(client, "id", user="nobody")[1].startswith("uid=65534(nobody)")
    assert run(client, "id", "-u", user="1234:5678")[1].strip() == "1234"


def test_hostname_env_workdir(client):
    _, output = run(client, "sh", "-c", "hostname; echo $FOO; pwd", hostname="boxy", environment={"FOO": "bar"},
                    working_dir="/etc")
    assert output.splitlines() == ["boxy", "bar", "/etc"]


def test_read_only_root_with_tmpfs(client):
    code, output = run(client, "sh", "-c", "touch /x 2>&1; touch /data/y && echo tmpfs-ok", read_only=True,
                       tmpfs={"/data": ""})
    assert "Read-only file system" in output and "tmpfs-ok" in output


def test_memory_limit_kills_and_reports_oom(client):
    container = client.containers.run("busybox", ["sh", "-c", "x=$(head -c 70000000 /dev/zero | tr '\\0' a); echo survived"],
                                      detach=True, mem_limit="32m", memswap_limit="32m")
    try:
        assert container.wait(timeout=60)["StatusCode"] == 137
        container.reload()
        assert container.attrs["State"]["OOMKilled"] is True
    finally:
        container.remove(force=True)


def test_pids_limit_stops_a_fork_bomb(client):
    code, output = run(client, "sh", "-c", "for i in $(seq 60); do sleep 30 & echo started; done 2>&1; true",
                       pids_limit=20)
    assert "can't fork" in output or "Resource temporarily unavailable" in output
    assert 0 < output.count("started") < 20  # the shell itself is one of the 20


def test_pause_freezes_and_unpause_resumes(client, daemon):
    c = client.containers.run("busybox", ["sh", "-c", "while true; do date +%s%N; sleep 0.05; done"], detach=True)
    try:
        time.sleep(0.3)
        c.pause()
        c.reload()
        assert c.status == "paused"
        frozen = len(c.logs().splitlines())
        time.sleep(0.5)
        assert len(c.logs().splitlines()) == frozen
        c.unpause()
        time.sleep(0.5)
        assert len(c.logs().splitlines()) > frozen
    finally:
        c.remove(force=True)


def test_stop_kills_a_process_that_ignores_sigterm_after_the_timeout(client):
    c = client.containers.run("busybox", ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"], detach=True)
    try:
        time.sleep(0.2)
        c.stop(timeout=1)
        c.reload()
        assert c.attrs["State"]["ExitCode"] == 137
    finally:
        c.remove(force=True)


def test_stop_signal_from_config_is_used(client):
    c = client.containers.run("busybox", ["sh", "-c", "trap 'exit 42' USR1; while true; do sleep 0.1; done"],
                              detach=True, stop_signal="SIGUSR1")
    try:
        time.sleep(0.3)
        c.stop(timeout=5)
        c.reload()
        assert c.attrs["State"]["ExitCode"] == 42
    finally:
        c.remove(force=True)


def test_on_failure_restart_policy_retries_then_gives_up(client):
    c = client.containers.run("busybox", ["sh", "-c", "echo run; exit 1"], detach=True,
                              restart_policy={"Name": "on-failure", "MaximumRetryCount": 2})
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            c.reload()
            if c.status == "exited" and c.attrs["RestartCount"] == 2:
                break
            time.sleep(0.1)
        assert c.attrs["RestartCount"] == 2 and c.status == "exited"
        assert c.logs().decode().count("run") == 3
    finally:
        c.remove(force=True)


def test_exec_enters_the_container(client):
    c = client.containers.run("busybox", ["sleep", "300"], detach=True, hostname="execbox")
    try:
        code, output = c.exec_run(["sh", "-c", "hostname; echo $$; exit 5"])
        assert code == 5
        host, pid = output.decode().split()
        assert host == "execbox" and pid != "1"
        code, output = c.exec_run(["id", "-u"], user="nobody")
        assert output.decode().strip() == "65534"
    finally:
        c.remove(force=True)


def test_rename_and_states(client):
    c = client.containers.create("busybox", ["true"], name="before-rename")
    try:
        assert c.status == "created"
        c.rename("after-rename")
        assert client.containers.get("after-rename").id == c.id
        c.start()
        assert c.wait(timeout=30)["StatusCode"] == 0
        c.reload()
        assert c.status == "exited"
    finally:
        c.remove(force=True)


def test_containers_survive_a_daemon_crash_and_are_readopted(daemon, client):
    client.containers.run("busybox", ["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"],
                          detach=True, name="survivor")
    client.containers.run("busybox", ["sh", "-c", "sleep 1; exit 7"], detach=True, name="quitter")
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait()
    daemon.logfile.close()
    time.sleep(2)  # the survivor keeps writing, the quitter exits, while no daemon runs

    daemon.start()
    fresh = docker.DockerClient(base_url=daemon.host, version="1.45", timeout=60)
    try:
        survivor = fresh.containers.get("survivor")
        assert survivor.status == "running"
        ticks = survivor.logs().decode().splitlines()
        assert len(ticks) >= 8, ticks  # lines written while the daemon was down are there
        assert fresh.containers.get("quitter").attrs["State"]["ExitCode"] == 7
        code, output = survivor.exec_run(["echo", "still-here"])
        assert code == 0 and output.decode().strip() == "still-here"
        survivor.stop(timeout=2)
        survivor.reload()
        assert survivor.status == "exited"
    finally:
        for name in ("survivor", "quitter"):
            try:
                fresh.containers.get(name).remove(force=True)
            except docker.errors.NotFound:
                pass
        fresh.close()


def test_container_prune_honours_label_filters_and_reports_space(client):
    keep = client.containers.run("busybox", ["true"], detach=True, labels={"keep": "yes"})
    drop = client.containers.run("busybox", ["sh", "-c", "head -c 100000 /dev/zero > /big"], detach=True,
                                 labels={"keep": "no"})
    try:
        keep.wait(timeout=30)
        drop.wait(timeout=30)
        result = client.containers.prune(filters={"label": ["keep=no"]})
        assert result["ContainersDeleted"] == [drop.id]
        assert result["SpaceReclaimed"] >= 100000
        keep.reload()  # still there
    finally:
        keep.remove(force=True)


def test_dockers_default_seccomp_profile_is_applied(client, tmp_path):
    assert run(client, "grep", "Seccomp:", "/proc/self/status")[1].split()[1] == "2"  # filter mode
    # namespaces cannot be made even with the capability check passed... unless the profile allows it
    code, output = run(client, "unshare", "-u", "true", cap_add=["SYS_ADMIN"])
    assert code == 0, output  # CAP_SYS_ADMIN unlocks unshare in Docker's profile too
    code, output = run(client, "sh", "-c", "unshare -u true 2>&1; echo rc=$?")
    assert "rc=0" not in output
    assert run(client, "grep", "Seccomp:", "/proc/self/status", security_opt=["seccomp=unconfined"])[1].split()[1] == "0"
    assert run(client, "grep", "Seccomp:", "/proc/self/status", privileged=True)[1].split()[1] == "0"


def test_a_custom_seccomp_profile_is_honoured(daemon, tmp_path):
    import json

    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile))
    result = daemon.cli("run", "--rm", "--security-opt", f"seccomp={path}", "busybox", "sh", "-c",
                        "mkdir /x 2>&1; echo done")
    assert "Operation not permitted" in result.stdout.decode(), result.stderr.decode()


def test_privileged_gets_every_capability_the_host_holds(client):
    with open("/proc/self/status") as f:
        bounding = next(line.split()[1] for line in f if line.startswith("CapBnd:"))
    _, output = run(client, "grep", "CapEff", "/proc/self/status", privileged=True)
    assert int(output.split()[1], 16) == int(bounding, 16)


def test_after_a_reboot_like_loss_of_monitors_containers_are_exited_and_removable(daemon, client):
    """/run survives a reboot here: state says running, but no monitor or process is left."""
    import json
    import os

    c = client.containers.run("busybox", ["sleep", "600"], detach=True, name="rebooted")
    c.reload()
    pid = c.attrs["State"]["Pid"]
    with open(os.path.join(daemon.exec_root, "native", c.id, "state.json")) as f:
        monitor = json.load(f)["monitor_pid"]
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait()
    daemon.logfile.close()
    for victim in (monitor, pid):  # both ours: the container's monitor and its process
        os.kill(victim, signal.SIGKILL)
    time.sleep(0.3)
    daemon.start()
    fresh = docker.DockerClient(base_url=daemon.host, version="1.45", timeout=60)
    try:
        gone = fresh.containers.get("rebooted")
        assert gone.status == "exited"
        assert gone.attrs["State"]["ExitCode"] in (137, 255)
        gone.remove()
        assert not fresh.containers.list(all=True, filters={"name": "rebooted"})
    finally:
        fresh.close()
