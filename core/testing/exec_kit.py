"""Conformance kit for exec drivers: a pytest plugin every exec driver, built-in or third-party, runs against itself.

Run it for one driver (or several, repeating the option)::

    pytest -p berth.testing --berth-execdriver=NAME [--berth-extension=EXT]

(``pytest -p berth.testing.exec_kit --pyargs berth.testing.exec_kit --berth-execdriver=NAME``
works too). Without ``--berth-execdriver`` the tests are parametrised over every
installed exec driver (entry-point group ``berth.execdrivers``) whose ``probe()``
passes; a driver whose probe fails is reported as skipped with its reason. A test
module may also pull the kit in with ``from berth.testing.exec_kit import *``.

The kit builds a busybox rootfs (from the static ``/bin/busybox``), writes OCI
specs shaped like berth's engine writes them (``berth.containers.spec``), and
drives the driver through berth's plugin manager and exec facade, exactly as the
engine does. It checks the contract of :mod:`berth.hookspecs.execution`:
create/start/wait and exit codes, pid 1 and hostname, 127 for a missing command,
kill, idempotent delete, restore from a new driver instance, attach-socket
framing, exec (and killing and forgetting one), the log as IOConfig asks for it (rotation,
compression, the local format, attributes, syslog), and pause/resume where the driver implements them. Every test
removes its containers; cgroups go under ``/berth-kit/<id>``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from berth.errors import Conflict, ExecError, NotFound, NotSupported
from berth.hookspecs.types import INIT_ANNOTATION, IOConfig, RuntimeStatus
from berth.streamframe import HEADER
from berth.testing import add_kit_options, harness

__all__ = ["TestExecDriverContract", "TestRunOptions", "exec_harness", "kit_rootfs", "pytest_generate_tests"]

BUSYBOX = "/bin/busybox"
CGROUP_PARENT = "berth-kit"


def pytest_addoption(parser) -> None:
    add_kit_options(parser)


def pytest_generate_tests(metafunc) -> None:
    """Each test once per driver: those named with ``--berth-execdriver``, else those a test module
    importing the kit lists in ``BERTH_EXECDRIVERS``, else every installed one."""
    # Runs twice when the kit is both loaded with -p and collected as the test module; parametrise once.
    if "execdriver_name" in metafunc.fixturenames and not getattr(metafunc, "_berth_execdriver_done", False):
        metafunc._berth_execdriver_done = True
        names = (metafunc.config.getoption("berth_execdriver", default=None)
                 or getattr(metafunc.module, "BERTH_EXECDRIVERS", None) or harness.installed("exec"))
        metafunc.parametrize("execdriver_name", list(names))


# ---------------------------------------------------------------------------
# rootfs and specs
# ---------------------------------------------------------------------------


def build_busybox_rootfs(target: Path) -> Path:
    """A minimal rootfs: static busybox with its applet links, passwd/group (root and nobody), and a test file."""
    if not os.path.exists(BUSYBOX):
        pytest.skip(f"the exec kit needs a static busybox at {BUSYBOX}")
    for d in ("bin", "etc", "proc", "sys", "dev", "tmp", "root", "home/nobody"):
        (target / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, target / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            os.symlink("busybox", target / "bin" / applet)
    (target / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                           "nobody:x:65534:65534:nobody:/home/nobody:/bin/false\n")
    (target / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    (target / "etc" / "hello.txt").write_text("from the rootfs\n")
    os.chmod(target / "tmp", 0o1777)
    return target


def remove_cgroup_parent(parent: str = CGROUP_PARENT) -> None:
    """Remove the tests' parent cgroup (``/<parent>``) from every hierarchy; one still in use stays."""
    for hierarchy in os.listdir("/sys/fs/cgroup"):
        try:
            os.rmdir(f"/sys/fs/cgroup/{hierarchy}/{parent}")
        except OSError:
            pass


