"""A network namespace made for a benchmark: berthd runs with its bridges and NAT rules in there,
never in the host's namespace. Created with ``ip netns add``, deleted by name."""

from __future__ import annotations

import os
import subprocess


class Sandbox:
    """A network namespace of our own, with only ``lo`` (up); deleted by name."""

    def __init__(self, tag: str = "bench") -> None:
        self.name = f"berth-{tag}-{os.getpid():x}"
        for argv in (["ip", "netns", "add", self.name], ["ip", "-n", self.name, "link", "set", "lo", "up"]):
            done = subprocess.run(argv, capture_output=True, text=True)
            if done.returncode != 0:
                self.delete()
                raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
        self.path = f"/run/netns/{self.name}"

    def enter(self, argv: list[str]) -> list[str]:
        """``argv`` run in the sandbox's network namespace only (mounts and /sys stay the host's;
        ``ip netns exec`` would remount /sys and hide the cgroup hierarchies)."""
        return ["nsenter", f"--net={self.path}", *argv]

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True)
