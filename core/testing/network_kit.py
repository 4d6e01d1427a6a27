"""Conformance kit for network drivers: a pytest plugin every driver, built-in or third-party, runs against itself.

Run it for one driver (or several, repeating the option)::

    pytest -p berth.testing --berth-netdriver=NAME [--berth-extension=EXT]

(``pytest -p berth.testing.network_kit --pyargs berth.testing.network_kit --berth-netdriver=NAME``
works too).
Without ``--berth-netdriver`` the tests are parametrised over every installed
network driver (entry-point group ``berth.netdrivers``). A test module may also
pull the kit in with ``from berth.testing.network_kit import *``.

Safety: every test runs with the test thread inside a network namespace the kit
creates (``ip netns add``, then ``setns`` of the thread, as ``nsenter --net`` does),
and each "container" is an ``unshare -n sleep`` child started from there. Bridges,
veths and firewall rules a driver makes therefore land in that namespace, which is
deleted afterwards; the kit refuses to run a test in the machine's own namespace.

The kit drives the driver through berth's own plugin manager and facade, exactly as
the engine does, and checks the contract of :mod:`berth.hookspecs.network`:
idempotent create/delete, sandbox/join/leave, and that cleanup leaves no interface.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import uuid
from dataclasses import dataclass
from typing import Iterator

import pytest

from berth.errors import Conflict, NotImplementedYet
from berth.hookspecs.types import EndpointInfo, NetDriverOptions, NetworkConfig, PortBinding, Sandbox
from berth.testing import add_kit_options, harness

__all__ = ["TestNetworkDriverContract", "containers", "kit_netns", "netdriver", "pytest_generate_tests"]

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


# ---------------------------------------------------------------------------
# namespaces made by the test
# ---------------------------------------------------------------------------


def netns_inode(path: str = "/proc/thread-self/ns/net") -> int:
    """The inode identifying the network namespace at ``path``."""
    return os.stat(path).st_ino


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns(CLONE_NEWNET) failed: {os.strerror(err)}")


def _host_netns() -> int:
    # PID 1's namespace is the machine's; where /proc/1 is out of reach (a sandboxed
    # runner), the namespace this process started in is the one never to touch.
    try:
        return netns_inode("/proc/1/ns/net")
    except OSError:
        return netns_inode("/proc/self/ns/net")


#: The machine's own network namespace (or the one the test process started in).
HOST_NETNS = _host_netns()
START_NETNS = netns_inode("/proc/self/ns/net")


@contextlib.contextmanager
def sandbox_netns(prefix: str = "berth-test") -> Iterator[str]:
    """Create a named network namespace, move the calling thread into it, and yield its path.

    ``lo`` is brought up inside (loopback traffic is all the kit sends outside the
    containers). On exit the thread returns and the namespace is deleted.
    """
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    path = f"/run/netns/{name}"
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            here = netns_inode()
            if here in (HOST_NETNS, START_NETNS, os.fstat(own).st_ino):
                raise RuntimeError("refusing to run a network test: the thread did not leave the host's network namespace")
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
            yield path
        finally:
            _setns(own)
    finally:
        os.close(own)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def assert_not_host_netns() -> None:
    """Fail unless the calling thread is in a network namespace other than the machine's."""
    assert netns_inode() not in (HOST_NETNS, START_NETNS), "network test would touch the machine's own network namespace"


@dataclass
class FakeContainer:
    """A process in a network namespace of its own, standing in for a container's init."""

    pid: int
    proc: subprocess.Popen

    @property
    def netns_path(self) -> str:
        return f"/proc/{self.pid}/ns/net"

    def run(self, *argv: str, **kwargs) -> subprocess.CompletedProcess:
        """Run a command inside this container's network namespace."""
        return subprocess.run(["nsenter", f"--net={self.netns_path}", *argv], capture_output=True, text=True, **kwargs)

    def links(self) -> list[str]:
        """Names of the interfaces inside the container."""
        out = self.run("ip", "-o", "link", "show", check=True).stdout
        return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if line.strip()]

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.proc.wait()


