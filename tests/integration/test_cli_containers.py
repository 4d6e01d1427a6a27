"""The berth CLI's container verbs: docker's output columns, --format, exit codes, flags."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest


def out(daemon, *args: str) -> str:
    result = daemon.cli(*args)
    assert result.returncode == 0, f"berth {' '.join(args)}: {result.stderr.decode()}\n{daemon.log()}"
    return result.stdout.decode().strip()


@pytest.fixture
def box(daemon):
    """A running container named ``box``."""
    out(daemon, "run", "-d", "--name", "box", "-l", "tier=web", "busybox", "sh", "-c",
        "echo one; echo two; while true; do sleep 1; done")
    yield "box"
    daemon.cli("rm", "-f", "box")


def test_ps_default_table_has_dockers_columns(daemon, box):
    lines = out(daemon, "ps").splitlines()
    assert lines[0] == "CONTAINER ID   IMAGE     COMMAND                  CREATED        STATUS        PORTS     NAMES" \
        or lines[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    assert lines[0].index("IMAGE") == 15  # 12-char id + 3 spaces of tabwriter padding
    assert '"sh -c \'echo one; e…"' in lines[1] or '"sh -c echo one; ech…"' in lines[1]
    assert lines[1].endswith("box")


def test_ps_format_quiet_filters_and_latest(daemon, box):
    cid = out(daemon, "inspect", "-f", "{{.Id}}", "box")
    assert out(daemon, "ps", "-q") == cid[:12]
    assert out(daemon, "ps", "-q", "--no-trunc") == cid
    assert out(daemon, "ps", "--format", "{{.ID}} {{.Names}} {{.State}}") == f"{cid[:12]} box running"
    assert out(daemon, "ps", "--format", "table {{.ID}}\t{{.Names}}").splitlines() == [
        "CONTAINER ID   NAMES", f"{cid[:12]}   box"]
    row = json.loads(out(daemon, "ps", "--format", "{{json .}}"))
    assert row["Names"] == "box" and row["Labels"] == "tier=web" and row["State"] == "running"
    assert out(daemon, "ps", "--format", '{{.Label "tier"}}') == "web"
    assert out(daemon, "ps", "-q", "--filter", "status=exited") == ""
    assert out(daemon, "ps", "-q", "--filter", "name=bo") == cid[:12]
    assert out(daemon, "ps", "-q", "--filter", "label=tier=web") == cid[:12]
    out(daemon, "create", "--name", "later", "busybox", "true")
    try:
        assert out(daemon, "ps", "-l", "--format", "{{.Names}}") == "later"
        assert out(daemon, "ps", "-n", "2", "--format", "{{.Names}}").splitlines() == ["later", "box"]
    finally:
        daemon.cli("rm", "later")


def test_ps_size_column(daemon, box):
    lines = out(daemon, "ps", "-s").splitlines()
    assert lines[0].rstrip().endswith("SIZE")
    assert "(virtual " in lines[1]


def test_exec_exit_code_env_workdir_user(daemon, box):
    assert daemon.cli("exec", "box", "sh", "-c", "exit 6").returncode == 6
    assert out(daemon, "exec", "-e", "A=b", "-w", "/tmp", "-u", "1000", "box", "sh", "-c", "echo $A $PWD $(id -u)") \
        == "b /tmp 1000"
    assert out(daemon, "exec", "-i", "box", "cat") == ""
    result = daemon.cli("exec", "-i", "box", "cat", input=b"through stdin\n")
    assert result.stdout == b"through stdin\n"
    assert daemon.cli("exec", "-d", "box", "sleep", "1").returncode == 0


def test_logs_tail_timestamps_since(daemon, box):
    import time

    deadline = time.monotonic() + 10
    while "two" not in out(daemon, "logs", "box") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert out(daemon, "logs", "box") == "one\ntwo"
    assert out(daemon, "logs", "--tail", "1", "box") == "two"
    stamped = out(daemon, "logs", "-t", "box").splitlines()
    assert stamped[0].endswith(" one") and stamped[0][4] == "-" and stamped[0][10] == "T"
    assert out(daemon, "logs", "--since", "1h", "box") == "one\ntwo"
    assert out(daemon, "logs", "--until", "2000-01-01T00:00:00Z", "box") == ""


def test_inspect_format_templates(daemon, box):
    assert out(daemon, "inspect", "-f", "{{.State.Status}} {{.Name}}", "box") == "running /box"
    assert out(daemon, "inspect", "-f", "{{json .Config.Labels}}", "box") == '{"tier":"web"}'
    assert out(daemon, "inspect", "-f", "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}}{{end}}", "box") == "tier=web"
    assert out(daemon, "inspect", "-f", "{{if .State.Running}}up{{else}}down{{end}}", "box") == "up"
    both = json.loads(out(daemon, "inspect", "box", "busybox"))
    assert [b["Id"][:7] for b in both][1] == "sha256:"
    missing = daemon.cli("inspect", "box", "nope")
    assert missing.returncode == 1 and b"No such object: nope" in missing.stderr


def test_top_pause_unpause_rename_restart_kill(daemon, box):
    top = out(daemon, "top", "box").splitlines()
    assert top[0].split()[:3] == ["UID", "PID", "PPID"]
    assert out(daemon, "pause", "box") == "box"
    assert "(Paused)" in out(daemon, "ps", "--format", "{{.Status}}")
    assert daemon.cli("pause", "box").returncode == 1
    assert out(daemon, "unpause", "box") == "box"
    out(daemon, "rename", "box", "box2")
    try:
        assert out(daemon, "ps", "--format", "{{.Names}}") == "box2"
        assert out(daemon, "restart", "-t", "1", "box2") == "box2"
        # PID 1 ignores signals it has no handler for (as under Docker), so KILL it
        assert out(daemon, "kill", "-s", "SIGKILL", "box2") == "box2"
        assert out(daemon, "wait", "box2") == "137"
    finally:
        daemon.cli("rename", "box2", "box")


def test_update_memory_and_restart_policy(daemon, box):
    assert out(daemon, "update", "-m", "64m", "--restart", "on-failure:3", "box") == "box"
    assert out(daemon, "inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}} "
                                        "{{.HostConfig.RestartPolicy.MaximumRetryCount}}", "box") == \
        "67108864 on-failure 3"
    assert daemon.cli("update", "box").returncode == 125


def test_run_flags_reach_the_container(daemon, tmp_path):
    (tmp_path / "f").write_text("bound")
    cmd = ("cat /b/f; echo; touch /b/x 2>/dev/null || echo ro; echo $E; hostname; "
           "cat /proc/1/cmdline | tr '\\0' ' '; echo; ls -d /anon /m")
    result = daemon.cli("run", "--rm", "-e", "E=env-ok", "-h", "myhost", "-v", f"{tmp_path}:/b:ro", "-v", "/anon",
                        "--mount", "type=tmpfs,target=/m", "--init", "busybox", "sh", "-c", cmd)
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.decode().splitlines()
    assert lines[:4] == ["bound", "ro", "env-ok", "myhost"]
    # with --init, PID 1 is the init in front of the shell, under dockerd's name for it
    assert lines[4].split()[:3] == ["/sbin/docker-init", "--", "sh"]
    assert lines[5:] == ["/anon", "/m"]


def test_run_restart_policy_restarts_a_failing_container(daemon):
    import time

    out(daemon, "run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 3")
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            state = out(daemon, "inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "flaky")
            if state == "2 exited":
                break
            time.sleep(0.2)
        assert state == "2 exited"
    finally:
        daemon.cli("rm", "-f", "flaky")


def test_run_rm_and_exit_codes(daemon):
    assert daemon.cli("run", "--rm", "--name", "gone", "busybox", "sh", "-c", "exit 3").returncode == 3
    assert out(daemon, "ps", "-aq", "--filter", "name=gone") == ""
    assert daemon.cli("run", "--rm", "busybox", "/nonexistent").returncode == 127
    bad = daemon.cli("run", "--restart", "sometimes", "busybox", "true")
    assert bad.returncode == 125 and b"restart policy" in bad.stderr
    assert daemon.cli("run", "--no-such-flag", "busybox").returncode == 125
    assert daemon.cli("run", "--rm", "no-such-image-anywhere:1", "true", "--pull", "never").returncode == 125


def test_start_attach_returns_the_exit_code(daemon):
    out(daemon, "create", "--name", "once", "busybox", "sh", "-c", "echo hi; exit 4")
    try:
        result = daemon.cli("start", "-a", "once")
        assert (result.returncode, result.stdout) == (4, b"hi\n")
    finally:
        daemon.cli("rm", "once")


def test_rm_v_removes_anonymous_volumes_and_container_prune(daemon):
    before = set(out(daemon, "volume", "ls", "-q").split())
    out(daemon, "run", "--name", "withvol", "-v", "/data", "busybox", "true")
    assert len(set(out(daemon, "volume", "ls", "-q").split()) - before) == 1
    out(daemon, "rm", "-v", "withvol")
    assert set(out(daemon, "volume", "ls", "-q").split()) == before
    out(daemon, "run", "--name", "stopped1", "busybox", "true")
    pruned = out(daemon, "container", "prune", "-f")
    assert pruned.startswith("Deleted Containers:") and pruned.endswith("Total reclaimed space: 0B")
    assert out(daemon, "ps", "-aq") == ""


def test_container_group_mirrors_top_level_verbs(daemon, box):
    assert out(daemon, "container", "ls", "--format", "{{.Names}}") == "box"
    assert out(daemon, "container", "inspect", "-f", "{{.Name}}", "box") == "/box"


def test_stats_no_stream(daemon, box):
    lines = out(daemon, "stats", "--no-stream").splitlines()
    assert lines[0].split("   ") == ["CONTAINER ID", "NAME", "  CPU %", "  MEM USAGE / LIMIT", "MEM %", "  NET I/O",
                                   "  BLOCK I/O", "PIDS"] or all(
        t in lines[0] for t in ("CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O",
                                "PIDS"))
    fields = out(daemon, "stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}} {{.MemPerc}}", "box").split()
    assert fields[0] == "box" and int(fields[1]) >= 1 and fields[2].endswith("%")
    assert "EiB" not in lines[1]  # unlimited memory shows the host's memory, as docker does


def test_every_verb_has_help(daemon):
    from berth.cli.main import VERBS

    for verb in VERBS:
        result = subprocess.run([sys.executable, "-m", "berth.cli.main", verb, "--help"], capture_output=True)
        assert result.returncode == 0, (verb, result.stderr.decode())
        assert f"berth {verb}" in result.stdout.decode()


def test_completion_bash_lists_verbs_and_flags(daemon):
    script = out(daemon, "completion", "bash")
    assert "complete -F _berth berth" in script
    assert "--publish" in script and "--no-trunc" in script and " network " in f" {script} "
    check = subprocess.run(["bash", "-n"], input=script.encode(), capture_output=True)
    assert check.returncode == 0, check.stderr.decode()


def test_ps_imports_no_daemon_libraries(daemon):
    """The CLI stays lean: `berth ps` must not load aiohttp, pluggy, structlog, http.client or ssl."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "berth.cli.main", "-H", daemon.host, "ps"],
                            capture_output=True)
    assert result.returncode == 0
    imported = {line.split("|")[-1].strip() for line in result.stderr.decode().splitlines() if "|" in line}
    assert not imported & {"aiohttp", "pluggy", "structlog", "http.client", "ssl", "shutil"}


def test_a_run_rm_whose_start_fails_removes_its_container(daemon):
    failed = daemon.cli("run", "--rm", "--name", "never-ran", "busybox", "/no/such/command")
    assert failed.returncode == 127
    for _ in range(50):  # the removal follows the failed start, as dockerd's auto-remove
        if out(daemon, "ps", "-aq", "--filter", "name=never-ran") == "":
            break
        time.sleep(0.1)
    assert out(daemon, "ps", "-aq", "--filter", "name=never-ran") == ""


def test_storage_opt_reaches_the_graph_driver(daemon):
    refused = daemon.cli("run", "--rm", "--storage-opt", "size=1G", "busybox", "true")
    assert refused.returncode == 125
    assert b"--storage-opt size is not supported by the vfs storage driver" in refused.stderr
