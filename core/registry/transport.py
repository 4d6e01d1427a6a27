"""HTTP to one registry over aiohttp: endpoint choice, authentication, retries with backoff.

One :class:`Registry` per (registry host, credentials) per operation. It chooses
``https://``, or for an insecure registry (``insecure-registries`` in daemon.json,
or a loopback address, as Docker allows by default) tries ``https://`` without
certificate checks and falls back to ``http://``. It answers 401 challenges
(Basic, or Bearer through the token server named by ``realm``), caching one token
per set of scopes, and retries transient failures (connection errors, 429, 5xx)
with exponential backoff; other failures raise at once with the registry's message.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable

import aiohttp

from berth import log
from berth.registry import auth
from berth.registry.errors import RegistryError, RegistryNotFound, Transient, Unauthorized, describe

USER_AGENT = "berth/0.1 (registry client; like docker/28)"
DEFAULT_INSECURE_CIDRS = ("127.0.0.0/8", "::1/128")
_TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}
#: how long what a ``/v2/`` probe found (scheme, challenge) is reused by transfers (see :class:`Registry`)
PROBE_MEMORY = 60.0
_PROBED: dict[tuple[str, bool], tuple[str, "auth.Challenge | None", float]] = {}


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a transient failure."""

    attempts: int = 5
    first_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, attempt: int) -> float:
        base = min(self.max_delay, self.first_delay * (2 ** (attempt - 1)))
        return base * (0.75 + random.random() / 2)  # jitter so parallel downloads don't retry in lockstep


def is_insecure(host: str, insecure: Iterable[str]) -> bool:
    """True when ``host`` (host[:port]) may be spoken to without verified TLS.

    Matches Docker: an entry equal to host[:port], or a CIDR containing the host's
    address; loopback addresses are insecure by default.
    """
    entries = list(insecure)
    if host in entries:
        return True
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]")
    if name in entries:
        return True
    try:
        addresses = [ipaddress.ip_address(name)]
    except ValueError:
        if name == "localhost":
            addresses = [ipaddress.ip_address("127.0.0.1")]
        else:
            try:
                addresses = [ipaddress.ip_address(info[4][0]) for info in
                             socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)]
            except (OSError, ValueError):
                return False
    networks = []
    for entry in (*DEFAULT_INSECURE_CIDRS, *entries):
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue
    return any(addr in net for addr in addresses for net in networks if addr.version == net.version)


Body = bytes | Callable[[], Any] | None


