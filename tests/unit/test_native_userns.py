"""The native driver's user-namespace prelude: the order in which the monitor hears from the two processes."""

from __future__ import annotations

import os
import time

from berth.plugins.execdrivers.monitoring import channel
from berth.plugins.execdrivers.native import userns


def test_the_monitor_hears_pid_1s_pid_before_anything_pid_1_says(monkeypatch):
    """The forking process tells the monitor pid 1's pid; pid 1 shares the channel and must not be
    heard first even when the forking process is slow to send (a busy host)."""
    ours, theirs = channel.pair()
    real_send = channel.send

    def slow_send(sock, message, fds=()):
        if "init_pid" in message:
            time.sleep(0.3)
        real_send(sock, message, fds)

    monkeypatch.setattr(userns.channel, "send", slow_send)
    forker = os.fork()
    if forker == 0:  # the init's role: fork pid 1 (no pid namespace asked for) and report it
        try:
            ours.close()
            userns.fork_pid1({"linux": {"namespaces": []}}, theirs)
            real_send(theirs, {"ready": True})  # only pid 1 gets here
        finally:
            os._exit(0)
    theirs.close()
    first, _ = channel.recv(ours)
    second, _ = channel.recv(ours)
    os.waitpid(forker, 0)
    assert "init_pid" in first and second == {"ready": True}
