"""The two daemons docker-py's suite runs against, each set up with the images it wants and cleaned after.

* :class:`BerthTarget` is a private berthd inside a network namespace made for it
  (its default bridge lives there, never in the host's namespace); everything it
  made goes with its temp data-root, its mounts and the namespace.
* :class:`DockerTarget` is the lab's real dockerd (network namespace ``labpeer``),
  which is shared: only the image tags the runner added and the objects the tests
  created (recorded by ``dockerpy_plugin``, or new since the run began) are removed.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
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
        for tag in TEST_IMAGE_TAGS:
            if tag not in self.before["tags"]:
                repository, _, name = tag.partition(":")
                self.client.tag("busybox:latest", repository, name)

    def cleanup(self, record_path: str) -> list[str]:
        """Remove what the run added (recorded objects, new tags and images, swarm membership, plugins)."""
        removed = self._remove_recorded(record_path)
        removed += self._remove_implicit_volumes()
        removed += self._leave_swarm_if_joined()
        removed += self._remove_new_plugins()
        removed += self._remove_new_images()
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
                "swarm": self.client.info()["Swarm"]["LocalNodeState"]}

    def _remove_recorded(self, record_path: str) -> list[str]:
        import docker

        removers = {"containers": lambda i: self.client.remove_container(i, force=True, v=True),
                    "networks": self.client.remove_network, "volumes": self.client.remove_volume,
                    "secrets": self.client.remove_secret, "configs": self.client.remove_config}
        removed = []
        for kind, object_id in _recorded(record_path):
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
        if self.before["swarm"] == "inactive" and self.client.info()["Swarm"]["LocalNodeState"] != "inactive":
            self.client.leave_swarm(force=True)
            return ["swarm membership"]
        return []

    def _remove_new_plugins(self) -> list[str]:
        new = [p["Name"] for p in self.client.plugins() if p["Name"] not in self.before["plugins"]]
        for name in new:
            self.client.remove_plugin(name, force=True)
        return [f"plugin {name}" for name in new]

    def _remove_new_images(self) -> list[str]:
        import docker

        removed = []
        images = self.client.images(all=True)
        tags = {t for image in images for t in image.get("RepoTags") or [] if t != "<none>:<none>"}
        for tag in sorted(tags - self.before["tags"]):
            try:
                self.client.remove_image(tag)
                removed.append(f"tag {tag}")
            except docker.errors.APIError:
                continue  # removed with another tag's image meanwhile
        for image in self.client.images(all=True):
            if image["Id"] not in self.before["image_ids"]:
                try:
                    self.client.remove_image(image["Id"], force=True)
                    removed.append(f"image {image['Id']}")
                except docker.errors.APIError:
                    continue  # a parent of another new image, already gone with it
        return removed


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
    order = ["containers", "secrets", "configs", "networks", "volumes"]
    return sorted(reversed(pairs), key=lambda pair: order.index(pair[0]))