class Registry:
    """Authenticated, retrying HTTP to one registry's ``/v2/`` API.

    The first request probes ``/v2/`` for the scheme (an insecure registry may speak plain HTTP)
    and the authentication challenge. With ``remember``, a probe's finding is kept for
    :data:`PROBE_MEMORY` seconds and the next transfers to the registry start with their first
    real request (dockerd pings before every pull: one round trip more); a remembered endpoint
    that no longer answers is probed again at once.
    """

    def __init__(self, session: aiohttp.ClientSession, host: str, creds: auth.Credentials = auth.ANONYMOUS,
                 insecure: Iterable[str] = (), retry: RetryPolicy = RetryPolicy(), remember: bool = False):
        self.session = session
        self.remember = remember
        self._remembered = False  # the base URL and challenge came from an earlier probe
        self.host = host
        self.creds = creds
        self.insecure = is_insecure(host, insecure)
        self.retry = retry
        self._base: str | None = None
        self._challenge: auth.Challenge | None = None
        self._tokens: dict[tuple[str, ...], str] = {}
        self._lock = asyncio.Lock()

    # -- endpoint -----------------------------------------------------------

    async def base_url(self) -> str:
        """``https://host`` or, for an insecure registry that does not speak TLS, ``http://host``."""
        async with self._lock:
            if self._base is None:
                key = (self.host, self.insecure)
                known = _PROBED.get(key) if self.remember else None
                if known is not None and known[2] > time.monotonic():
                    self._base, self._challenge, _ = known
                    self._remembered = True
                else:
                    self._base = await self._probe()
                    if self.remember:
                        _PROBED[key] = (self._base, self._challenge, time.monotonic() + PROBE_MEMORY)
            return self._base

    async def _probe_again(self) -> str:
        """Forget a remembered endpoint that failed and probe the registry now."""
        async with self._lock:
            _PROBED.pop((self.host, self.insecure), None)
            self._base, self._remembered = None, False
        return await self.base_url()

    async def _probe(self) -> str:
        schemes = ["https", "http"] if self.insecure else ["https"]
        last: Exception | None = None
        for scheme in schemes:
            url = f"{scheme}://{self.host}/v2/"
            for attempt in range(1, self.retry.attempts + 1):
                try:
                    async with self.session.get(url, ssl=False if self.insecure else True,
                                                headers={"User-Agent": USER_AGENT}) as resp:
                        await resp.read()
                        if resp.status == 401:
                            self._challenge = _pick_challenge(resp.headers.getall("WWW-Authenticate", []))
                        elif resp.status in _TRANSIENT_STATUS and attempt < self.retry.attempts:
                            await asyncio.sleep(self.retry.delay(attempt))
                            continue
                        elif resp.status >= 400 and resp.status != 404:
                            raise RegistryError(f"registry {self.host} answered {url} with "
                                                f"{describe(resp.status, await resp.read())}")
                        return f"{scheme}://{self.host}"
                except (aiohttp.ClientSSLError, aiohttp.ServerDisconnectedError) as exc:
                    last = exc  # plain HTTP server on the other end: try the next scheme
                    break
                except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as exc:
                    last = exc
                    if attempt < self.retry.attempts:
                        await asyncio.sleep(self.retry.delay(attempt))
        hint = "" if self.insecure else (f"; if {self.host} serves plain HTTP, add it to \"insecure-registries\" "
                                          f"in daemon.json")
        raise Transient(f"cannot reach registry {self.host}: {type(last).__name__}: {last}{hint}")

    # -- authentication -----------------------------------------------------

    async def _authorization(self, scopes: tuple[str, ...], refresh: bool = False) -> str | None:
        challenge = self._challenge
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            if self.creds.anonymous:
                raise Unauthorized(f"registry {self.host} requires authentication; run 'berth login {self.host}'")
            return "Basic " + auth.encode_basic(self.creds.username, self.creds.password)
        if challenge.scheme == "bearer":
            if self.creds.registry_token:
                return "Bearer " + self.creds.registry_token
            if refresh or scopes not in self._tokens:
                self._tokens[scopes] = await self._fetch_token(challenge, scopes)
            return "Bearer " + self._tokens[scopes]
        raise Unauthorized(f"registry {self.host} asks for unsupported authentication scheme {challenge.scheme!r}")

    async def _fetch_token(self, challenge: auth.Challenge, scopes: tuple[str, ...]) -> str:
        realm = challenge.params.get("realm")
        if not realm:
            raise Unauthorized(f"registry {self.host} sent a Bearer challenge without a realm")
        params: list[tuple[str, str]] = []
        if challenge.params.get("service"):
            params.append(("service", challenge.params["service"]))
        for s in scopes:
            params.append(("scope", s))
        headers = {"User-Agent": USER_AGENT}
        if not self.creds.anonymous:
            params.append(("account", self.creds.username))
            headers["Authorization"] = "Basic " + auth.encode_basic(self.creds.username, self.creds.password)
        for attempt in range(1, self.retry.attempts + 1):
            try:
                async with self.session.get(realm, params=params, headers=headers,
                                            ssl=False if self.insecure else True) as resp:
                    body = await resp.read()
                    if resp.status in (401, 403):
                        raise Unauthorized(f"login to {self.host} refused by its token server {realm}: "
                                           f"{describe(resp.status, body)}; check the username and password")
                    if resp.status in _TRANSIENT_STATUS and attempt < self.retry.attempts:
                        await asyncio.sleep(self.retry.delay(attempt))
                        continue
                    if resp.status >= 400:
                        raise RegistryError(f"token server {realm} for {self.host} answered "
                                            f"{describe(resp.status, body)}")
                    data = await resp.json(content_type=None)
                    token = data.get("token") or data.get("access_token")
                    if not token:
                        raise RegistryError(f"token server {realm} for {self.host} returned no token")
                    return token
            except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as exc:
                if attempt >= self.retry.attempts:
                    raise Transient(f"cannot reach the token server {realm} of {self.host}: {exc}") from None
                await asyncio.sleep(self.retry.delay(attempt))
        raise AssertionError("unreachable")

    # -- requests -----------------------------------------------------------

    async def request(self, method: str, path: str, scopes: Iterable[str] = (), *,
                      headers: dict[str, str] | None = None, data: Body = None, params: Any = None,
                      ok: tuple[int, ...] = (200,), what: str = "") -> aiohttp.ClientResponse:
        """Send ``method path`` (path below the base URL or an absolute URL from a Location header).

        Returns the response (the caller reads and releases it) when its status is in ``ok``.
        404 raises :class:`RegistryNotFound`, 401/403 :class:`Unauthorized`; transient
        failures are retried, so ``data`` is bytes or a callable returning a fresh body.
        """
        scopes = tuple(sorted(set(scopes)))
        what = what or f"{method} {path}"
        base = await self.base_url()
        url = path if path.startswith(("http://", "https://")) else base + path
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            hdrs = {"User-Agent": USER_AGENT, **(headers or {})}
            authorization = await self._authorization(scopes, refresh=refreshed)
            if authorization:
                hdrs["Authorization"] = authorization
            body = data() if callable(data) else data
            try:
                resp = await self.session.request(method, url, headers=hdrs, data=body, params=params,
                                                  ssl=False if self.insecure else True)
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError) as exc:
                if self._remembered:  # the registry may have moved (to or from TLS) since it was probed
                    base = await self._probe_again()
                    url = path if path.startswith(("http://", "https://")) else base + path
                    attempt -= 1
                    continue
                if attempt >= self.retry.attempts:
                    raise Transient(f"{what} on {self.host} failed after {attempt} attempts: "
                                    f"{type(exc).__name__}: {exc}") from None
                log.get().info("registry.retry", host=self.host, what=what, attempt=attempt, error=str(exc))
                await asyncio.sleep(self.retry.delay(attempt))
                continue
            if resp.status in ok:
                return resp
            body_bytes = await resp.read()
            resp.release()
            if resp.status == 401 and not refreshed:
                new = _pick_challenge(resp.headers.getall("WWW-Authenticate", []))
                if new is not None:
                    self._challenge = new
                    refreshed = True
                    attempt -= 1  # answering a challenge is not a failed attempt
                    continue
            if resp.status in (401, 403):
                raise Unauthorized(f"{what} on {self.host}: {describe(resp.status, body_bytes)}")
            if resp.status == 404:
                raise RegistryNotFound(f"{what} on {self.host}: {describe(resp.status, body_bytes)}")
            if resp.status in _TRANSIENT_STATUS and attempt < self.retry.attempts:
                log.get().info("registry.retry", host=self.host, what=what, attempt=attempt, status=resp.status)
                await asyncio.sleep(_retry_after(resp) or self.retry.delay(attempt))
                continue
            error = Transient if resp.status in _TRANSIENT_STATUS else RegistryError
            raise error(f"{what} on {self.host} failed: {describe(resp.status, body_bytes)}")

    async def list_pages(self, path: str, key: str, scopes: Iterable[str], what: str, max_pages: int = 100) -> list:
        """The items under ``key`` of a paginated v2 list (``/v2/_catalog``, ``/v2/<name>/tags/list``),
        following its ``Link: <...>; rel="next"`` headers for at most ``max_pages`` pages."""
        items: list = []
        next_path: str | None = path
        for _ in range(max_pages):
            if next_path is None:
                break
            resp = await self.request("GET", next_path, scopes, what=what)
            try:
                data = await resp.json(content_type=None)
                link = resp.headers.get("Link", "")
            finally:
                resp.release()
            items += (data or {}).get(key) or []
            next_path = _next_link(link)
        return items

    async def ping(self) -> None:
        """Check that the registry answers and that the credentials are accepted (``login``)."""
        await self.base_url()
        if self._challenge is None:
            return  # no authentication required
        if self._challenge.scheme == "bearer":
            await self._fetch_token(self._challenge, ())
            return
        resp = await self.request("GET", "/v2/", what="login")
        resp.release()


def _pick_challenge(values: list[str]) -> auth.Challenge | None:
    challenges = [c for v in values for c in auth.parse_challenges(v)]
    for scheme in ("bearer", "basic"):
        for c in challenges:
            if c.scheme == scheme:
                return c
    return challenges[0] if challenges else None


def _retry_after(resp: aiohttp.ClientResponse) -> float | None:
    value = resp.headers.get("Retry-After", "")
    try:
        return min(30.0, float(value))
    except ValueError:
        return None


async def with_session(fn: Callable[[aiohttp.ClientSession], Awaitable[Any]]) -> Any:
    """Run ``fn(session)`` in a fresh aiohttp session sized for concurrent blob transfers."""
    timeout = aiohttp.ClientTimeout(total=None, connect=30, sock_read=120)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=16)) as session:
        return await fn(session)


def _next_link(header: str) -> str | None:
    """The target of a ``Link: <url>; rel="next"`` header (RFC 8288, as the distribution API paginates)."""
    target, sep, params = header.partition(">")
    if not sep or not target.strip().startswith("<"):
        return None
    rels = [p.strip() for p in params.split(";") if p.strip().lower().startswith("rel=")]
    return target.strip()[1:] if any(r[4:].strip('"').lower() == "next" for r in rels) else None
