"""The objects the fuzzer aims at (victims) and the ones it must never change (keepers), on one daemon.

Randomly generated ids match nothing, so half of a route's examples name a *victim* instead: a
running container, an image tag, a volume, a network and an exec, all called ``fuzz-victim``
(names, so that the same request means the same object on berthd and on dockerd). Whatever a
request does to a victim is fair; :meth:`Objects.ensure_victims` puts them back before each route.

The *keepers* are a running container that counts to its log, the volume it mounts, the network
it is on, and the image it runs: no request the fuzzer can make names them or may remove them
(prunes keep what a running container uses), so :meth:`Objects.keeper_problems` after the run
shows state the daemon lost.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from tests.unixhttp import UnixHTTPConnection

VICTIM = "fuzz-victim"
VICTIM_IMAGE = "fuzz-victim:1"
KEEPER = "fuzz-keeper"
COUNTER = "i=0; while :; do echo $i; i=$((i+1)); sleep 1; done"
#: the victim ends on SIGTERM at once (a shell as pid 1 ignores it: every stop and restart would wait its grace period)
VICTIM_COMMAND = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]

#: path parameter to substitute, by the route's first path segment
_VICTIM_BY_PREFIX = {"containers": VICTIM, "images": VICTIM_IMAGE, "volumes": VICTIM, "networks": VICTIM}


def call(socket_path: str, method: str, path: str, body: Any = None, version: str = "v1.41",
         timeout: float = 60) -> tuple[int, Any]:
    """One API request; (status, decoded JSON body or None)."""
    conn = UnixHTTPConnection(socket_path, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, f"/{version}{path}", body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(raw) if raw else None
    except ValueError:
        return resp.status, raw.decode(errors="replace")


class Objects:
    """Victims and keepers on the daemon listening on ``socket_path``."""

    def __init__(self, socket_path: str, image: str = "busybox:latest"):
        self.socket = socket_path
        self.image = image
        self.exec_id = ""
        self.keeper_state: dict[str, Any] = {}

    def _call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return call(self.socket, method, path, body)

    def _must(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201, 204, 304)) -> Any:
        status, answer = self._call(method, path, body)
        if status not in ok:
            raise RuntimeError(f"{method} {path}: {status} {answer}")
        return answer

    # -- victims -----------------------------------------------------------------------

    def substitute(self, route: str, path_parameters: dict[str, Any]) -> dict[str, Any]:
        """``path_parameters`` aimed at the victim of ``route`` (unchanged for routes without one)."""
        prefix = route.split(" ", 1)[1].strip("/").split("/", 1)[0]
        if prefix == "exec" and "id" in path_parameters and self.exec_id:
            return {**path_parameters, "id": self.exec_id}
        victim = _VICTIM_BY_PREFIX.get(prefix)
        if victim is None or not path_parameters:
            return path_parameters
        key = "name" if "name" in path_parameters else "id" if "id" in path_parameters else None
        return {**path_parameters, key: victim} if key else path_parameters

    def ensure_victims(self) -> None:
        """Put every victim back as it was made: running, tagged, present (cheap when nothing changed)."""
        status, info = self._call("GET", f"/containers/{VICTIM}/json")
        if status == 200 and not info["State"]["Running"]:
            self._must("DELETE", f"/containers/{VICTIM}?force=1")
        if status != 200 or not info["State"]["Running"]:
            self._must("POST", f"/containers/create?name={VICTIM}",
                       {"Image": self.image, "Cmd": VICTIM_COMMAND, "HostConfig": {"NetworkMode": "none"}})
            self._must("POST", f"/containers/{VICTIM}/start")
            self.exec_id = ""
        if not self.exec_id or self._call("GET", f"/exec/{self.exec_id}/json")[0] != 200:
            self.exec_id = self._must("POST", f"/containers/{VICTIM}/exec", {"Cmd": ["true"]})["Id"]
        repo, tag = VICTIM_IMAGE.split(":")
        self._must("POST", f"/images/{quote(self.image, safe='')}/tag?repo={repo}&tag={tag}")
        self._must("POST", "/volumes/create", {"Name": VICTIM})
        if self._call("GET", f"/networks/{VICTIM}")[0] != 200:
            self._must("POST", "/networks/create", {"Name": VICTIM, "Driver": "bridge"})

    def remove_victims(self) -> None:
        self._call("DELETE", f"/containers/{VICTIM}?force=1")
        self._call("DELETE", f"/images/{VICTIM_IMAGE}")
        self._call("DELETE", f"/volumes/{VICTIM}")
        self._call("DELETE", f"/networks/{VICTIM}")

    # -- keepers -----------------------------------------------------------------------

    def make_keepers(self) -> None:
        self._must("POST", "/volumes/create", {"Name": KEEPER})
        self._must("POST", "/networks/create", {"Name": KEEPER, "Driver": "bridge"})
        cid = self._must("POST", f"/containers/create?name={KEEPER}", {
            "Image": self.image, "Cmd": ["sh", "-c", COUNTER],
            "HostConfig": {"Binds": [f"{KEEPER}:/data"], "NetworkMode": KEEPER}})["Id"]
        self._must("POST", f"/containers/{cid}/start")
        info = self._must("GET", f"/containers/{cid}/json")
        self.keeper_state = {"id": cid, "pid": info["State"]["Pid"], "image": info["Image"]}

    def keeper_problems(self) -> list[str]:
        """What happened to the keepers that no request could have asked for."""
        problems = []
        status, info = self._call("GET", f"/containers/{KEEPER}/json")
        if status != 200:
            return [f"the keeper container is gone ({status} {info})"]
        if info["Id"] != self.keeper_state["id"] or not info["State"]["Running"] \
                or info["State"]["Pid"] != self.keeper_state["pid"]:
            problems.append(f"the keeper container changed: {info['State']}")
        for what, path in (("volume", f"/volumes/{KEEPER}"), ("network", f"/networks/{KEEPER}"),
                           ("image", f"/images/{self.keeper_state['image']}/json")):
            status, answer = self._call("GET", path)
            if status != 200:
                problems.append(f"the keeper {what} is gone ({status} {answer})")
        return problems

    def remove_keepers(self) -> None:
        self._call("DELETE", f"/containers/{KEEPER}?force=1")
        self._call("DELETE", f"/volumes/{KEEPER}")
        self._call("DELETE", f"/networks/{KEEPER}")
