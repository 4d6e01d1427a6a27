"""A stand-in Engine API on a unix socket that records what clients send, for comparing clients' requests.

It answers just enough for the docker CLI and berth's CLI to run ``create`` and
``run`` to the end: ``/_ping`` and ``/version`` (as berthd's API version, so both
clients speak the version berthd speaks), ``/containers/create`` (201 with an id,
or a 404 "No such image" for images named ``missing*`` until they are pulled),
start, attach (an upgraded stream that ends at once), wait (exit 0), kill,
resize, archive and ``/images/create`` (a pull that succeeds). Every request is
kept in :attr:`requests`.
"""

from __future__ import annotations

import json
import os
import socketserver
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from berth.cli.client import API_VERSION

CONTAINER_ID = "0123456789ab" * 5 + "0123"


class Request:
    """One recorded request: method, path without the version prefix, query, JSON body (or raw bytes)."""

    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes):
        url = urlsplit(target)
        path = url.path
        if path.startswith("/v") and "/" in path[1:]:
            path = "/" + path.split("/", 2)[2]
        self.method, self.path, self.headers, self.raw = method, path, headers, body
        self.query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        try:
            self.body = json.loads(body) if body else None
        except ValueError:
            self.body = None

    def __repr__(self) -> str:
        return f"{self.method} {self.path} {self.query}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def address_string(self) -> str:
        return "unix"

    def log_message(self, *args) -> None:
        pass

    def _answer(self, status: int, body: bytes = b"", content_type: str = "application/json",
                headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Ostype", "linux")
        self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if status != 101:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _record(self) -> Request:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._chunked()
        request = Request(self.command, self.path, dict(self.headers), body)
        with self.server.lock:
            self.server.requests.append(request)
        return request

    def _chunked(self) -> bytes:
        out = b""
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return out
            out += self.rfile.read(size)
            self.rfile.readline()

    def do_HEAD(self) -> None:
        self._record()
        self._answer(200)

    def do_GET(self) -> None:
        request = self._record()
        if request.path == "/_ping":
            return self._answer(200, b"OK", "text/plain")
        if request.path == "/version":
            return self._answer(200, json.dumps({"ApiVersion": API_VERSION, "MinAPIVersion": "1.24",
                                                 "Os": "linux", "Arch": "amd64", "Version": "0"}).encode())
        self._answer(404, b'{"message":"not recorded"}')

    def do_PUT(self) -> None:
        self._record()
        self._answer(200)

    def do_DELETE(self) -> None:
        self._record()
        self._answer(204)

    def do_POST(self) -> None:
        request = self._record()
        path = request.path
        if path == "/containers/create":
            image = (request.body or {}).get("Image", "")
            name = image.split(":")[0]
            if name.startswith("missing") and not any(p.rsplit("/", 1)[-1] == name for p in self.server.pulled):
                return self._answer(404, json.dumps({"message": f"No such image: {image}"}).encode())
            return self._answer(201, json.dumps({"Id": CONTAINER_ID, "Warnings": []}).encode())
        if path.endswith("/attach"):
            self._answer(101, headers={"Connection": "Upgrade", "Upgrade": "tcp",
                                       "Content-Type": "application/vnd.docker.raw-stream"})
            self.close_connection = True
            return
        if path.endswith("/wait"):
            return self._answer(200, b'{"StatusCode":0,"Error":null}')
        if path == "/images/create":
            with self.server.lock:
                self.server.pulled.add(request.query.get("fromImage", ""))
            return self._answer(200, b'{"status":"pulled"}\n')
        self._answer(204)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # a client that hangs up before reading an answer is no concern of the recording

    def __init__(self, path: str):
        super().__init__(path, _Handler)
        self.lock = threading.Lock()
        self.requests: list[Request] = []
        self.pulled: set[str] = set()


class RecordingEngine:
    """The stand-in engine, serving on ``path`` until :meth:`close`."""

    def __init__(self, path: str):
        if os.path.exists(path):
            os.unlink(path)
        self.path = path
        self.host = "unix://" + path
        self._server = _Server(path)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def requests(self) -> list[Request]:
        with self._server.lock:
            return list(self._server.requests)

    def clear(self) -> None:
        """Forget the requests and the pulls so far."""
        with self._server.lock:
            self._server.requests.clear()
            self._server.pulled.clear()

    def find(self, method: str, path_end: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path.endswith(path_end)]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if os.path.exists(self.path):
            os.unlink(self.path)
