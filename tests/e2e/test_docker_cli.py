"""The real docker CLI (28.x) against berthd: a beginner's workflow, command by command."""

from __future__ import annotations

import json
import subprocess


from tests.e2e.conftest import DOCKER


def test_version_negotiates_berths_api(docker_cli):
    assert docker_cli.out("version", "--format", "{{.Server.APIVersion}}") == "1.45"
    assert docker_cli.out("version", "--format", "{{.Server.MinAPIVersion}}") == "1.24"


def test_info_names_the_storage_driver(docker_cli):
    assert docker_cli.out("info", "--format", "{{.Driver}}") == "vfs"


def test_run_prints_output_and_returns_the_exit_code(docker_cli):
    assert docker_cli.out("run", "--rm", "busybox", "echo", "hello") == "hello"
    assert docker_cli("run", "--rm", "busybox", "sh", "-c", "exit 7", check=False).returncode == 7
    missing = docker_cli("run", "--rm", "busybox", "no-such-binary", check=False)
    assert missing.returncode == 127
    assert b"executable file not found" in missing.stderr


def test_run_stdin_is_piped_with_i(docker_cli):
    assert docker_cli.out("run", "--rm", "-i", "busybox", "cat", input=b"piped\n") == "piped"


def test_detached_container_lifecycle(docker_cli):
    cid = docker_cli.out("run", "-d", "--name", "web", "busybox", "sh", "-c",
                         "echo started; while true; do sleep 1; done")
    assert len(cid) == 64
    try:
        assert docker_cli.out("ps", "--format", "{{.Names}}").splitlines() == ["web"]
        assert docker_cli.out("ps", "-q") == cid[:12]
        table = docker_cli.out("ps").splitlines()
        assert table[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
        assert "Up " in table[1] and table[1].endswith("web")

        # logs -f follows: read the first line, then leave
        follower = subprocess.Popen([DOCKER, "logs", "-f", "web"], stdout=subprocess.PIPE, env=docker_cli.env)
        try:
            assert follower.stdout.readline() == b"started\n"
        finally:
            follower.kill()
            follower.wait()

        assert docker_cli.out("exec", "web", "sh", "-c", "echo $((1+2))") == "3"
        assert docker_cli("exec", "web", "sh", "-c", "exit 5", check=False).returncode == 5
        assert docker_cli.out("exec", "-u", "1000", "web", "id", "-u") == "1000"
        assert docker_cli.out("exec", "-e", "X=y", "-w", "/tmp", "web", "sh", "-c", "echo $X $PWD") == "y /tmp"

        assert docker_cli.out("inspect", "-f", "{{.State.Running}} {{.Name}} {{.Config.Image}}", "web") == \
            "true /web busybox"
        top = docker_cli.out("top", "web")
        assert top.splitlines()[0].split()[:3] == ["UID", "PID", "PPID"] and "sh -c" in top

        docker_cli("pause", "web")
        assert "(Paused)" in docker_cli.out("ps", "--format", "{{.Status}}")
        assert docker_cli.out("inspect", "-f", "{{.State.Status}}", "web") == "paused"
        docker_cli("unpause", "web")

        docker_cli("stop", "-t", "1", "web")
        assert docker_cli.out("inspect", "-f", "{{.State.Status}}", "web") == "exited"
        assert docker_cli.out("ps", "-q") == ""
        assert docker_cli.out("ps", "-aq") == cid[:12]
        docker_cli("start", "web")
        docker_cli("restart", "-t", "1", "web")
        assert docker_cli.out("inspect", "-f", "{{.State.Running}}", "web") == "true"

        docker_cli("rename", "web", "web2")
        assert docker_cli.out("ps", "--format", "{{.Names}}") == "web2"
        docker_cli("kill", "-s", "KILL", "web2")
        assert docker_cli.out("wait", "web2") == "137"
    finally:
        docker_cli("rm", "-f", "web", "web2", check=False)
    assert docker_cli.out("ps", "-aq") == ""


def test_errors_carry_dockers_messages_and_codes(docker_cli):
    missing = docker_cli("inspect", "--type", "container", "nope", check=False)
    assert missing.returncode == 1 and b"No such container: nope" in missing.stderr
    rm = docker_cli("rm", "nope", check=False)
    assert rm.returncode == 1 and b"No such container: nope" in rm.stderr
    bad_flag = docker_cli("ps", "--no-such-flag", check=False)
    assert bad_flag.returncode == 125


def test_stats_no_stream_shows_dockers_columns(docker_cli):
    docker_cli("run", "-d", "--name", "statsme", "busybox", "sleep", "60")
    try:
        lines = docker_cli.out("stats", "--no-stream").splitlines()
        assert lines[0].split("   ")[0] == "CONTAINER ID"
        for title in ("NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"):
            assert title in lines[0]
        assert lines[1].split()[1] == "statsme"
    finally:
        docker_cli("rm", "-f", "statsme")


def test_volume_commands_and_data_shared_between_containers(docker_cli):
    assert docker_cli.out("volume", "create", "shared") == "shared"
    try:
        assert "shared" in docker_cli.out("volume", "ls", "-q").split()
        info = json.loads(docker_cli.out("volume", "inspect", "shared"))
        assert info[0]["Name"] == "shared" and info[0]["Driver"] == "local"
        docker_cli("run", "--rm", "-v", "shared:/data", "busybox", "sh", "-c", "echo kept > /data/f")
        assert docker_cli.out("run", "--rm", "--mount", "type=volume,source=shared,target=/d,readonly",
                              "busybox", "cat", "/d/f") == "kept"
        busy = docker_cli("run", "-d", "--name", "holder", "-v", "shared:/data", "busybox", "sleep", "60")
        assert busy.returncode == 0
        in_use = docker_cli("volume", "rm", "shared", check=False)
        assert in_use.returncode == 1 and b"in use" in in_use.stderr
    finally:
        docker_cli("rm", "-f", "holder", check=False)
        docker_cli("volume", "rm", "shared", check=False)
    assert "shared" not in docker_cli.out("volume", "ls", "-q").split()


def test_bind_mount_and_anonymous_volume_removed_with_rm_v(docker_cli, tmp_path):
    (tmp_path / "in.txt").write_text("from host")
    assert docker_cli.out("run", "--rm", "-v", f"{tmp_path}:/host:ro", "busybox", "cat", "/host/in.txt") == "from host"
    before = set(docker_cli.out("volume", "ls", "-q").split())
    docker_cli("run", "--name", "anon", "-v", "/scratch", "busybox", "true")
    created = set(docker_cli.out("volume", "ls", "-q").split()) - before
    assert len(created) == 1
    docker_cli("rm", "-v", "anon")
    assert set(docker_cli.out("volume", "ls", "-q").split()) == before


def test_container_and_system_prune(docker_cli):
    docker_cli("run", "--name", "done1", "busybox", "true")
    out = docker_cli.out("container", "prune", "-f")
    assert "Deleted Containers:" in out and "Total reclaimed space" in out
    assert docker_cli.out("ps", "-aq") == ""
    docker_cli("run", "--name", "done2", "busybox", "true")
    assert "Total reclaimed space" in docker_cli.out("system", "prune", "-f")
    assert docker_cli.out("ps", "-aq") == ""
    df = docker_cli.out("system", "df").splitlines()
    assert df[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert [line.split("  ")[0] for line in df[1:]] == ["Images", "Containers", "Local Volumes", "Build Cache"]


def test_events_since_until_replays_the_lifecycle(docker_cli):
    import time

    start = time.time()
    docker_cli("run", "--rm", "--name", "evented", "busybox", "true")
    out = docker_cli.out("events", "--since", f"{start - 1:.3f}", "--until", f"{time.time() + 1:.3f}",
                         "--filter", "container=evented", "--format", "{{.Action}}")
    actions = out.split()
    for action in ("create", "start", "die", "destroy"):
        assert action in actions


# -- image verbs (owned by the images/filesystem helpers; part of the beginner's workflow) ------------


def test_commit_tag_save_load_rmi(docker_cli, tmp_path):
    docker_cli("run", "--name", "tocommit", "busybox", "sh", "-c", "echo baked > /baked")
    try:
        docker_cli("commit", "tocommit", "baked:v1")
    finally:
        docker_cli("rm", "tocommit", check=False)
    assert docker_cli.out("run", "--rm", "baked:v1", "cat", "/baked") == "baked"
    docker_cli("tag", "baked:v1", "baked:v2")
    assert "baked:v2" in docker_cli.out("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    archive = tmp_path / "baked.tar"
    docker_cli("save", "-o", str(archive), "baked:v1")
    docker_cli("rmi", "baked:v1", "baked:v2")
    assert "baked:v1" not in docker_cli.out("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    assert "baked:v1" in docker_cli.out("load", "-i", str(archive))
    assert docker_cli.out("run", "--rm", "baked:v1", "cat", "/baked") == "baked"
    docker_cli("rmi", "baked:v1")


def test_export_import(docker_cli, tmp_path):
    docker_cli("run", "--name", "toexport", "busybox", "sh", "-c", "echo exported > /marker")
    archive = tmp_path / "fs.tar"
    try:
        docker_cli("export", "-o", str(archive), "toexport")
    finally:
        docker_cli("rm", "toexport", check=False)
    docker_cli("import", str(archive), "imported:latest")
    assert docker_cli.out("run", "--rm", "imported:latest", "/bin/cat", "/marker") == "exported"
    docker_cli("rmi", "imported:latest")
