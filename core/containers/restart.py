"""Restart policies and Docker's back-off (moby ``restartmanager``).

Delays start at 100 ms and double per consecutive restart, up to one minute; a
container that ran for 10 seconds or more resets the delay. A container stopped
by the user is not restarted (and ``unless-stopped`` stays down across daemon
restarts).
"""

from __future__ import annotations

from dataclasses import dataclass

from berth.errors import InvalidArgument

POLICIES = ("no", "always", "unless-stopped", "on-failure")
INITIAL_DELAY = 0.1
MAX_DELAY = 60.0
RESET_AFTER = 10.0


@dataclass
class RestartPolicy:
    name: str = "no"
    maximum_retry_count: int = 0

    @classmethod
    def from_host_config(cls, host_config: dict) -> "RestartPolicy":
        raw = host_config.get("RestartPolicy") or {}
        name = raw.get("Name") or "no"
        if name not in POLICIES:
            raise InvalidArgument(f"invalid restart policy {name!r}; use one of {', '.join(POLICIES)}")
        count = int(raw.get("MaximumRetryCount") or 0)
        if count and name != "on-failure":
            raise InvalidArgument(f"maximum retry count cannot be used with restart policy '{name}'")
        if name != "no" and host_config.get("AutoRemove"):
            raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
        return cls(name, count)

    def should_restart(self, exit_code: int, restart_count: int, manually_stopped: bool) -> bool:
        if manually_stopped or self.name == "no":
            return False
        if self.name == "on-failure":
            return exit_code != 0 and (self.maximum_retry_count == 0 or restart_count < self.maximum_retry_count)
        return True

    def restart_at_daemon_start(self, manually_stopped: bool) -> bool:
        return self.name == "always" or (self.name == "unless-stopped" and not manually_stopped)


def parse_cli(text: str) -> dict:
    """``--restart on-failure:3`` -> Docker's RestartPolicy object."""
    name, _, count = text.partition(":")
    if name not in POLICIES:
        raise InvalidArgument(f"invalid restart policy {text!r}; use no, always, unless-stopped or on-failure[:N]")
    if count and not count.isdigit():
        raise InvalidArgument(f"invalid restart policy {text!r}: the retry count must be a number")
    return {"Name": name, "MaximumRetryCount": int(count or 0)}


def next_delay(previous: float, ran_for: float) -> float:
    if ran_for >= RESET_AFTER or previous <= 0:
        return INITIAL_DELAY
    return min(previous * 2, MAX_DELAY)
