"""``kill --all`` in the native driver: freeze, signal every process, thaw — and a cgroup that vanished
meanwhile (its last process died, its monitor removed it) is not an error."""

from __future__ import annotations

import signal

from berth.plugins.execdrivers.native.driver import NativeDriver


class VanishingCgroup:
    """A cgroup whose processes are gone by the time it is thawed."""

    def __init__(self):
        self.calls = []

    def dir(self, controller):
        return f"/sys/fs/cgroup/{controller}/berth/x"

    def freeze(self):
        self.calls.append("freeze")

    def procs(self):
        return []

    def thaw(self):
        self.calls.append("thaw")
        raise FileNotFoundError(2, "No such file or directory", "/sys/fs/cgroup/freezer/berth/x/freezer.state")


class Driver:
    def __init__(self, cgroup):
        self.cgroup = cgroup

    def _cgroups(self, record):
        return self.cgroup


def test_sigkill_to_a_container_whose_cgroup_vanished_is_not_an_error():
    cgroup = VanishingCgroup()
    NativeDriver._kill_all(Driver(cgroup), "x", {"pid": 1, "pid_start": 0}, signal.SIGKILL)
    assert cgroup.calls == ["freeze", "thaw"]