def start_container() -> FakeContainer:
    """Start ``unshare -n sleep`` from the current namespace; return once it has its own namespace."""
    parent = netns_inode()
    proc = subprocess.Popen(["unshare", "-n", "sleep", "1000"])
    box = FakeContainer(proc.pid, proc)
    # unshare(2) happens before exec, so the namespace changes within a few scheduler ticks;
    # poll a bounded number of times instead of sleeping for a guessed duration.
    for _ in range(100000):
        try:
            if netns_inode(box.netns_path) != parent:
                return box
        except FileNotFoundError:
            pass
        if proc.poll() is not None:
            break
        os.sched_yield()
    box.kill()
    raise RuntimeError("unshare -n sleep did not get a network namespace of its own")


def host_links() -> list[str]:
    """Interface names in the calling thread's network namespace."""
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    return sorted(line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if line.strip())


# ---------------------------------------------------------------------------
# plugin options and fixtures
# ---------------------------------------------------------------------------


def pytest_addoption(parser) -> None:
    add_kit_options(parser)


def pytest_generate_tests(metafunc) -> None:
    """Each test once per driver: those named with ``--berth-netdriver``, else those a test module
    importing the kit lists in ``BERTH_NETDRIVERS``, else every installed one."""
    # The hook runs twice when the kit is both loaded with -p and collected as the test
    # module (``--pyargs berth.testing.network_kit``); parametrise only once.
    if "netdriver_name" in metafunc.fixturenames and not getattr(metafunc, "_berth_netdriver_done", False):
        metafunc._berth_netdriver_done = True
        names = (metafunc.config.getoption("berth_netdriver", default=None)
                 or getattr(metafunc.module, "BERTH_NETDRIVERS", None) or harness.installed("network"))
        metafunc.parametrize("netdriver_name", list(names))


@pytest.fixture
def kit_netns() -> Iterator[str]:
    """The test thread inside a fresh network namespace (deleted afterwards)."""
    with sandbox_netns("berth-kit") as path:
        yield path


@pytest.fixture
def containers() -> Iterator[callable]:
    """A factory of fake containers; every one is killed (by PID) at the end of the test."""
    made: list[FakeContainer] = []

    def make() -> FakeContainer:
        assert_not_host_netns()
        box = start_container()
        made.append(box)
        return box

    yield make
    for box in made:
        box.kill()


@pytest.fixture
def netdriver(netdriver_name, kit_netns, tmp_path, request):
    """The driver named ``netdriver_name``, behind berth's plugin manager and facade (with the extensions
    named by ``--berth-extension``), constructed with daemon options as berthd passes them."""
    root = tmp_path / "network" / netdriver_name
    root.mkdir(parents=True)
    options: NetDriverOptions = {
        "bridge": "berthkit0", "bip": "10.199.0.1/24", "default_address_pools": [{"base": "10.200.0.0/16", "size": 24}],
        "dns": [], "exec_root": str(tmp_path / "run"), "data_root": str(tmp_path)}
    facade = harness.open_kit_driver("network", netdriver_name, str(root), dict(options), request.config)
    yield facade
    facade.cleanup()


def _network(name: str = "kitnet") -> NetworkConfig:
    return NetworkConfig(id=uuid.uuid4().hex + uuid.uuid4().hex, name=name)


# ---------------------------------------------------------------------------
# the contract
# ---------------------------------------------------------------------------


