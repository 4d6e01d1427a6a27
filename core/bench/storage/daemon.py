"""A private berthd for one graph driver, and the containers the container workloads run in.

Each driver gets a fresh data-root and exec-root under the run's directory, its own
socket, ``--bridge none`` (nothing touches the host's network; containers run with
``--network none``) and ``-s NAME``. The per-hook split of a container's storage work
comes from the daemon's own tracing (``GET /info``'s ``DriverCalls``), read before
the container is created and after it is removed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import BinaryIO, Callable

from berth.cli.client import APIError, Client, DaemonUnreachable
from berth.plugins.graphdrivers.mounts import mounts_under, sys_umount

START_TIMEOUT = 60.0
RUN_TIMEOUT = 3600.0


class DaemonFailed(RuntimeError):
    """berthd did not start, or a container did not run as asked; the message has berthd's log tail."""


class PrivateDaemon:
    """berthd with graph driver ``driver`` on a fresh root under ``base``."""

    def __init__(self, base: str, driver: str, storage_opt_args: list[str] = ()):
        self.base, self.driver, self.storage_opt_args = base, driver, list(storage_opt_args)
        self.data_root = os.path.join(base, "data")
        self.exec_root = os.path.join(base, "run")
        self.socket = os.path.join(self.exec_root, "berth.sock")
        self.log_path = os.path.join(base, "berthd.log")
        self.client = Client("unix://" + self.socket)
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        os.makedirs(self.base, exist_ok=True)
        config = os.path.join(self.base, "daemon.json")
        with open(config, "w", encoding="utf-8") as f:
            f.write("{}")
        command = [sys.executable, "-m", "berth.daemon", "--data-root", self.data_root, "--exec-root", self.exec_root,
                   "-H", "unix://" + self.socket, "--bridge", "none", "--config-file", config, "-s", self.driver, *self.storage_opt_args]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise DaemonFailed(f"berthd -s {self.driver} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.client.get("/_ping")
                return
            except (DaemonUnreachable, APIError, OSError):
                time.sleep(0.05)
        raise DaemonFailed(f"berthd -s {self.driver} did not answer within {START_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def log_tail(self, size: int = 3000) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()[-size:]
        except OSError:
            return ""

    def load(self, produce: Callable[[BinaryIO], None]) -> None:
        """``POST /images/load`` of the docker-archive that ``produce`` writes (streamed, never on disk)."""
        from berth.images.pipestream import producer_stream

        with producer_stream(produce, what="bench image") as archive:
            resp = self.client.open("POST", "/images/load", {"quiet": True}, body=archive,
                                    headers={"Content-Type": "application/x-tar"})
            for line in resp.read().decode(errors="replace").splitlines():
                if '"error"' in line:
                    raise DaemonFailed(f"loading the bench image into berthd -s {self.driver}: {line}")

    def hook_calls(self) -> dict[str, tuple[int, float]]:
        """The graph driver's cumulative (calls, seconds) per hook, as this daemon traced them.

        ``graph_status`` is left out: ``GET /info`` itself calls it, so it counts this bench's asking.
        """
        calls = self.client.get("/info").get("DriverCalls") or {}
        return {key.split(".", 1)[1]: (value["calls"], value["seconds"])
                for key, value in calls.items() if key.startswith("graph.") and key != "graph.graph_status"}

    def run(self, image: str, command: list[str], binds: list[str],
            before_start: Callable[[], None] | None = None) -> tuple[float, dict[str, tuple[int, float]]]:
        """Run ``command`` in a new container of ``image`` and remove it; (wall seconds, hook calls it made).

        ``before_start`` runs between create and start (dropping the page cache there leaves
        it cold for the workload, also after a driver that copied the image at create).
        """
        before = self.hook_calls()
        began = time.perf_counter()
        created = self.client.post("/containers/create", {
            "Image": image, "Cmd": command, "WorkingDir": "/",
            "HostConfig": {"Binds": binds, "NetworkMode": "none"},
        })
        cid = created["Id"]
        try:
            if before_start is not None:
                paused = time.perf_counter()
                before_start()
                began += time.perf_counter() - paused  # not the container's time
            self.client.post(f"/containers/{cid}/start")
            status = self.client.call("POST", f"/containers/{cid}/wait", {})  # no timeout: the workload's own
            wall = time.perf_counter() - began
            if status.get("StatusCode") != 0:
                raise DaemonFailed(f"the workload exited with {status.get('StatusCode')} on driver {self.driver}: "
                                   f"{self._logs(cid)}")
        finally:
            self.client.delete(f"/containers/{cid}", force=True)
        after = self.hook_calls()
        hooks = {hook: (calls - before.get(hook, (0, 0.0))[0], seconds - before.get(hook, (0, 0.0))[1])
                 for hook, (calls, seconds) in after.items() if calls != before.get(hook, (0, 0.0))[0]}
        return wall, hooks

    def _logs(self, cid: str) -> str:
        try:
            raw = self.client.call("GET", f"/containers/{cid}/logs", {"stdout": True, "stderr": True})
        except APIError as exc:
            return f"(no logs: {exc.message})"
        return _demux(raw if isinstance(raw, bytes) else json.dumps(raw).encode())[-2000:]

    def stop(self) -> None:
        """Remove every container, stop berthd, and unmount whatever it left under its root."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                for container in self.client.get("/containers/json", all=True) or []:
                    self.client.delete(f"/containers/{container['Id']}", force=True)
            except (APIError, DaemonUnreachable, OSError):
                pass
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for point in reversed(mounts_under(self.base)):
            sys_umount(point)


def _demux(raw: bytes) -> str:
    """The text of a multiplexed (8-byte framed) log stream."""
    out, i = [], 0
    while i + 8 <= len(raw) and raw[i] in (0, 1, 2):
        size = int.from_bytes(raw[i + 4:i + 8], "big")
        out.append(raw[i + 8:i + 8 + size])
        i += 8 + size
    return (b"".join(out) if out else raw).decode(errors="replace")

