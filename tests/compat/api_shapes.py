"""Send one scripted session to the real dockerd and to a berthd, and report where their answers differ.

Both daemons are asked at API v1.41, the version dockerd 20.10 speaks; the v1.45 spec
(``engine_api_v1.45.json``) decides whether a field berth sends and dockerd does not is merely
newer than 1.41. Per request the report lists status differences, content-type differences,
fields missing or extra, and JSON type differences (see :mod:`tests.compat.shape_diff`).

Run it as a script for the table (it starts a private berthd in a network namespace of its own
and cleans up after itself on both daemons)::

    python -m tests.compat.api_shapes [--all]      # --all: allowed differences too

``tests/compat/test_api_shapes.py`` runs the same comparison and fails on any difference that is
not in :mod:`tests.compat.allowed`.
"""

from __future__ import annotations

import base64
import http.client
import json
import secrets
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable
from urllib.parse import quote

from tests.compat import scenario
from tests.compat.shape_diff import Difference, Schemas, compare, describe
from tests.compat.spec import load
from tests.compat.steps import LABEL_KEY, Answer, Context, Step
from tests.unixhttp import UnixHTTPConnection

DOCKERD_SOCKET = "/run/lab-docker.sock"
COMMON_VERSION = "1.41"  # dockerd 20.10's API version; berth serves it too
STEP_TIMEOUT = 60  # seconds; the slowest step (a build) takes a few


@dataclass
class Target:
    """One daemon under test."""

    name: str
    socket: str

    def send(self, step: Step, ctx: Context) -> Answer:
        """The daemon's answer to ``step``; no answer in time (or a broken one) is status 0 with the error."""
        conn = UnixHTTPConnection(self.socket, timeout=STEP_TIMEOUT)
        try:
            headers = {"Content-Type": step.content_type, **step.headers}
            conn.request(step.method, step.url(ctx, COMMON_VERSION), body=step.payload(ctx), headers=headers)
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            return Answer(0, "", f"{type(exc).__name__}: {exc}".encode(), {})
        finally:
            conn.close()
        answer = Answer(response.status, (response.getheader("Content-Type") or "").split(";")[0].strip(), body,
                        {k.lower(): v for k, v in response.getheaders()})
        decode(step, ctx, answer)
        if step.save:
            step.save(ctx, answer)
        return answer

    def get_json(self, path: str) -> Any:
        conn = UnixHTTPConnection(self.socket)
        try:
            conn.request("GET", f"/v{COMMON_VERSION}{path}")
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def delete(self, path: str) -> None:
        conn = UnixHTTPConnection(self.socket)
        try:
            conn.request("DELETE", f"/v{COMMON_VERSION}{path}")
            conn.getresponse().read()
        finally:
            conn.close()


def decode(step: Step, ctx: Context, answer: Answer) -> None:
    """Fill ``answer.json``/``messages``/``header_json`` from the body as the step's kind says."""
    if step.header_json and step.header_json.lower() in answer.headers:
        answer.header_json = json.loads(base64.b64decode(answer.headers[step.header_json.lower()]))
    if answer.status >= 400 or step.kind == "json":
        try:
            answer.json = json.loads(answer.body) if answer.body.strip() else None
        except ValueError:
            answer.json = answer.body.decode(errors="replace")
    elif step.kind == "jsonstream":
        answer.messages = kept_messages(step, ctx, [json.loads(line) for line in json_lines(answer.body)])


def kept_messages(step: Step, ctx: Context, messages: list[Any]) -> list[Any]:
    """The messages ``step.keep_message`` keeps, and every other one about the same object (an event
    naming an image only by the ID another kept event showed, such as ``import``)."""
    if step.keep_message is None:
        return messages
    kept = [m for m in messages if step.keep_message(ctx, m)]
    actors = {actor_id(m) for m in kept} - {None}
    return [m for m in messages if m in kept or actor_id(m) in actors]


def actor_id(message: Any) -> str | None:
    return (message.get("Actor") or {}).get("ID") if isinstance(message, dict) else None


