"""One generated request sent to berthd, and what is wrong with the answer.

A request must get its status line within :data:`HEADERS_TIMEOUT` (else it hangs). A body with a
``Content-Length`` is read whole and judged; a body without one is a stream (attach, wait, logs
and stats that follow, events): it is read until it ends or goes quiet for :data:`STREAM_IDLE`,
or has run for :data:`STREAM_MAX` (stats and logs that follow never go quiet), then the connection is
dropped, as a client that stops listening drops it.

The judgement (:func:`problems`): no traceback in any answer; every error (4xx, 5xx) is Docker's
``{"message": "..."}``; a whole JSON body (sized: not a stream of messages such as events) validates
against the spec's schema for its status; a
5xx is left to the caller, which may excuse it when dockerd answers the same request with a 5xx
(:mod:`.dockerd`).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from tests.apifuzz.spec import API_PREFIX

HEADERS_TIMEOUT = 30.0
STREAM_IDLE = 0.5
STREAM_MAX = 2.0
TRACEBACK_MARKS = (b"Traceback (most recent call last)", b'.py", line ')


@dataclass
class Exchange:
    """A request as sent and what came back (``status`` 0: no answer in time)."""

    route: str
    case: Any
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    complete: bool = False  # the whole body arrived (not a stream left open)
    sized: bool = False  # the body came with a Content-Length (not a stream of JSON messages)
    response: requests.Response | None = None
    error: str = ""

    def curl(self) -> str:
        """The request as a curl command (over ``--unix-socket``), to reproduce a finding."""
        try:
            return self.case.as_curl_command(base_url="http://berth" + API_PREFIX)
        except Exception:  # noqa: BLE001 - a description only
            return f"{self.route} {self.case.path_parameters} {self.case.query}"


def session_for(socket_path: str) -> requests.Session:
    """A requests session whose ``http://berth`` URLs go to the unix socket ``socket_path``."""
    from docker.transport import UnixHTTPAdapter

    session = requests.Session()
    session.mount("http://berth", UnixHTTPAdapter("http+unix://" + socket_path, timeout=HEADERS_TIMEOUT))
    return session


def send(session: requests.Session, route: str, case: Any, base_url: str) -> Exchange:
    """Send ``case``; read its answer as the module docstring says."""
    exchange = Exchange(route, case)
    request = case.as_transport_kwargs(base_url=base_url)
    try:
        # sent as it is, once: schemathesis' own call reads the whole body and resends dropped requests
        response = session.request(**request, stream=True, timeout=(5, HEADERS_TIMEOUT), allow_redirects=False)
    except requests.exceptions.RequestException as exc:
        exchange.error = f"{type(exc).__name__}: {exc}"
        return exchange
    exchange.response, exchange.status = response, response.status_code
    exchange.headers = dict(response.headers)
    exchange.body, exchange.complete = _read(response)
    exchange.sized = "Content-Length" in response.headers
    response._content, response._content_consumed = exchange.body, True
    return exchange


def _read(response: requests.Response) -> tuple[bytes, bool]:
    """(body, whether it ended): whole when sized, else until it ends or goes quiet."""
    if "Content-Length" in response.headers:
        try:
            return response.raw.read(decode_content=True), True
        except Exception:  # noqa: BLE001 - a body cut short is judged by what arrived
            return b"", False
    chunks: list[bytes] = []
    state = {"last": time.monotonic(), "done": False}

    def reader() -> None:
        try:
            for chunk in response.raw.stream(65536, decode_content=True):
                chunks.append(chunk)
                state["last"] = time.monotonic()
            state["done"] = True
        except Exception:  # noqa: BLE001 - the connection was dropped below
            pass

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    deadline = time.monotonic() + STREAM_MAX
    while thread.is_alive() and time.monotonic() - state["last"] < STREAM_IDLE and time.monotonic() < deadline:
        thread.join(0.1)
    if thread.is_alive():
        _drop(response)
        thread.join(5)
    return b"".join(chunks), state["done"]


def _drop(response: requests.Response) -> None:
    """Close the connection under a response being read in another thread (its read returns)."""
    import socket

    connection = getattr(response.raw, "_connection", None) or getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    response.close()


def problems(exchange: Exchange, schema_excuses: dict[str, dict[str, str]]) -> list[str]:
    """What is wrong with the answer, 5xx aside (see the module docstring). ``schema_excuses``: per route,
    {text of a schema failure: why the spec is wrong there}."""
    if exchange.status == 0:
        return [f"no answer within {HEADERS_TIMEOUT}s ({exchange.error or 'hang'})"]
    found = []
    if any(mark in exchange.body for mark in TRACEBACK_MARKS):
        found.append(f"a traceback in the answer: {exchange.body[:300]!r}")
    if exchange.status >= 400 and exchange.case.method.upper() != "HEAD" and exchange.complete:
        found += _error_body_problems(exchange.body)
    elif exchange.sized and exchange.complete and exchange.status < 300 and _is_json(exchange):
        found += _schema_problems(exchange, schema_excuses)
    return found


def _is_json(exchange: Exchange) -> bool:
    return exchange.headers.get("Content-Type", "").startswith("application/json") and bool(exchange.body)


def _error_body_problems(body: bytes) -> list[str]:
    try:
        decoded = json.loads(body)
    except ValueError:
        return [f"an error answer that is not JSON: {body[:200]!r}"]
    if not isinstance(decoded, dict) or not isinstance(decoded.get("message"), str) or not decoded["message"]:
        return [f"an error answer that is not Docker's {{\"message\": ...}}: {body[:200]!r}"]
    return []


def _schema_problems(exchange: Exchange, excuses: dict[str, dict[str, str]]) -> list[str]:
    from schemathesis.specs.openapi.checks import response_schema_conformance

    try:
        exchange.case.validate_response(exchange.response, checks=[response_schema_conformance])
    except BaseException as group:  # schemathesis raises a group of failures
        failures = getattr(group, "exceptions", None) or [group]
        messages = [str(getattr(f, "message", f)) for f in failures]
        return [m.splitlines()[0] + " " + " ".join(m.split())[:400] for m in messages
                if not any(excused in m for excused in excuses.get(exchange.route, {}))]
    return []
