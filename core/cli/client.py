"""A small Docker Engine API client on the standard library: unix socket, TCP, TLS, hijack.

Finds the daemon through ``-H``, ``BERTH_HOST``, ``DOCKER_HOST`` or the default
socket; honours ``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH`` as the docker CLI does.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from typing import Any
from urllib.parse import quote, urlencode, urlparse

DEFAULT_HOST = "unix:///run/berth/berth.sock"
API_PREFIX = "/v1.45"


class APIError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class DaemonUnreachable(Exception):
    pass


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None = None):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if self.timeout is not None:
            sock.settimeout(self.timeout)
        sock.connect(self.path)
        self.sock = sock


class Client:
    def __init__(self, host: str | None = None, tls_verify: bool | None = None, cert_path: str | None = None):
        self.host = host or os.environ.get("BERTH_HOST") or os.environ.get("DOCKER_HOST") or DEFAULT_HOST
        self.url = urlparse(self.host)
        if tls_verify is None:
            tls_verify = os.environ.get("DOCKER_TLS_VERIFY", "") not in ("", "0")
        self.tls_verify = tls_verify
        self.cert_path = cert_path or os.environ.get("DOCKER_CERT_PATH") or os.path.expanduser("~/.docker")

    # -- connections --------------------------------------------------------

    def connection(self, timeout: float | None = None) -> http.client.HTTPConnection:
        if self.url.scheme == "unix":
            return _UnixConnection(self.url.path, timeout)
        if self.url.scheme in ("tcp", "https", "http"):
            host, port = self.url.hostname or "127.0.0.1", self.url.port
            if self.tls_verify or self.url.scheme == "https":
                import ssl

                ctx = ssl.create_default_context(cafile=os.path.join(self.cert_path, "ca.pem"))
                ctx.load_cert_chain(os.path.join(self.cert_path, "cert.pem"), os.path.join(self.cert_path, "key.pem"))
                ctx.check_hostname = False
                return http.client.HTTPSConnection(host, port or 2376, timeout=timeout, context=ctx)
            return http.client.HTTPConnection(host, port or 2375, timeout=timeout)
        raise DaemonUnreachable(f"unsupported daemon host {self.host!r}: use unix:///path or tcp://host:port")

    def _unreachable(self, exc: Exception) -> DaemonUnreachable:
        return DaemonUnreachable(f"Cannot connect to the berth daemon at {self.host}. Is berthd running? ({exc})")

    @staticmethod
    def path(path: str, params: dict[str, Any] | None = None) -> str:
        query = {k: (json.dumps(v) if isinstance(v, (dict, list)) else ("1" if v is True else "0" if v is False else v))
                 for k, v in (params or {}).items() if v is not None}
        return API_PREFIX + path + ("?" + urlencode(query) if query else "")

    def open(self, method: str, path: str, params: dict | None = None, body: Any = None,
             headers: dict | None = None, timeout: float | None = None) -> http.client.HTTPResponse:
        """Send a request and return the response once its headers arrived; errors raise APIError."""
        conn = self.connection(timeout)
        data = None
        hdrs = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, bytearray)) and not hasattr(body, "read"):
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        else:
            data = body
        try:
            conn.request(method, self.path(path, params), body=data, headers=hdrs)
            resp = conn.getresponse()
        except (FileNotFoundError, ConnectionRefusedError, PermissionError) as exc:
            raise self._unreachable(exc) from None
        if resp.status >= 400:
            raw = resp.read()
            try:
                message = json.loads(raw).get("message", "")
            except ValueError:
                message = raw.decode(errors="replace").strip()
            raise APIError(resp.status, message or f"HTTP {resp.status}")
        return resp

    def call(self, method: str, path: str, params: dict | None = None, body: Any = None) -> Any:
        resp = self.open(method, path, params, body)
        raw = resp.read()
        if not raw or resp.status == 204:
            return None
        if resp.getheader("Content-Type", "").startswith("application/json"):
            return json.loads(raw)
        return raw

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params)

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return self.call("POST", path, params, body)

    def delete(self, path: str, **params: Any) -> Any:
        return self.call("DELETE", path, params)

    # -- hijacked streams ---------------------------------------------------

    def hijack(self, path: str, params: dict | None = None, body: Any = None) -> socket.socket:
        """POST with ``Upgrade: tcp`` and return the raw socket after the 101 (or 200) response."""
        conn = self.connection()
        try:
            conn.connect()
        except (FileNotFoundError, ConnectionRefusedError, PermissionError) as exc:
            raise self._unreachable(exc) from None
        sock = conn.sock
        payload = json.dumps(body).encode() if body is not None else b""
        head = (f"POST {self.path(path, params)} HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n").encode()
        sock.sendall(head + payload)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(4096)
            if not chunk:
                raise APIError(502, "daemon closed the connection during attach")
            buf += chunk
        header, _, rest = buf.partition(b"\r\n\r\n")
        status = int(header.split(b" ", 2)[1])
        if status >= 400:
            body_text = rest
            try:
                message = json.loads(body_text).get("message", "")
            except ValueError:
                message = body_text.decode(errors="replace")
            raise APIError(status, message)
        return _PrefixedSocket(sock, rest)


def quote_ref(ref: str) -> str:
    return quote(ref, safe="")


class _PrefixedSocket:
    """A socket whose first reads return bytes already read past the response head."""

    def __init__(self, sock: socket.socket, prefix: bytes):
        self.sock = sock
        self.prefix = prefix

    def recv(self, n: int) -> bytes:
        if self.prefix:
            out, self.prefix = self.prefix[:n], self.prefix[n:]
            return out
        return self.sock.recv(n)

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def shutdown_write(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()

    def fileno(self) -> int:
        return self.sock.fileno()