def json_lines(body: bytes) -> Iterable[str]:
    """The JSON values of a stream: one per line, or concatenated without newlines (dockerd's events)."""
    decoder, text, at = json.JSONDecoder(), body.decode(errors="replace"), 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            return
        value, at = decoder.raw_decode(text, at)
        yield json.dumps(value)


class LiveRequest:
    """A streaming request (``GET /events``) sent when the run begins and read in the background."""

    def __init__(self, target: Target, step: Step, ctx: Context):
        self.conn = UnixHTTPConnection(target.socket, timeout=None)
        self.conn.request(step.method, step.url(ctx, COMMON_VERSION))
        self.response = self.conn.getresponse()
        self.body = bytearray()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        try:
            while chunk := self.response.read1(65536):
                self.body += chunk
        except (OSError, ValueError, http.client.HTTPException):
            pass  # the connection was shut down by finish()

    def finish(self) -> Answer:
        """What arrived so far (after a moment for the last events to come in); the connection is closed."""
        time.sleep(1)
        self.conn.sock.shutdown(socket.SHUT_RDWR)
        self.reader.join(10)
        self.conn.close()
        headers = {k.lower(): v for k, v in self.response.getheaders()}
        return Answer(self.response.status, headers.get("content-type", "").split(";")[0].strip(), bytes(self.body),
                      headers)


def run(target: Target, steps: list[Step], prefix: str) -> list[Answer]:
    """Every step's answer from ``target``; live steps are sent first and read when their turn comes."""
    ctx = Context(prefix)
    live = {id(step): LiveRequest(target, step, ctx) for step in steps if step.live}
    answers = []
    for step in steps:
        if step.live:
            answer = live[id(step)].finish()
            decode(step, ctx, answer)
            answers.append(answer)
        else:
            answers.append(target.send(step, ctx))
    return answers


def clean_up(target: Target, prefix: str) -> None:
    """Remove everything of the run that the script's own steps left (a failed step leaves things)."""
    label = quote(json.dumps({"label": [f"{LABEL_KEY}={prefix}"]}))
    for row in target.get_json(f"/containers/json?all=1&filters={label}"):
        target.delete(f"/containers/{row['Id']}?force=1&v=1")
    for row in target.get_json("/images/json"):
        for tag in row.get("RepoTags") or []:
            if prefix in tag:
                target.delete(f"/images/{tag}?force=1")
    for row in target.get_json(f"/networks?filters={label}"):
        target.delete(f"/networks/{row['Id']}")
    for row in target.get_json(f"/volumes?filters={label}").get("Volumes") or []:
        target.delete(f"/volumes/{row['Name']}?force=1")


def differences(step: Step, dockerd: Answer, berth: Answer) -> list[Difference]:
    """How ``berth``'s answer to ``step`` differs from ``dockerd``'s."""
    label = step.label
    if dockerd.status != berth.status:
        return [Difference(label, "", "status", status_text(dockerd), status_text(berth))]
    found: list[Difference] = []
    if dockerd.content_type != berth.content_type and (dockerd.body or berth.body):
        found.append(Difference(label, "", "content-type", dockerd.content_type or "-", berth.content_type or "-"))
    schemas = Schemas(load("1.45").response(step.route, step.method, dockerd.status),
                      load(COMMON_VERSION).response(step.route, step.method, dockerd.status))
    if dockerd.json is not None or berth.json is not None:
        found += compare(label, sort_rows(step, dockerd.json), sort_rows(step, berth.json), schemas, step.maps)
    elif step.kind == "jsonstream":
        found += compare_streams(step, dockerd.messages or [], berth.messages or [])
    elif bool(dockerd.body) != bool(berth.body):
        found.append(Difference(label, "", "body", "empty" if not dockerd.body else "data",
                                "empty" if not berth.body else "data"))
    if step.header_json:
        found += compare(label, dockerd.header_json, berth.header_json, Schemas(), step.maps,
                         path=f"<{step.header_json}>")
    return found


def status_text(answer: Answer) -> str:
    return str(answer.status) if answer.status else f"no answer ({answer.body.decode()})"


