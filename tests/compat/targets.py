"""The two daemons docker-py's suite runs against, each set up with the images it wants and cleaned after.

* :class:`BerthTarget` is a private berthd inside a network namespace made for it
  (its default bridge lives there, never in the host's namespace); everything it
  made goes with its temp data-root, its mounts and the namespace.
* :class:`DockerTarget` is the lab's real dockerd (network namespace ``labpeer``),
  which is shared with other sessions: only the image tags the runner added and
  what the tests created (recorded by ``dockerpy_plugin``; the ``dockerpytest_*``
  volumes their mounts make) are removed, never anything that was there before.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.conftest import Daemon, _unmount_all  # noqa: E402  (the suite's berthd wrapper, reused)

# What docker-py's tests expect to find locally: TEST_IMG is alpine:3.10, some use busybox and alpine.
TEST_IMAGE_TAGS = ("busybox:latest", "alpine:latest", "alpine:3.10")
LAB_DOCKER_SOCKET = "/run/lab-docker.sock"
LAB_DOCKER_NETNS = "labpeer"
LAB_DOCKER_PIDFILE = "/run/lab-docker.pid"
BERTH_BRIDGE_IP = "10.232.0.1/24"
DOCKER_PY_PREFIX = "dockerpytest_"  # docker-py's helpers.random_name()
SWARM_BRIDGE = "docker_gwbridge"  # made by swarm init, left behind by swarm leave


class BerthTarget:
    """A berthd on a temp data-root inside a fresh network namespace, with busybox under every test tag."""

    name = "berthd"

    def __init__(self, workdir: str, storage_driver: str):
        self.base = tempfile.mkdtemp(prefix="berthd-", dir=workdir)
        self.netns = "berth-compat-" + secrets.token_hex(4)
        self.daemon = Daemon(self.base, ["-s", storage_driver, "--bip", BERTH_BRIDGE_IP], netns=self.netns)
        self.host = self.daemon.host

    def prepare(self) -> None:
        subprocess.run(["ip", "netns", "add", self.netns], check=True)
        subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True)
        self.daemon.start()
        self._berth("image", "bootstrap", "busybox")
        for tag in TEST_IMAGE_TAGS[1:]:
            self._berth("tag", "busybox:latest", tag)

    def cleanup(self, record_path: str) -> list[str]:
        """Stop berthd and remove its containers, mounts, data-root and namespace; returns what was removed."""
        self.daemon.remove_everything()
        self.daemon.stop()
        _unmount_all(self.base)
        subprocess.run(["ip", "netns", "delete", self.netns], check=False)
        shutil.rmtree(self.base, ignore_errors=True)
        return [f"berthd {self.base}", f"netns {self.netns}"]

    def notes(self) -> list[str]:
        return []

    def log(self) -> str:
        """berthd's whole log (kept with the results for triage)."""
        with open(self.daemon.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def _berth(self, *args: str) -> None:
        result = self.daemon.cli(*args)
        if result.returncode != 0:
            raise RuntimeError(f"berth {' '.join(args)}: {result.stderr.decode()}\n{self.daemon.log()}")


class DockerTarget:
    """The lab's real dockerd, given the test tags for its busybox and left as it was found."""

    name = "dockerd"
    netns = LAB_DOCKER_NETNS
    host = "unix://" + LAB_DOCKER_SOCKET

    def __init__(self):
        self.client = None
        self.before: dict = {}
        self.pid_before = _read(LAB_DOCKER_PIDFILE)

    @staticmethod
    def available() -> str | None:
        """None when the lab dockerd answers, else why not."""
        if not os.path.exists(LAB_DOCKER_SOCKET):
            return f"no dockerd socket at {LAB_DOCKER_SOCKET} (start it with ../shared/peers/start-dockerd.sh)"
        if not os.path.exists(f"/run/netns/{LAB_DOCKER_NETNS}"):
            return f"network namespace {LAB_DOCKER_NETNS} is missing"
        return None

    def prepare(self) -> None:
        import docker

        self.client = docker.APIClient(base_url=self.host, version="auto", timeout=120)
        self.before = self._snapshot()
        self.started = int(time.time()) - 1
        for tag in TEST_IMAGE_TAGS:
            if tag not in self.before["tags"]:
                repository, _, name = tag.partition(":")
                self.client.tag("busybox:latest", repository, name)

    def cleanup(self, record_path: str) -> list[str]:
        """Remove what the tests made (as recorded), the test tags, and swarm membership; nothing else.

        The dockerd is shared with other sessions' tests, so nothing is removed for being merely new:
        only what the plugin saw docker-py's tests create, and never what existed before the run.
        """
        removed = self._remove_recorded(record_path)
        removed += self._remove_implicit_volumes()
        removed += self._leave_swarm_if_joined()
        removed += self._remove_images([*_recorded_values(record_path, "images"), *TEST_IMAGE_TAGS])
        removed += self._remove_orphaned_build_steps()
        self.client.close()
        return removed

    def log(self) -> str:
        return ""

    def notes(self) -> list[str]:
        """Warnings about the run: the shared dockerd may be restarted by someone else's test suite meanwhile."""
        if _read(LAB_DOCKER_PIDFILE) != self.pid_before:
            return [f"dockerd restarted during the run (pid file {LAB_DOCKER_PIDFILE} changed): tests that ran "
                    "while it was down failed with 'Connection refused'; run again for reliable dockerd results"]
        return []

    def _snapshot(self) -> dict:
        images = self.client.images(all=True)
        return {"tags": {tag for image in images for tag in image.get("RepoTags") or []},
                "image_ids": {image["Id"] for image in images},
                "plugins": {plugin["Name"] for plugin in self.client.plugins()},
                "volumes": {v["Name"] for v in self.client.volumes().get("Volumes") or []},
                "networks": {n["Name"] for n in self.client.networks()},
                "swarm": self.client.info()["Swarm"]["LocalNodeState"]}

    def _remove_recorded(self, record_path: str) -> list[str]:
        import docker

        removers = {"containers": lambda i: self.client.remove_container(i, force=True, v=True),
                    "networks": self.client.remove_network, "volumes": self.client.remove_volume,
                    "secrets": self.client.remove_secret, "configs": self.client.remove_config,
                    "plugins": lambda name: self.client.remove_plugin(name, force=True)}
        removed = []
        for kind, object_id in _recorded(record_path):
            if kind == "images" or (kind == "plugins" and object_id in self.before["plugins"]):
                continue
            try:
                removers[kind](object_id)
            except docker.errors.APIError:
                continue  # the test's own tear-down removed it (or the swarm holding it is gone)
            removed.append(f"{kind} {object_id}")
        return removed

    def _remove_implicit_volumes(self) -> list[str]:
        """Named volumes a test's mount created without ``/volumes/create`` (docker-py names them dockerpytest_*)."""
        import docker

        removed = []
        for volume in self.client.volumes().get("Volumes") or []:
            name = volume["Name"]
            if name.startswith(DOCKER_PY_PREFIX) and name not in self.before["volumes"]:
                try:
                    self.client.remove_volume(name, force=True)
                    removed.append(f"volume {name}")
                except docker.errors.APIError:
                    continue
        return removed

    def _leave_swarm_if_joined(self) -> list[str]:
        """Leave the swarm the tests made, and remove the gateway bridge that ``swarm init`` created."""
        import docker

        removed = []
        if self.before["swarm"] == "inactive" and self.client.info()["Swarm"]["LocalNodeState"] != "inactive":
            self.client.leave_swarm(force=True)
            removed.append("swarm membership")
        if SWARM_BRIDGE not in self.before["networks"]:
            try:
                self.client.remove_network(SWARM_BRIDGE)
                removed.append(f"network {SWARM_BRIDGE}")
            except docker.errors.APIError:
                pass  # no swarm was made, so no gateway bridge either
        return removed

    def _remove_images(self, references: list[str]) -> list[str]:
        """Untag or delete each of ``references`` (tags, IDs) that did not exist before the run."""
        import docker

        removed = []
        for reference in dict.fromkeys(references):
            if reference in self.before["tags"] or _full_id(reference, self.before["image_ids"]):
                continue
            try:
                self.client.remove_image(reference, force=True)
            except docker.errors.APIError:
                continue  # never made (a failed build or pull), or already gone with another reference
            removed.append(f"image {reference}")
        return removed


    def _remove_orphaned_build_steps(self) -> list[str]:
        """Untagged images made during the run that nothing uses any more (the tests' build steps), leaves first.

        Never forced: dockerd refuses an image a container or a child image still uses, so a build
        another session is running keeps its steps.
        """
        import docker

        removed: list[str] = []
        while True:
            leftovers = [image["Id"] for image in self.client.images(all=True, filters={"dangling": True})
                         if image["Id"] not in self.before["image_ids"] and image["Created"] >= self.started]
            progress = False
            for image_id in leftovers:
                try:
                    self.client.remove_image(image_id)
                except docker.errors.APIError:
                    continue  # still a parent of another image, or in use
                removed.append(f"image {image_id[7:19]}")
                progress = True
            if not progress:
                return removed


def _full_id(reference: str, ids: set[str]) -> bool:
    """True when ``reference`` is (a prefix of) one of ``ids``: an image that was there before the run."""
    bare = reference.removeprefix("sha256:")
    return len(bare) >= 12 and all(c in "0123456789abcdef" for c in bare) and \
        any(i.removeprefix("sha256:").startswith(bare) for i in ids)


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _recorded(record_path: str) -> list[tuple[str, str]]:
    """The ``(kind, id)`` pairs the plugin recorded, newest first (containers before their networks)."""
    if not os.path.exists(record_path):
        return []
    with open(record_path) as f:
        pairs = [tuple(line.split(None, 1)) for line in f.read().splitlines() if line.strip()]
    order = ["containers", "secrets", "configs", "networks", "volumes", "plugins", "images"]
    return sorted(reversed(pairs), key=lambda pair: order.index(pair[0]))


def _recorded_values(record_path: str, kind: str) -> list[str]:
    return [value for recorded_kind, value in _recorded(record_path) if recorded_kind == kind]