class TestNetworkDriverContract:
    """What every network driver must do, whatever it builds."""

    def test_create_network_is_idempotent(self, netdriver):
        net = _network()
        first = netdriver.create_network(net)
        again = netdriver.create_network(net)
        assert again == first
        netdriver.delete_network(net.id)

    def test_delete_network_is_idempotent_and_accepts_unknown_ids(self, netdriver):
        net = _network()
        netdriver.create_network(net)
        netdriver.delete_network(net.id)
        netdriver.delete_network(net.id)
        netdriver.delete_network("0" * 64)

    def test_sandbox_is_a_sandbox(self, netdriver):
        net = _network()
        netdriver.create_network(net)
        try:
            box = netdriver.sandbox(net.id, "c" * 64)
            assert isinstance(box, Sandbox)
            assert not (box.share_host and box.netns_path)
        finally:
            netdriver.delete_network(net.id)

    def test_join_reports_the_endpoint_and_lo_is_up(self, netdriver, containers):
        net = _network()
        netdriver.create_network(net)
        box = netdriver.sandbox(net.id, "c1")
        try:
            if box.share_host:
                info = netdriver.join(net.id, "e1", None, {"container_name": "c1"})
                assert isinstance(info, EndpointInfo) and info.endpoint_id == "e1"
                return
            c = containers()
            info = netdriver.join(net.id, "e1", c.netns_path, {"container_name": "c1", "aliases": []})
            assert isinstance(info, EndpointInfo) and info.endpoint_id == "e1"
            lo = c.run("ip", "-o", "link", "show", "lo", check=True).stdout
            assert "UP" in lo.split(">")[0], f"lo is not up in the container: {lo}"
            if info.interface:
                assert info.interface in c.links()
                addrs = c.run("ip", "-o", "-4", "addr", "show", "dev", info.interface, check=True).stdout
                if info.ipv4_address:
                    assert info.ipv4_address in addrs
            netdriver.leave(net.id, "e1")
        finally:
            netdriver.delete_network(net.id)

    def test_leave_is_idempotent(self, netdriver, containers):
        net = _network()
        netdriver.create_network(net)
        box = netdriver.sandbox(net.id, "c1")
        c = None if box.share_host else containers()
        netdriver.join(net.id, "e1", c.netns_path if c else None, {})
        netdriver.leave(net.id, "e1")
        netdriver.leave(net.id, "e1")
        netdriver.leave(net.id, "never-joined")
        netdriver.delete_network(net.id)

    def test_cleanup_leaves_no_interfaces(self, netdriver, containers):
        before = host_links()
        net = _network()
        netdriver.create_network(net)
        box = netdriver.sandbox(net.id, "c1")
        joined = []
        for i in range(2):
            c = None if box.share_host else containers()
            before_c = c.links() if c else []
            netdriver.join(net.id, f"e{i}", c.netns_path if c else None, {})
            joined.append((f"e{i}", c, before_c))
        for eid, c, before_c in joined:
            netdriver.leave(net.id, eid)
            if c:
                assert c.links() == before_c, f"interfaces left in the container after leave: {c.links()}"
        netdriver.delete_network(net.id)
        assert host_links() == before, f"interfaces left behind: {sorted(set(host_links()) - set(before))}"

    def test_delete_network_with_endpoints_removes_them(self, netdriver, containers):
        before = host_links()
        net = _network()
        netdriver.create_network(net)
        box = netdriver.sandbox(net.id, "c1")
        c = None if box.share_host else containers()
        netdriver.join(net.id, "e1", c.netns_path if c else None, {})
        netdriver.delete_network(net.id)
        assert host_links() == before

    def test_publish_port_conflict_or_unsupported(self, netdriver, containers):
        import socket

        net = _network()
        netdriver.create_network(net)
        try:
            box = netdriver.sandbox(net.id, "c1")
            c = None if box.share_host else containers()
            netdriver.join(net.id, "e1", c.netns_path if c else None, {})
            taken = socket.socket()
            taken.bind(("0.0.0.0", 0))
            taken.listen(1)
            try:
                with pytest.raises((Conflict, NotImplementedYet)):
                    netdriver.publish_port(net.id, "e1", PortBinding(80, "tcp", "", taken.getsockname()[1]))
            finally:
                taken.close()
            try:
                bound = netdriver.publish_port(net.id, "e1", PortBinding(80, "tcp"))
            except NotImplementedYet:
                return
            assert bound.host_port > 0 and bound.container_port == 80
            netdriver.unpublish_port(net.id, "e1", bound)
            netdriver.unpublish_port(net.id, "e1", bound)
            # The host port is free again once unpublished.
            probe = socket.socket()
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("0.0.0.0", bound.host_port))
            probe.close()
            netdriver.leave(net.id, "e1")
        finally:
            netdriver.delete_network(net.id)