def sort_rows(step: Step, value: Any) -> Any:
    if step.sort_by and isinstance(value, list):
        return sorted(value, key=lambda row: json.dumps(row.get(step.sort_by)) if isinstance(row, dict) else "")
    return value


def compare_streams(step: Step, dockerd: list[Any], berth: list[Any]) -> list[Difference]:
    """Stream messages grouped (by their keys, or ``step.message_key``); groups and shapes compared."""
    key = step.message_key or (lambda m: tuple(sorted(m)) if isinstance(m, dict) else describe(m))
    groups_d: dict[Any, Any] = {}
    groups_b: dict[Any, Any] = {}
    normalise = step.normalise or (lambda m: m)
    for messages, groups in ((dockerd, groups_d), (berth, groups_b)):
        for message in messages:
            groups.setdefault(key(message), normalise(message))
    found = []
    for group, message in groups_d.items():
        if group not in groups_b:
            found.append(Difference(step.label, str(group), "message-missing", "sent", "absent"))
        else:
            found += [Difference(d.label, f"<{group}>" + (f".{d.path}" if d.path else ""), d.kind, d.dockerd, d.berth)
                      for d in compare(step.label, message, groups_b[group], Schemas(), step.maps)]
    found += [Difference(step.label, str(group), "message-extra", "absent", "sent")
              for group in groups_b if group not in groups_d]
    return found


def swarm_inactive(target: Target) -> bool:
    return (target.get_json("/info").get("Swarm") or {}).get("LocalNodeState") == "inactive"


def compare_daemons(dockerd: Target, berth: Target) -> list[Difference]:
    """Run the script on both daemons (one after the other, same names) and list the differences."""
    steps = scenario.script(with_swarm=swarm_inactive(dockerd))
    prefix = "shp" + secrets.token_hex(4)
    answers = {}
    for target in (dockerd, berth):
        try:
            answers[target.name] = run(target, steps, prefix)
        finally:
            clean_up(target, prefix)
    return [d for step, a, b in zip(steps, answers[dockerd.name], answers[berth.name]) for d in differences(step, a, b)]


def table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [" | ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def grouped(found: list[Difference]) -> list[tuple[list[str], Difference]]:
    """Differences that only differ by the request's note, as one row naming every request."""
    groups: dict[tuple[str, str, str, str, str], list[Difference]] = {}
    for d in found:
        route = d.label.split(" (")[0]
        groups.setdefault((route, d.kind, d.path, d.dockerd, d.berth), []).append(d)
    return [(sorted({d.label for d in members}), members[0]) for members in groups.values()]


def merged_label(labels: list[str]) -> str:
    route = labels[0].split(" (")[0]
    notes = [label[len(route) + 2:-1] for label in labels if label != route]
    plain = ["-"] if route in labels and notes else []
    return route + (f" ({', '.join(plain + notes)})" if notes else "")


def report(found: list[Difference], show_allowed: bool = False) -> str:
    """The table of differences (not allowed ones only, unless ``show_allowed``), one row per shared finding."""
    from tests.compat.allowed import reason_for

    rows = []
    for labels, d in grouped(found):
        reasons = {reason_for(Difference(label, d.path, d.kind, d.dockerd, d.berth)) for label in labels}
        reason = "; ".join(sorted(r for r in reasons if r)) if None not in reasons else ""
        if not reason or show_allowed:
            rows.append((merged_label(labels), d.kind, d.path or "-", d.dockerd, d.berth, reason))
    header = ("request", "kind", "path", "dockerd", "berth", "allowed because")
    return table(rows, header) + f"\n{len(rows)} rows shown ({len(found)} differences in all)"


def main(argv: list[str]) -> int:
    from tests.compat.private_berthd import private_berthd

    with private_berthd() as daemon:
        found = compare_daemons(Target("dockerd", DOCKERD_SOCKET), Target("berthd", daemon.socket))
    print(report(found, show_allowed="--all" in argv))
    from tests.compat.allowed import reason_for

    return 1 if any(reason_for(d) is None for d in found) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
