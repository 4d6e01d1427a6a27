"""A small Docker Engine API client on bare sockets: unix socket, TCP, TLS, streamed bodies, hijack.

Finds the daemon through ``-H``, ``BERTH_HOST``, ``DOCKER_HOST`` or the default
socket; honours ``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH`` as the docker CLI does.

It speaks just enough HTTP/1.1 for the Engine API (one request per connection,
``Content-Length``, chunked and read-until-close bodies) instead of importing
``http.client``, which pulls in ``email`` and ``ssl`` and costs every command
about 15 ms of start-up; ``ssl`` is imported only for TLS hosts. For the same
reason a unix-socket request uses the C module ``_socket`` (``socket`` imports
``enum`` and ``selectors``; it is imported for TCP only), queries are encoded here
rather than by ``urllib.parse``, and JSON is decoded by :mod:`berth.cli.fastjson`.
"""

from __future__ import annotations

import _socket
import os

from berth.cli import fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing
    from socket import socket as Socket
    from typing import Any

# what urllib.parse.quote never escapes (RFC 3986 unreserved characters)
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def quote(text: str, safe: str = "/") -> str:
    """``urllib.parse.quote(text, safe)``: UTF-8, every byte but the unreserved and ``safe`` ones as %XX."""
    keep = _UNRESERVED | frozenset(safe.encode())
    return "".join(chr(b) if b in keep else f"%{b:02X}" for b in text.encode())


def urlencode(query: dict[str, Any] | list[tuple[str, Any]]) -> str:
    """``urllib.parse.urlencode(query)``: ``k=v&...``, quote_plus of ``str()`` of each key and value
    (``query`` a dict, or (key, value) pairs where a key repeats)."""
    def plus(value: Any) -> str:
        return quote(value if isinstance(value, str) else str(value), safe=" ").replace(" ", "+")

    pairs = query.items() if isinstance(query, dict) else query
    return "&".join(f"{plus(k)}={plus(v)}" for k, v in pairs)

DEFAULT_HOST = "unix:///run/berth/berth.sock"
API_VERSION = "1.45"
API_PREFIX = "/v" + API_VERSION


class APIError(Exception):
    """The daemon answered with a status of 400 or more; ``message`` is Docker's ``{"message"}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class DaemonUnreachable(Exception):
    pass


def _truncated() -> DaemonUnreachable:
    """The connection closed inside a response body (the daemon died, or a proxy cut it): as docker, a failure."""
    return DaemonUnreachable("error reading the daemon's response: unexpected EOF (the connection closed before "
                             "the end of the response)")


def _split_host(host: str) -> tuple[str, str, int | None]:
    """``unix:///p`` -> ("unix", "/p", None); ``tcp://h:2376`` -> ("tcp", "h", 2376)."""
    scheme, sep, rest = host.partition("://")
    if not sep:
        raise DaemonUnreachable(f"invalid daemon host {host!r}: use unix:///path or tcp://host:port")
    if scheme == "unix":
        return scheme, rest, None
    address = rest.split("/", 1)[0]
    if address.startswith("["):  # [::1]:2376
        name, _, port = address[1:].partition("]")
        port = port.lstrip(":")
    else:
        name, _, port = address.rpartition(":") if ":" in address else (address, "", "")
    if port and not port.isdigit():
        raise DaemonUnreachable(f"invalid port in daemon host {host!r}")
    return scheme, name or "127.0.0.1", int(port) if port else None


