"""Shared fixtures: a real berthd on a temporary data-root, and the suite's leak check.

The leak check runs once for the whole session: after the last test, no mount
under the suite's temp root, no cgroup under a ``berth`` parent, no process and
no network namespace made by the suite may remain.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The example plugins' own tests run berth's kits (the suite runs those kits itself, over every installed driver)
collect_ignore_glob = ["plugins/*/tests"]
BUSYBOX = shutil.which("busybox") or "/bin/busybox"


def pytest_configure(config):
    config.addinivalue_line("markers", "integration: needs root, mounts and namespaces")
    from tests.plugins.install import ensure_installed

    ensure_installed()  # the example plugins (graph, network, exec, extension), as a third party installs them


# ---------------------------------------------------------------------------
# leak check
# ---------------------------------------------------------------------------


def _mounts_under(prefix: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(prefix)]


def _berth_cgroups() -> set[str]:
    """Every container cgroup in berth's parent cgroups (``/berth``, the kits' ``/berth-kit``...), and the
    parents that still hold one. An empty parent is not a leak: like dockerd's ``/docker`` it may stay."""
    children = {p for p in glob.glob("/sys/fs/cgroup/*/berth*/*") if os.path.isdir(p)}
    return children | {os.path.dirname(p) for p in children}


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
            root = os.readlink(f"/proc/{entry}/root")
        except OSError:
            continue
        if text.encode() in cmdline or root.startswith(text):
            found.append(int(entry))
    return found


@pytest.fixture(scope="session")
def suite_tmp():
    path = tempfile.mkdtemp(prefix="berth-suite-", dir="/var/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def leak_check(suite_tmp):
    cgroups_before = _berth_cgroups()
    netns_before = set(glob.glob("/run/netns/berth-test-*"))
    yield
    leaks = []
    if mounts := _mounts_under(suite_tmp):
        leaks.append(f"mounts left: {mounts}")
    if pids := _processes_mentioning(suite_tmp):
        leaks.append(f"processes left: {pids}")
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    if cgroups := sorted(_berth_cgroups() - cgroups_before):
        leaks.append(f"cgroups left: {cgroups}")
    if netns := sorted(set(glob.glob("/run/netns/berth-test-*")) - netns_before):
        leaks.append(f"network namespaces left: {netns}")
    for mount in reversed(_mounts_under(suite_tmp)):
        subprocess.run(["umount", "-l", mount], check=False)
    assert not leaks, "the suite leaked: " + "; ".join(leaks)


# ---------------------------------------------------------------------------
# a real daemon
# ---------------------------------------------------------------------------


class Daemon:
    """A berthd subprocess on its own data-root, exec-root and socket."""

    def __init__(self, base: str, args: list[str] = (), env: dict | None = None, netns: str | None = None):
        self.base = base
        self.netns = netns  # run inside this named network namespace (with the default bridge)
        self.data_root = os.path.join(base, "data")
        self.exec_root = os.path.join(base, "run")
        self.socket = os.path.join(self.exec_root, "berth.sock")
        self.host = "unix://" + self.socket
        self.args = list(args)
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(base, "berthd.log")

    def command(self) -> list[str]:
        # Outside a test namespace there is no default bridge: nothing may touch the host's network.
        bridge = [] if self.netns else ["--bridge", "none"]
        prefix = ["nsenter", f"--net=/run/netns/{self.netns}"] if self.netns else []
        return [*prefix, sys.executable, "-m", "berth.daemon", "--data-root", self.data_root, "--exec-root",
                self.exec_root, "-H", self.host, *bridge, "--config-file", os.path.join(self.base, "daemon.json"),
                *self.args]

    def start(self, timeout: float = 20) -> "Daemon":
        cfg = os.path.join(self.base, "daemon.json")
        if not os.path.exists(cfg):
            with open(cfg, "w") as f:
                f.write("{}")
        env = {**os.environ, **(self.env or {})}
        self.logfile = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), stdout=self.logfile, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"berthd exited with {self.proc.returncode}:\n{self.log()}")
            if os.path.exists(self.socket) and self.cli("version").returncode == 0:
                return self
            time.sleep(0.05)
        raise RuntimeError(f"berthd did not come up in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()[-6000:]
        except OSError:
            return ""

    def cli(self, *args: str, input: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "berth.cli.main", "-H", self.host, *args],
                              input=input, capture_output=True, timeout=timeout)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "logfile", None):
            self.logfile.close()

    def remove_everything(self) -> None:
        """Force-remove every container (so mounts, cgroups and monitors go) before stopping."""
        if self.proc and self.proc.poll() is None:
            ids = self.cli("ps", "-aq", "--no-trunc").stdout.decode().split()
            if ids:
                self.cli("rm", "-f", *ids)


@pytest.fixture(scope="session")
def busybox_path():
    if not os.path.exists(BUSYBOX):
        pytest.fail("busybox-static is not installed (apt-get install busybox-static)")
    return BUSYBOX


@pytest.fixture(scope="module")
def daemon(suite_tmp, busybox_path, request):
    """A berthd with busybox:latest bootstrapped, shared by the tests of one module."""
    base = tempfile.mkdtemp(prefix="d-", dir=suite_tmp)
    d = Daemon(base, getattr(request.module, "DAEMON_ARGS", ["-s", "vfs"])).start()
    result = d.cli("image", "bootstrap", "busybox")
    assert result.returncode == 0, result.stderr.decode() + d.log()
    yield d
    d.remove_everything()
    d.stop()
    _unmount_all(base)


@pytest.fixture
def sandbox_netns():
    """A network namespace of the test's own; everything networked happens inside it, then it is deleted."""
    import secrets

    name = f"berth-test-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def in_netns(netns: str, *command: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """Run a host command inside the sandbox namespace (nsenter keeps /sys and the cgroups visible)."""
    return subprocess.run(["nsenter", f"--net=/run/netns/{netns}", *command], capture_output=True, timeout=timeout)


def _unmount_all(base: str) -> None:
    for mount in reversed(_mounts_under(base)):
        subprocess.run(["umount", "-l", mount], check=False)


@pytest.fixture
def make_daemon(suite_tmp):
    """Factory for tests that need their own daemon (flags, env, restarts)."""
    made: list[Daemon] = []

    def make(args=(), env=None, base=None, netns=None) -> Daemon:
        d = Daemon(base or tempfile.mkdtemp(prefix="d-", dir=suite_tmp), list(args), env, netns)
        made.append(d)
        return d

    yield make
    for d in made:
        d.remove_everything()
        d.stop()
        _unmount_all(d.base)


@pytest.fixture
def small_disk_daemon(make_daemon, suite_tmp, busybox_path):
    """A berthd (vfs) whose data-root is a 24 MiB tmpfs, with busybox (2 MiB of it): for full-disk tests."""
    base = tempfile.mkdtemp(prefix="small-disk-", dir=suite_tmp)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", base], check=True)
    try:
        d = make_daemon(args=["-s", "vfs"], base=base).start()
        assert d.cli("image", "bootstrap", "busybox").returncode == 0, d.log()
        yield d
        d.remove_everything()
        d.stop()
    finally:
        subprocess.run(["umount", "-l", base], check=False)
