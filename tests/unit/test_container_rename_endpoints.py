"""A rename updates a running container's endpoints, unless the container exited meanwhile (dockerd: the
rename stands, and the exit takes the endpoints away)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from berth.containers.networking import NetworkingMixin
from berth.errors import DriverError


class Manager(NetworkingMixin):
    """Just what ``_rename_endpoints`` uses: the networks, a network by name, the join options."""

    def __init__(self):
        self.joined: list[tuple[str, str | None]] = []
        self.networks = SimpleNamespace(join=self._join)

    def _join(self, network, container_id, netns, options):
        if netns and netns.startswith("/proc/0/"):
            raise DriverError(f"network driver 'bridge': attaching endpoint to {network} failed: no {netns}")
        self.joined.append((network, options["container_name"]))

    def _network_of(self, name, record):
        return name

    def _join_options(self, c, record):
        return {"container_name": c.name}


def container(netns: str) -> SimpleNamespace:
    return SimpleNamespace(id="c" * 64, name="renamed", endpoints={"bridge": {"endpoint_id": "e1", "netns": netns}})


def test_a_running_containers_endpoints_answer_for_its_new_name(tmp_path):
    manager = Manager()
    netns = tmp_path / "net"
    netns.write_text("")
    manager._rename_endpoints(container(str(netns)))
    assert manager.joined == [("bridge", "renamed")]


def test_a_container_whose_namespace_is_gone_is_renamed_without_its_endpoints():
    Manager()._rename_endpoints(container("/proc/0/ns/net"))  # exited between the check and the join


def test_a_join_failing_for_another_reason_is_still_an_error(tmp_path, monkeypatch):
    manager = Manager()
    monkeypatch.setattr("os.path.exists", lambda path: True)
    with pytest.raises(DriverError):
        manager._rename_endpoints(container("/proc/0/ns/net"))