def make_spec(rootfs: Path, args: list[str], container_id: str, *, hostname: str = "kitbox", tty: bool = False,
              memory: int | None = None, annotations: dict | None = None, host_config: dict | None = None,
              joins: dict | None = None) -> dict:
    """The spec berth's engine would write for ``berth run [--memory] [HostConfig options] busybox ARGS``
    (network: none); ``joins`` as the engine passes it for ``container:X`` modes."""
    from berth.containers import spec as ocispec
    from berth.containers.users import ExecUser
    from berth.hookspecs.types import Sandbox

    host_config = {**({"Memory": memory, "MemorySwap": memory} if memory else {}), **(host_config or {})}
    spec = ocispec.build_spec(
        container_id=container_id, config={"Cmd": args, "Tty": tty}, host_config=host_config, image_config={},
        rootfs=str(rootfs), hostname=hostname,
        user=ExecUser(uid=0, gid=0, additional_gids=[], home="/root"),
        sandbox=Sandbox(), etc_files={}, joins=joins)
    spec["linux"]["cgroupsPath"] = f"/{CGROUP_PARENT}/{container_id}"
    spec["process"]["rlimits"] = spec["process"]["rlimits"] or [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
    spec["annotations"].update(annotations or {})
    return spec


# ---------------------------------------------------------------------------
# the harness
# ---------------------------------------------------------------------------


class ExecHarness:
    """One driver instance over a temp root, reached through berth's facade, plus the containers it made."""

    def __init__(self, name: str, tmp: Path, rootfs_template: Path, config: pytest.Config):
        self.name, self.tmp, self.template, self.config = name, tmp, rootfs_template, config
        self.root = str(tmp / "exec-root")
        self.created: list[str] = []
        self.exec = harness.open_kit_driver("exec", name, self.root, {}, config)
        self.driver = self.exec.driver

    def new_instance(self):
        """What a restarted daemon does: a fresh driver over the same root."""
        self.exec.cleanup()
        self.exec = harness.open_kit_driver("exec", self.name, self.root, {}, self.config)
        self.driver = self.exec.driver
        return self.exec

    def supports(self, *hooks: str) -> bool:
        """Whether the driver implements every one of ``hooks`` (the others answer NotSupported)."""
        from berth.pluginmanager import implemented_hooks

        return set(hooks) <= implemented_hooks(self.driver, "exec_")

    def require(self, *hooks: str) -> None:
        if not self.supports(*hooks):
            pytest.skip(f"exec driver {self.name} does not implement {', '.join(hooks)}")

    def require_limit(self, limit: str) -> None:
        """Skip unless the driver says (``exec_features``) that it enforces ``limit``; the engine discards
        the limits a driver does not list, with Docker's warning, so they never reach it."""
        if limit not in self.exec.features().limits:
            pytest.skip(f"exec driver {self.name} does not enforce {limit!r} here (exec_features)")

    def create(self, args: list[str], io: IOConfig | None = None, **spec_kw) -> tuple[str, object]:
        cid = "kit" + uuid.uuid4().hex[:12]
        rootfs = self.tmp / f"{cid}-rootfs"
        shutil.copytree(self.template, rootfs, symlinks=True)
        bundle = self.tmp / f"{cid}-bundle"
        bundle.mkdir()
        spec = make_spec(rootfs, args, cid, **spec_kw)
        (bundle / "config.json").write_text(json.dumps(spec))
        self.created.append(cid)
        io = io or IOConfig(log_path=str(self.tmp / f"{cid}-json.log"))
        return cid, self.exec.create(cid, str(bundle), spec, io)

    def run(self, args: list[str], **kw) -> tuple[str, object]:
        cid, _ = self.create(args, **kw)
        self.exec.start(cid)
        return cid, self.exec.wait(cid, 60)

    def output(self, cid: str, stream: str = "stdout") -> str:
        path = self.tmp / f"{cid}-json.log"
        if not path.exists():
            return ""
        entries = [json.loads(line) for line in path.read_text().splitlines()]
        return "".join(e["log"] for e in entries if e["stream"] == stream)

    def applied_or_refused(self, what: str, args: list[str], **kw) -> tuple[str, object]:
        """Run a container asking for ``what``: the driver applies it, or refuses the create with
        NotSupported (the test is then skipped with its reason); it never ignores it."""
        try:
            return self.run(args, **kw)
        except NotSupported as exc:
            pytest.skip(f"exec driver {self.name} refuses {what}: {exc.message}")

    def cleanup(self) -> None:
        for cid in self.created:
            try:
                self.exec.delete(cid, force=True)
            except Exception:  # noqa: BLE001 - keep cleaning; the leak check below reports what stays
                pass
        self.exec.cleanup()


def _cgroups_of(cid: str) -> list[str]:
    return [p for p in (f"/sys/fs/cgroup/{h}/{CGROUP_PARENT}/{cid}" for h in os.listdir("/sys/fs/cgroup"))
            if os.path.isdir(p)]


@pytest.fixture(scope="session")
def kit_rootfs(tmp_path_factory) -> Path:
    """The busybox rootfs template, copied for every container."""
    return build_busybox_rootfs(tmp_path_factory.mktemp("exec-kit-rootfs"))


@pytest.fixture
def exec_harness(execdriver_name, tmp_path, kit_rootfs, request) -> Iterator[ExecHarness]:
    """A driver named by ``execdriver_name``; every container is force-deleted and checked gone afterwards."""
    if os.geteuid() != 0:
        pytest.skip("exec drivers need root")
    kit = ExecHarness(execdriver_name, tmp_path, kit_rootfs, request.config)
    try:
        yield kit
    finally:
        kit.cleanup()
        leaks = [p for cid in kit.created for p in _cgroups_of(cid)]
        remove_cgroup_parent()
        mounts = open("/proc/self/mountinfo").read()
        assert not leaks, f"exec driver {execdriver_name} left cgroups behind: {leaks}"
        assert str(tmp_path) not in mounts, f"exec driver {execdriver_name} left mounts under {tmp_path}"


def read_frames(sock: socket.socket) -> list[tuple[int, bytes]]:
    """Docker's multiplexed stream, read to EOF, as (stream, payload) pairs."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    frames = []
    while data:
        assert len(data) >= 8, f"a truncated frame header: {data!r}"
        stream, length = HEADER.unpack(data[:8])
        frames.append((stream, data[8: 8 + length]))
        data = data[8 + length:]
    return frames


# ---------------------------------------------------------------------------
# the contract
# ---------------------------------------------------------------------------


class TestExecDriverContract:
    """What the engine relies on from any exec driver."""

    def test_create_then_start_runs_the_process(self, exec_harness):
        cid, state = exec_harness.create(["sh", "-c", "echo started"])
        assert state.status == RuntimeStatus.CREATED and state.pid > 0
        assert os.path.exists(f"/proc/{state.pid}/ns/net"), "the engine configures the network through the pid"
        assert exec_harness.output(cid) == ""
        running = exec_harness.exec.start(cid)
        assert running.status in (RuntimeStatus.RUNNING, RuntimeStatus.STOPPED)
        final = exec_harness.exec.wait(cid, 60)
        assert final.status == RuntimeStatus.STOPPED and final.exit_code == 0 and final.finished_at
        assert exec_harness.output(cid) == "started\n"

    @pytest.mark.parametrize("code", [0, 3, 255])
    def test_exit_codes(self, exec_harness, code):
        _, final = exec_harness.run(["sh", "-c", f"exit {code}"])
        assert final.status == RuntimeStatus.STOPPED and final.exit_code == code

    def test_pid_1_and_hostname(self, exec_harness):
        cid, final = exec_harness.run(["sh", "-c", "echo pid=$$; hostname; cat /etc/hello.txt"])
        assert final.exit_code == 0
        assert exec_harness.output(cid).splitlines() == ["pid=1", "kitbox", "from the rootfs"]
        assert socket.gethostname() != "kitbox"

    def test_stdout_and_stderr_are_logged_apart(self, exec_harness):
        cid, final = exec_harness.run(["sh", "-c", "echo out; echo err >&2"])
        assert final.exit_code == 0
        assert exec_harness.output(cid) == "out\n" and exec_harness.output(cid, "stderr") == "err\n"

    def test_missing_command_is_127(self, exec_harness):
        """Raised by create (runtimes that check the command early) or by start; either way no process runs."""
        with pytest.raises(ExecError) as info:
            cid, _ = exec_harness.create(["no-such-command"])
            exec_harness.exec.start(cid)
        assert info.value.exit_code == 127
        assert "no-such-command" in info.value.message

    def test_kill_ends_with_128_plus_signal(self, exec_harness):
        cid, _ = exec_harness.create(["sleep", "1000"])
        exec_harness.exec.start(cid)
        assert exec_harness.exec.wait(cid, 0.2).status == RuntimeStatus.RUNNING
        exec_harness.exec.kill(cid, signal.SIGKILL)
        final = exec_harness.exec.wait(cid, 60)
        assert final.status == RuntimeStatus.STOPPED and final.exit_code == 137

    def test_kill_all_processes(self, exec_harness):
        cid, _ = exec_harness.create(["sh", "-c", "sleep 1000 & wait"])
        exec_harness.exec.start(cid)
        exec_harness.exec.kill(cid, signal.SIGKILL, all_processes=True)
        assert exec_harness.exec.wait(cid, 60).exit_code == 137

    def test_delete_is_idempotent_and_forgets(self, exec_harness):
        cid, state = exec_harness.create(["sleep", "1000"])
        exec_harness.exec.start(cid)
        exec_harness.exec.delete(cid, force=True)
        assert not os.path.exists(f"/proc/{state.pid}/cmdline") or not open(f"/proc/{state.pid}/cmdline").read()
        assert not _cgroups_of(cid)
        with pytest.raises(NotFound):
            exec_harness.exec.state(cid)
        assert cid not in exec_harness.exec.list()
        exec_harness.exec.delete(cid)  # again: no error
        exec_harness.exec.delete(cid, force=True)

    def test_restore_from_a_new_instance(self, exec_harness):
        exec_harness.require("exec_list", "exec_restore")
        running, _ = exec_harness.create(["sh", "-c", "echo before; exec sleep 1000"])
        exec_harness.exec.start(running)
        finished, _ = exec_harness.run(["sh", "-c", "exit 5"])
        created, _ = exec_harness.create(["sh", "-c", "echo late"])
        fresh = exec_harness.new_instance()
        assert {running, finished, created} <= set(fresh.list())
        assert fresh.restore(running).status == RuntimeStatus.RUNNING
        stopped = fresh.restore(finished)
        assert stopped.status == RuntimeStatus.STOPPED and stopped.exit_code == 5
        assert fresh.restore(created).status == RuntimeStatus.CREATED
        fresh.start(created)
        assert fresh.wait(created, 60).exit_code == 0
        assert exec_harness.output(created) == "late\n"
        fresh.kill(running, signal.SIGKILL)
        assert fresh.wait(running, 60).exit_code == 137
        assert exec_harness.output(running) == "before\n"

    def test_attach_socket_frames_output_and_feeds_stdin(self, exec_harness, tmp_path):
        path = str(tmp_path / "a.sock")
        cid, _ = exec_harness.create(["sh", "-c", "read line; echo got $line; echo oops >&2"],
                                     io=IOConfig(log_path=str(tmp_path / f"{'x'}.log"), attach_socket=path,
                                                 open_stdin=True))
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            client.connect(path)
            exec_harness.exec.start(cid)
            client.sendall(b"hello\n")
            client.shutdown(socket.SHUT_WR)
            frames = read_frames(client)
        finally:
            client.close()
        assert (1, b"got hello\n") in frames and (2, b"oops\n") in frames
        assert exec_harness.exec.wait(cid, 60).exit_code == 0

    def test_exec_joins_the_container(self, exec_harness, tmp_path):
        exec_harness.require("exec_exec", "exec_exec_wait")
        cid, state = exec_harness.create(["sleep", "1000"])
        exec_harness.exec.start(cid)
        log = tmp_path / "exec.log"
        proc = exec_harness.exec.exec(cid, "e1", {
            "args": ["sh", "-c", "hostname; cat /etc/hello.txt; exit 4"], "env": ["PATH=/bin"], "cwd": "/",
            "user": {"uid": 0, "gid": 0}}, IOConfig(log_path=str(log)))
        assert proc.pid > 0 and proc.pid != state.pid
        assert exec_harness.exec.exec_wait(cid, "e1", 60) == 4
        lines = [json.loads(line)["log"] for line in log.read_text().splitlines()]
        assert lines == ["kitbox\n", "from the rootfs\n"]
        with pytest.raises(ExecError) as info:
            exec_harness.exec.exec(cid, "e2", {"args": ["nope"], "env": ["PATH=/bin"], "cwd": "/",
                                               "user": {"uid": 0, "gid": 0}}, IOConfig())
        assert info.value.exit_code == 127

    def test_an_exec_can_be_killed_and_then_forgotten(self, exec_harness):
        exec_harness.require("exec_exec", "exec_exec_wait", "exec_exec_kill", "exec_exec_delete")
        cid, _ = exec_harness.create(["sleep", "1000"])
        exec_harness.exec.start(cid)
        process = {"args": ["sleep", "999"], "env": ["PATH=/bin"], "cwd": "/", "user": {"uid": 0, "gid": 0}}
        exec_harness.exec.exec(cid, "k1", process, IOConfig())
        with pytest.raises(Conflict):
            exec_harness.exec.exec_delete(cid, "k1")  # still running
        exec_harness.exec.exec_kill(cid, "k1", signal.SIGKILL)
        assert exec_harness.exec.exec_wait(cid, "k1", 60) == 137
        with pytest.raises(Conflict):
            exec_harness.exec.exec_kill(cid, "k1", signal.SIGKILL)  # it has ended
        exec_harness.exec.exec_delete(cid, "k1")
        exec_harness.exec.exec_delete(cid, "k1")  # idempotent
        with pytest.raises(NotFound):
            exec_harness.exec.exec_wait(cid, "k1", 1)
        assert exec_harness.exec.state(cid).status == RuntimeStatus.RUNNING  # the container lives on

    def test_pause_and_resume(self, exec_harness):
        exec_harness.require("exec_pause", "exec_resume")
        cid, _ = exec_harness.create(["sleep", "1000"])
        exec_harness.exec.start(cid)
        exec_harness.exec.pause(cid)
        assert exec_harness.exec.state(cid).status == RuntimeStatus.PAUSED
        exec_harness.exec.resume(cid)
        assert exec_harness.exec.state(cid).status == RuntimeStatus.RUNNING

    def test_oom_kill_is_reported(self, exec_harness):
        """--memory 32m and a shell that holds 70 MB: the kernel kills it; the driver must say so."""
        exec_harness.require_limit("memory")
        cid, final = exec_harness.run(["sh", "-c", "x=$(head -c 70000000 /dev/zero | tr '\\0' a); echo survived"],
                                      memory=32 * 1024 * 1024)
        assert final.status == RuntimeStatus.STOPPED
        assert final.exit_code == 137 and final.oom_killed, (final, exec_harness.output(cid, "stderr"))
        assert "survived" not in exec_harness.output(cid)

    def test_a_clean_exit_is_not_oom_killed(self, exec_harness):
        exec_harness.require_limit("memory")
        _, final = exec_harness.run(["sh", "-c", "exit 0"], memory=32 * 1024 * 1024)
        assert final.exit_code == 0 and not final.oom_killed

    def test_init_reaps_and_forwards_signals(self, exec_harness):
        """Annotation io.berth.init=true (``--init``): pid 1 is an init, the process is its child."""
        init = {INIT_ANNOTATION: "true"}
        cid, final = exec_harness.applied_or_refused(
            "--init", ["sh", "-c", "echo pid=$$; cat /proc/1/cmdline | tr '\\0' ' '; exit 7"], annotations=init)
        assert final.exit_code == 7
        out = exec_harness.output(cid).splitlines()
        assert out[0] == "pid=2" and not out[1].startswith("sh ")  # pid 1 is the init, not the shell
        cid, _ = exec_harness.create(["sleep", "1000"], annotations=init)
        exec_harness.exec.start(cid)
        exec_harness.exec.kill(cid, signal.SIGTERM)  # forwarded to sleep, which (not being pid 1) dies of it
        assert exec_harness.exec.wait(cid, 60).exit_code == 143

    # -- the log, as IOConfig says (berth reads these files back for ``logs``) --

    def logged(self, source) -> list[tuple[str, str]]:
        """(stream, text) of every entry of a log, read back the way berthd reads it."""
        import asyncio

        from berth.containers.logs import read_log

        async def read():
            return [(e.stream, e.data.decode()) async for batch in read_log(
                source, follow=False, tail=None, streams={"stdout", "stderr"},
                running=lambda: False) for e in batch]

        return asyncio.run(read())

    def test_the_log_is_rotated_and_compressed_as_asked(self, exec_harness, tmp_path):
        from berth.containers.logs import LogSource

        path = tmp_path / "rotated-json.log"
        io = IOConfig(log_path=str(path), log_max_size=1000, log_max_files=3, log_compress=True)
        _, final = exec_harness.run(["sh", "-c", "i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); done"],
                                    io=io)
        assert final.exit_code == 0
        assert sorted(p.name for p in tmp_path.glob("rotated-json.log*")) == \
            ["rotated-json.log", "rotated-json.log.1.gz", "rotated-json.log.2.gz"]
        assert all(os.path.getsize(p) < 1000 + 100 for p in tmp_path.glob("rotated-json.log*"))
        lines = [text for _, text in self.logged(LogSource(str(path), "json-file", 3))]
        first = int(lines[0].split()[1])
        assert first > 0 and lines == [f"line {i}\n" for i in range(first, 300)]

    def test_the_local_format_is_written_when_asked(self, exec_harness, tmp_path):
        from berth.containers.logs import LogSource

        path = tmp_path / "container.log"
        _, final = exec_harness.run(["sh", "-c", "echo out; echo err >&2"], io=IOConfig(log_path=str(path),
                                                                                         log_driver="local"))
        assert final.exit_code == 0
        assert not path.read_bytes().startswith(b"{")
        assert sorted(self.logged(LogSource(str(path), "local"))) == [("stderr", "err\n"), ("stdout", "out\n")]

    def test_attributes_go_into_every_json_file_entry(self, exec_harness, tmp_path):
        path = tmp_path / "attrs-json.log"
        _, final = exec_harness.run(["echo", "hi"], io=IOConfig(log_path=str(path), log_attrs={"tag": "web"}))
        assert final.exit_code == 0
        assert [json.loads(line)["attrs"] for line in path.read_text().splitlines()] == [{"tag": "web"}]

    def test_entries_go_to_syslog_when_asked(self, exec_harness, tmp_path):
        path = str(tmp_path / "syslog.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.bind(path)
        listener.settimeout(10)
        syslog = {"network": "unixgram", "address": path, "facility": 3, "format": "", "tag": "kit",
                  "hostname": "h", "tls": {}}
        with listener:
            _, final = exec_harness.run(["sh", "-c", "echo out; echo err >&2"], io=IOConfig(log_syslog=syslog))
            assert final.exit_code == 0
            got = sorted(listener.recv(4096) for _ in range(2))
        assert got[0].startswith(b"<27>") and got[0].endswith(b"]: err\n")
        assert got[1].startswith(b"<30>") and got[1].endswith(b"]: out\n")

class TestRunOptions:
    """The spec fields ``docker run`` options turn into, as every driver must apply them."""

    def test_no_new_privileges_only_when_asked(self, exec_harness):
        cid, _ = exec_harness.run(["grep", "NoNewPrivs", "/proc/self/status"])
        asked, _ = exec_harness.applied_or_refused("no-new-privileges", ["grep", "NoNewPrivs", "/proc/self/status"],
                                                   host_config={"SecurityOpt": ["no-new-privileges"]})
        assert exec_harness.output(cid).split() == ["NoNewPrivs:", "0"]
        assert exec_harness.output(asked).split() == ["NoNewPrivs:", "1"]

    def test_rlimits_oom_score_and_sysctls(self, exec_harness):
        cid, final = exec_harness.applied_or_refused(
            "rlimits, an OOM score and sysctls",
            ["sh", "-c", "ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj /proc/sys/net/ipv4/ip_forward"],
            host_config={"Ulimits": [{"Name": "nofile", "Soft": 100, "Hard": 200}], "OomScoreAdj": 300,
                         "Sysctls": {"net.ipv4.ip_forward": "1"}})
        assert final.exit_code == 0, exec_harness.output(cid, "stderr")
        assert exec_harness.output(cid).split() == ["100", "200", "300", "1"]

    def test_host_pid_and_uts_namespaces(self, exec_harness):
        cid, final = exec_harness.applied_or_refused("the host's pid and uts namespaces",
                                                     ["sh", "-c", "cat /proc/1/comm; hostname"],
                                                     host_config={"PidMode": "host", "UTSMode": "host"})
        assert final.exit_code == 0, exec_harness.output(cid, "stderr")
        with open("/proc/1/comm") as f:
            assert exec_harness.output(cid).split() == [f.read().strip(), socket.gethostname()]

    def test_shm_size_and_no_shm_without_ipc(self, exec_harness):
        sized, _ = exec_harness.applied_or_refused("a /dev/shm size", ["sh", "-c", "df -k /dev/shm | tail -1"],
                                                   host_config={"ShmSize": 1 << 20})
        assert exec_harness.output(sized).split()[1] == "1024"
        none, _ = exec_harness.applied_or_refused("--ipc none", ["sh", "-c", "ls /dev/shm 2>&1; true"],
                                                  host_config={"IpcMode": "none"})
        assert "No such file or directory" in exec_harness.output(none)

    def test_a_mapped_device_with_read_permission_only(self, exec_harness):
        exec_harness.require_limit("devices")
        if not os.path.exists("/dev/loop0"):
            pytest.fail("this test needs a loop device (/dev/loop0): modprobe loop")
        mapping = {"PathOnHost": "/dev/loop0", "PathInContainer": "/dev/xloop", "CgroupPermissions": "r"}
        cid, _ = exec_harness.run(["sh", "-c", "head -c1 /dev/xloop >/dev/null && echo read; "
                                               "echo x 2>&1 >/dev/xloop; true"], host_config={"Devices": [mapping]})
        assert exec_harness.output(cid).splitlines()[0] == "read"
        assert "Operation not permitted" in exec_harness.output(cid) + exec_harness.output(cid, "stderr")

    def test_joining_another_containers_ipc_and_pid_namespaces(self, exec_harness):
        donor, state = exec_harness.create(["sh", "-c", "echo hi > /dev/shm/m; sleep 1000"],
                                           host_config={"IpcMode": "shareable"})
        exec_harness.exec.start(donor)
        joins = {"pid": state.pid, "ipc": state.pid}
        cid, final = exec_harness.applied_or_refused("another container's ipc and pid namespaces",
                                                     ["sh", "-c", "sleep 0.3; cat /dev/shm/m /proc/1/comm"], joins=joins,
                                      host_config={"IpcMode": f"container:{donor}", "PidMode": f"container:{donor}"})
        assert final.exit_code == 0, exec_harness.output(cid, "stderr")
        assert exec_harness.output(cid).split() == ["hi", "sleep"]  # the donor's pid 1 (sh exec'd sleep)
        exec_harness.exec.delete(cid, force=True)
        exec_harness.exec.delete(donor, force=True)
