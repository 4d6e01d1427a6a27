"""An HTTP proxy in front of a registry that cuts blob downloads mid-body (for the registry fault tests).

:class:`CuttingProxy` listens on 127.0.0.1:<free port> and relays each request to the
registry on a connection of its own (``Connection: close`` both ways). The body of a
blob ``GET`` is cut after ``cut_after`` bytes, ``cuts`` times per blob (``cuts=None``:
always). With ``ranges=False`` it hides the registry's range support: ``Accept-Ranges``
is dropped from answers and ``Range`` from requests, so every retry gets the whole blob.
Every request is recorded in :attr:`requests` as (method, path, Range header).
"""

from __future__ import annotations

import re
import socket
import socketserver
import threading

_BLOB = re.compile(r"^/v2/.+/blobs/sha256:[0-9a-f]{64}$")


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """(head up to the blank line, what came after it)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk or buf + chunk[:1] == b"\x16":  # closed, or a TLS handshake: not for a plain-HTTP registry
            return b"", b""
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def _rewrite(head: bytes, drop: tuple[str, ...]) -> tuple[str, dict[str, str], bytes]:
    """(first line, headers by lower-case name, new head with ``drop`` removed and ``Connection: close``)."""
    lines = head.decode("latin-1").split("\r\n")
    kept, headers = [lines[0]], {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
        if name.strip().lower() not in (*drop, "connection"):
            kept.append(line)
    kept.append("Connection: close")
    return lines[0], headers, ("\r\n".join(kept) + "\r\n\r\n").encode("latin-1")


class CuttingProxy:
    def __init__(self, upstream: str, cut_after: int, cuts: int | None = 2, ranges: bool = True):
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.cut_after = cut_after
        self.cuts = cuts
        self.ranges = ranges
        self.requests: list[tuple[str, str, str]] = []
        self.cut_count: dict[str, int] = {}
        self._lock = threading.Lock()
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy._relay(self.request)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "CuttingProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _should_cut(self, method: str, path: str) -> bool:
        if method != "GET" or not _BLOB.match(path):
            return False
        with self._lock:
            done = self.cut_count.get(path, 0)
            if self.cuts is not None and done >= self.cuts:
                return False
            self.cut_count[path] = done + 1
            return True

    def _relay(self, client: socket.socket) -> None:
        head, body = _read_head(client)
        if not head:
            return
        first, headers, out_head = _rewrite(head, () if self.ranges else ("range",))
        method, path = first.split(" ")[:2]
        with self._lock:
            self.requests.append((method, path, headers.get("range", "") if self.ranges else ""))
        cut = self._should_cut(method, path)
        with socket.create_connection(self.upstream, timeout=30) as upstream:
            upstream.sendall(out_head + body)
            self._request_body(client, upstream, int(headers.get("content-length") or 0) - len(body))
            resp_head, resp_body = _read_head(upstream)
            if not resp_head:
                return
            _, _, out = _rewrite(resp_head, () if self.ranges else ("accept-ranges",))
            client.sendall(out)
            self._response_body(client, upstream, resp_body, self.cut_after if cut else None)

    @staticmethod
    def _request_body(client: socket.socket, upstream: socket.socket, left: int) -> None:
        while left > 0:
            chunk = client.recv(min(left, 65536))
            if not chunk:
                return
            upstream.sendall(chunk)
            left -= len(chunk)

    @staticmethod
    def _response_body(client: socket.socket, upstream: socket.socket, first: bytes, limit: int | None) -> None:
        sent, chunk = 0, first
        while chunk:
            if limit is not None and sent + len(chunk) >= limit:
                client.sendall(chunk[: limit - sent])
                client.shutdown(socket.SHUT_RDWR)  # the cut: the client sees the body end early
                return
            client.sendall(chunk)
            sent += len(chunk)
            chunk = upstream.recv(65536)