class Response:
    """A response whose head has been read; the body is read on demand (``read``, ``read1``, ``recv``)."""

    def __init__(self, sock: Socket, status: int, headers: dict[str, str], rest: bytes, method: str):
        self.sock = sock
        self.status = status
        self.headers = headers
        self._buf = rest
        self._eof = False
        self.chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self._chunk_left = 0  # bytes left in the current chunk
        if method == "HEAD" or status in (101, 204, 304):
            self._remaining: int | None = 0
        elif "content-length" in headers and not self.chunked:
            self._remaining = int(headers["content-length"])
        else:
            self._remaining = None  # chunked, or until the server closes

    def getheader(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def _fill(self) -> bool:
        if self._eof:
            return False
        try:
            data = self.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._eof = True
            return False
        self._buf += data
        return True

    def _raw(self, n: int) -> bytes:
        """Up to ``n`` bytes of the wire (waiting for at least one unless at EOF)."""
        if not self._buf and not self._fill():
            return b""
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def read1(self, n: int = 65536) -> bytes:
        """Some body bytes (at most ``n``); b"" at the end of the body."""
        if self._remaining == 0 and not self.chunked:
            return b""
        if not self.chunked:
            want = n if self._remaining is None else min(n, self._remaining)
            out = self._raw(want)
            if self._remaining is not None:
                if not out:
                    raise _truncated()
                self._remaining -= len(out)
            return out
        while self._chunk_left == 0:
            while b"\r\n" not in self._buf:
                if not self._fill():
                    raise _truncated()
            line, _, self._buf = self._buf.partition(b"\r\n")
            line = line.split(b";")[0].strip()
            if not line:
                continue  # the CRLF that ends the previous chunk
            size = int(line, 16)
            if size == 0:
                self.chunked, self._remaining = False, 0
                return b""
            self._chunk_left = size
        out = self._raw(min(n, self._chunk_left))
        if not out:
            raise _truncated()
        self._chunk_left -= len(out)
        return out

    recv = read1

    def read(self) -> bytes:
        parts = []
        while chunk := self.read1(1 << 20):
            parts.append(chunk)
        self.close()
        return b"".join(parts)

    def lines(self):
        """The body as lines (newline-delimited JSON streams: events, stats, pull progress)."""
        pending = b""
        while chunk := self.read1():
            pending += chunk
            while b"\n" in pending:
                line, _, pending = pending.partition(b"\n")
                yield line
        if pending:
            yield pending

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Client:
    def __init__(self, host: str | None = None, tls_verify: bool | None = None, cert_path: str | None = None,
                 tls_files: tuple[str | None, str | None, str | None] | None = None):
        self.host = host or os.environ.get("BERTH_HOST") or os.environ.get("DOCKER_HOST") or DEFAULT_HOST
        if "://" not in self.host:
            self.host = ("unix://" if self.host.startswith("/") else "tcp://") + self.host
        self.scheme, self.address, self.port = _split_host(self.host)
        if tls_verify is None:
            tls_verify = os.environ.get("DOCKER_TLS_VERIFY", "") not in ("", "0")
        self.tls_verify = tls_verify
        self.cert_path = cert_path or os.environ.get("DOCKER_CERT_PATH") or os.path.expanduser("~/.docker")
        # --tlscacert/--tlscert/--tlskey override the files of the cert directory one by one
        given = tls_files or (None, None, None)
        self.tls_files = tuple(given[i] or os.path.join(self.cert_path, name)
                               for i, name in enumerate(("ca.pem", "cert.pem", "key.pem")))

    # -- connections --------------------------------------------------------

    def _unreachable(self, exc: Exception) -> DaemonUnreachable:
        return DaemonUnreachable(f"Cannot connect to the berth daemon at {self.host}. Is berthd running? ({exc})")

    def connect(self, timeout: float | None = None) -> Socket:
        try:
            if self.scheme == "unix":
                # the C socket type: the same object socket.socket wraps, without importing socket
                sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
                try:
                    sock.settimeout(timeout)
                    sock.connect(self.address)
                except BaseException:
                    sock.close()
                    raise
                return sock  # type: ignore[return-value]
            if self.scheme not in ("tcp", "https", "http"):
                raise DaemonUnreachable(f"unsupported daemon host {self.host!r}: use unix:///path or tcp://host:port")
            import socket

            tls = self.tls_verify or self.scheme == "https"
            sock = socket.create_connection((self.address, self.port or (2376 if tls else 2375)), timeout)
            if tls:
                sock = self._wrap_tls(sock)
            return sock
        except (FileNotFoundError, ConnectionRefusedError, PermissionError, _socket.gaierror) as exc:
            raise self._unreachable(exc) from None

    def _wrap_tls(self, sock: Socket) -> Socket:
        import ssl

        ca, cert, key = self.tls_files
        try:
            ctx = ssl.create_default_context(cafile=ca if os.path.exists(ca) else None)
            if os.path.exists(cert):
                ctx.load_cert_chain(cert, key)
            return ctx.wrap_socket(sock, server_hostname=self.address)
        except (ssl.SSLError, OSError) as exc:
            sock.close()
            raise DaemonUnreachable(f"TLS handshake with {self.host} failed: {exc} "
                                    f"(CA {ca}, client certificate {cert}, key {key})") from None

    @staticmethod
    def path(path: str, params: dict[str, Any] | None = None) -> str:
        query = {k: (_dumps(v) if isinstance(v, (dict, list)) else ("1" if v is True else "0" if v is False else v))
                 for k, v in (params or {}).items() if v is not None}
        return API_PREFIX + path + ("?" + urlencode(query) if query else "")

    def _send(self, method: str, path: str, params: dict | None, body: Any, headers: dict | None,
              timeout: float | None, upgrade: bool = False) -> Response:
        sock = self.connect(timeout)
        hdrs = {"Host": "docker", "User-Agent": "berth-cli", **(headers or {})}
        if (body is not None and not isinstance(body, (bytes, bytearray)) and not hasattr(body, "read")
                and not hasattr(body, "send_to")):
            body = _dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        if upgrade:
            hdrs.update({"Connection": "Upgrade", "Upgrade": "tcp"})
        else:
            hdrs.setdefault("Connection", "close")
        streaming = hasattr(body, "read")
        if streaming:
            hdrs["Transfer-Encoding"] = "chunked"
        elif hasattr(body, "send_to"):  # a body that writes itself (a build context), its length known
            hdrs["Content-Length"] = str(body.length)
        elif body is not None or method in ("POST", "PUT"):
            hdrs["Content-Length"] = str(len(body or b""))
        head = f"{method} {self.path(path, params)} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
        try:
            sock.sendall(head.encode() + b"\r\n")
            if streaming:
                while chunk := body.read(1 << 20):
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sock.sendall(b"0\r\n\r\n")
            elif hasattr(body, "send_to"):
                body.send_to(sock)
            elif body:
                sock.sendall(body)
            return self._read_head(sock, method)
        except (BrokenPipeError, ConnectionResetError) as exc:
            sock.close()
            raise self._unreachable(exc) from None

    def _read_head(self, sock: Socket, method: str) -> Response:
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                sock.close()
                raise APIError(502, f"the daemon at {self.host} closed the connection without an answer")
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        return Response(sock, status, headers, rest, method)

    def open(self, method: str, path: str, params: dict | None = None, body: Any = None,
             headers: dict | None = None, timeout: float | None = None) -> Response:
        """Send a request and return the response once its head arrived; errors raise APIError."""
        resp = self._send(method, path, params, body, headers, timeout)
        if resp.status >= 400:
            raise _error_of(resp)
        return resp

    def call(self, method: str, path: str, params: dict | None = None, body: Any = None) -> Any:
        resp = self.open(method, path, params, body)
        raw = resp.read()
        if not raw or resp.status == 204:
            return None
        if resp.getheader("Content-Type").startswith("application/json"):
            return fastjson.loads(raw)
        return raw

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params)

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return self.call("POST", path, params, body)

    def delete(self, path: str, **params: Any) -> Any:
        return self.call("DELETE", path, params)

    # -- hijacked streams ---------------------------------------------------

    def hijack(self, path: str, params: dict | None = None, body: Any = None) -> "HijackedSocket":
        """POST with ``Upgrade: tcp`` and return the raw socket after the 101 (or 200) response."""
        resp = self._send("POST", path, params, body if body is not None else b"", None, None, upgrade=True)
        if resp.status >= 400:
            raise _error_of(resp)
        return HijackedSocket(resp.sock, resp._buf)


def _error_of(resp: Response) -> APIError:
    raw = resp.read()
    try:
        message = fastjson.loads(raw).get("message", "")
    except (ValueError, AttributeError):
        message = raw.decode(errors="replace").strip()
    return APIError(resp.status, message or f"HTTP {resp.status}")


def quote_ref(ref: str) -> str:
    return quote(ref, safe="")


def _dumps(value: Any) -> str:
    """``json.dumps(value)`` without importing json (and re) for a request body or the filters."""
    return fastjson.dumps(value)


class HijackedSocket:
    """A socket whose first reads return bytes already read past the response head."""

    def __init__(self, sock: Socket, prefix: bytes):
        self.sock = sock
        self.prefix = prefix

    def recv(self, n: int) -> bytes:
        if self.prefix:
            out, self.prefix = self.prefix[:n], self.prefix[n:]
            return out
        try:
            return self.sock.recv(n)
        except OSError:
            return b""

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def shutdown_write(self) -> None:
        try:
            if hasattr(self.sock, "unwrap"):  # TLS: close_notify would end both directions; just stop writing
                return
            self.sock.shutdown(_socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def fileno(self) -> int:
        return self.sock.fileno()
