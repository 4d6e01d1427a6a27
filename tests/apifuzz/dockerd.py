"""The lab's dockerd as the judge of a 5xx: the same request, sent to it, must get a 5xx too.

dockerd is shared (network namespace ``labpeer``, ``/run/lab-docker.sock``): it gets the same
victims under the same names (:mod:`.targets`), and after each replayed request everything the
request made there (containers, images, volumes, networks) is removed again; the victims go at the
end. Requests that would reach registries outside the lab (pull, push, search, login, remote build
contexts, plugins), change dockerd's swarm membership or prune are never sent; nor is a request
that changes something named by a generated id (dockerd resolves an id *prefix*: ``0`` may name
another session's container). A 5xx of berth on those needs a reason in the caller's excuses.
"""

from __future__ import annotations

import os
from typing import Any

from tests.apifuzz import exchange as ex
from tests.apifuzz.targets import Objects, call
from tests.peers import LAB_DOCKER

API_PREFIX = "/v1.41"  # dockerd 20.10's version; the spec's v1.45 paths are sent under it
NEVER_REPLAY = {
    "POST /images/create", "POST /images/{name}/push", "GET /images/search", "POST /auth", "POST /build",
    "GET /distribution/{name}/json", "POST /plugins/pull", "POST /plugins/{name}/upgrade",
    "POST /plugins/{name}/push", "POST /plugins/create", "POST /swarm/init", "POST /swarm/join",
    "POST /swarm/leave", "POST /swarm/update", "POST /swarm/unlock", "POST /nodes/{id}/update",
    "POST /containers/prune", "POST /images/prune", "POST /volumes/prune", "POST /networks/prune", "POST /build/prune",
}


class LabDockerd:
    """Replays requests on the lab's dockerd; :meth:`close` removes what they and the victims made."""

    def __init__(self, socket_path: str = LAB_DOCKER):
        self.socket = socket_path
        self.objects = Objects(socket_path)
        self.session = None

    def available(self) -> bool:
        try:
            return os.path.exists(self.socket) and call(self.socket, "GET", "/_ping", timeout=5)[0] == 200
        except OSError:
            return False

    def replay(self, exchange: ex.Exchange) -> int:
        """dockerd's status for the request of ``exchange`` (0 when it did not answer in time)."""
        if self.session is None:
            self.session = ex.session_for(self.socket)
        self.objects.ensure_victims()
        before = self._inventory()
        case = exchange.case
        sent = case.path_parameters
        if sent and exchange.route.startswith(("POST /exec/", "GET /exec/")):
            case.path_parameters = {**sent, "id": self.objects.exec_id}  # its own exec, not berthd's
        try:
            answer = ex.send(self.session, exchange.route, case, "http://berth" + API_PREFIX)
        finally:
            case.path_parameters = sent
            self._remove_new(before)
        return answer.status

    def _inventory(self) -> dict[str, set[str]]:
        def ids(path: str, key: str, field: str = "") -> set[str]:
            status, answer = call(self.socket, "GET", path)
            items = (answer or {}).get(field) if field else answer
            return {item[key] for item in items or []} if status == 200 else set()

        return {"containers": ids("/containers/json?all=1", "Id"), "images": ids("/images/json?all=1", "Id"),
                "volumes": ids("/volumes", "Name", "Volumes"), "networks": ids("/networks", "Id")}

    def _remove_new(self, before: dict[str, set[str]]) -> None:
        after = self._inventory()
        for kind, path in (("containers", "/containers/{}?force=1&v=1"), ("networks", "/networks/{}"),
                           ("volumes", "/volumes/{}"), ("images", "/images/{}?force=1")):
            for item in after[kind] - before[kind]:
                call(self.socket, "DELETE", path.format(item))

    def close(self) -> None:
        self.objects.remove_victims()
        if self.session is not None:
            self.session.close()


def replayable(exchange: ex.Exchange, victim_names: set[str]) -> bool:
    """Whether the request may be sent to the shared dockerd (see the module docstring)."""
    if exchange.route in NEVER_REPLAY:
        return False
    if exchange.case.method.upper() in ("GET", "HEAD"):
        return True
    return all(str(value) in victim_names for value in (exchange.case.path_parameters or {}).values())


def describe(exchange: ex.Exchange, dockerd_status: Any) -> str:
    return (f"{exchange.status} from berthd, {dockerd_status} from dockerd: {exchange.body[:300]!r}\n"
            f"    {exchange.curl()}")
