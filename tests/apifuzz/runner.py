"""Fuzz one route of a berthd with generated requests; collect what is wrong.

Per route, examples come from three strategies: requests that fit the spec, requests that do not
(schemathesis' negative mode), and requests that fit it and name the route's victim
(:mod:`.targets`). Before sending, a request is made safe for the host: ``/events`` gets an
``until`` (so that it ends) and the bind-mount sources of a container create are moved under a
scratch directory (berthd makes a missing bind source, as dockerd does at start).
"""

from __future__ import annotations

import itertools
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed as fixed_seed, settings, strategies as st

from tests.apifuzz import dockerd, exchange as ex, spec
from tests.apifuzz.targets import VICTIM, VICTIM_IMAGE, Objects, call


@dataclass
class Fuzzer:
    """Runs routes against the berthd on ``socket_path``; ``lab`` judges its 5xx (None: every 5xx is a finding
    unless excused)."""

    socket_path: str
    scratch: str
    server_errors_excused: dict[str, str]
    schema_excuses: dict[str, dict[str, str]]
    messages_excused: dict[str, str] = field(default_factory=dict)  # 5xx messages that are dockerd's, by their start
    lab: dockerd.LabDockerd | None = None
    no_lab: Any = None  # called when a 5xx needs dockerd's judgement and there is no lab (may raise)
    objects: Objects = field(init=False)
    counts: dict[str, int] = field(default_factory=dict)
    verdicts: dict[tuple[str, int, bytes], int] = field(default_factory=dict)  # dockerd's status, by berthd's answer

    def __post_init__(self) -> None:
        self.objects = Objects(self.socket_path)
        self.session = ex.session_for(self.socket_path)
        self.base_url = "http://berth" + spec.API_PREFIX

    def run_route(self, route: str, examples: int, random_seed: int | None = None) -> list[str]:
        """Send ``examples`` generated requests of ``route``; the findings, each with a curl command."""
        operation = spec.operations()[route]
        self.objects.ensure_victims()
        findings: list[str] = []
        numbers = itertools.count()

        @given(case=self._strategy(route, operation))
        @settings(max_examples=examples, derandomize=random_seed is None, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        def one(case: Any) -> None:
            next(numbers)
            self._make_safe(route, case)
            findings.extend(self.judge(ex.send(self.session, route, case, self.base_url)))

        (fixed_seed(random_seed)(one) if random_seed is not None else one)()
        self.counts[route] = next(numbers)
        if call(self.socket_path, "GET", "/_ping", timeout=10)[0] != 200:
            findings.append("berthd stopped answering /_ping after this route")
        return findings

    def _strategy(self, route: str, operation: Any):
        from schemathesis import GenerationMode

        strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
        try:
            strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))
        except Exception:  # noqa: BLE001 - nothing of this route can be made invalid
            pass
        victims = self.objects.substitute(route, {name: "x" for name in _path_names(operation)})
        if victims and "x" not in victims.values():
            strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=victims))
        return st.one_of(strategies)

    def _make_safe(self, route: str, case: Any) -> None:
        if route == "GET /events":
            case.query = {**(case.query or {}), "until": str(int(time.time()))}
        if route == "POST /containers/create" and isinstance(case.body, dict):
            host_config = case.body.get("HostConfig")
            if isinstance(host_config, dict):
                _move_bind_sources(host_config, self.scratch)

    def judge(self, exchange: ex.Exchange) -> list[str]:
        found = [f"{p}\n    {exchange.curl()}" for p in ex.problems(exchange, self.schema_excuses)]
        if exchange.status >= 500 and exchange.route not in self.server_errors_excused \
                and not self._message_excused(exchange.body):
            found += self._server_error(exchange)
        return found

    def _message_excused(self, body: bytes) -> bool:
        try:
            message = json.loads(body).get("message", "")
        except (ValueError, AttributeError):
            return False
        return isinstance(message, str) and message.startswith(tuple(self.messages_excused))

    def _server_error(self, exchange: ex.Exchange) -> list[str]:
        """A 5xx is a finding unless dockerd answers the same request with a 5xx (asked once per distinct answer)."""
        victims = {VICTIM, VICTIM_IMAGE, self.objects.exec_id}
        if not dockerd.replayable(exchange, victims):
            return [f"a server error: {dockerd.describe(exchange, 'not asked (see dockerd.py)')}"]
        if self.lab is None and self.no_lab is not None:
            self.no_lab()
        if self.lab is None:
            return [f"a server error: {dockerd.describe(exchange, 'not asked (no lab dockerd)')}"]
        key = (exchange.route, exchange.status, exchange.body[:500])
        if key not in self.verdicts:
            self.verdicts[key] = self.lab.replay(exchange)
        status = self.verdicts[key]
        return [] if status >= 500 else [f"a server error where dockerd has none: {dockerd.describe(exchange, status)}"]


def _path_names(operation: Any) -> list[str]:
    return [name.strip("{}") for name in operation.path.split("/") if name.startswith("{")]


def _move_bind_sources(host_config: dict, scratch: str) -> None:
    """Absolute bind sources of a generated create, moved under ``scratch`` (nothing made on the host)."""
    binds = host_config.get("Binds")
    if isinstance(binds, list):
        host_config["Binds"] = [os.path.join(scratch, b.lstrip("/")) if isinstance(b, str) and b.startswith("/")
                                else b for b in binds]
    mounts = host_config.get("Mounts")
    if isinstance(mounts, list):
        for m in mounts:
            if isinstance(m, dict) and isinstance(m.get("Source"), str) and m["Source"].startswith("/"):
                m["Source"] = os.path.join(scratch, m["Source"].lstrip("/"))
