"""Registry authentication: credentials, ``WWW-Authenticate`` challenges, the X-Registry-Auth header.

The daemon never stores passwords: as with Docker, the CLI keeps them in its
config.json (see :mod:`berth.registry.credstore`) and sends them with each pull
or push in ``X-Registry-Auth`` (base64url JSON). The transport answers a 401 by
the challenge it names: ``Basic`` resends with the credentials, ``Bearer`` asks
the token server at ``realm`` for a token for ``service`` and ``scope``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field

from berth.errors import InvalidArgument

_PARAM = re.compile(r'\s*([a-zA-Z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


@dataclass(frozen=True)
class Credentials:
    """What the user gave to ``login`` (an identity token counts as a refresh token)."""

    username: str = ""
    password: str = ""
    identity_token: str = ""
    registry_token: str = ""

    @property
    def anonymous(self) -> bool:
        return not (self.username or self.password or self.identity_token or self.registry_token)


ANONYMOUS = Credentials()


@dataclass
class Challenge:
    scheme: str  # "basic" or "bearer", lower case
    params: dict[str, str] = field(default_factory=dict)


def parse_challenges(header: str) -> list[Challenge]:
    """Parse one ``WWW-Authenticate`` value: ``Bearer realm="...",service="...",scope="..."``."""
    out: list[Challenge] = []
    rest = header.strip()
    while rest:
        m = re.match(r"([A-Za-z][\w-]*)\s*", rest)
        if not m:
            break
        challenge = Challenge(m.group(1).lower())
        rest = rest[m.end():]
        while True:
            pm = _PARAM.match(rest)
            if not pm:
                break
            value = pm.group(2) if pm.group(2) is not None else pm.group(3)
            challenge.params[pm.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
            rest = rest[pm.end():]
        out.append(challenge)
        rest = rest.lstrip(", ")
    return out


def decode_header(value: str | None) -> Credentials:
    """Decode Docker's ``X-Registry-Auth`` (base64url JSON; padding optional; ``{}`` is anonymous)."""
    if not value:
        return ANONYMOUS
    try:
        padded = value + "=" * (-len(value) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error) as exc:
        raise InvalidArgument(f"invalid X-Registry-Auth header: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidArgument("invalid X-Registry-Auth header: expected a JSON object")
    return from_json(data)


#: AuthConfig's fields: every one is a string (null is an absent one)
AUTH_CONFIG_FIELDS = ("username", "password", "auth", "email", "serveraddress", "identitytoken", "registrytoken")
_JSON_KINDS = ((bool, "bool"), (int, "number"), (float, "number"), (list, "array"), (dict, "object"))


def from_json(data: dict) -> Credentials:
    """Credentials from the API's AuthConfig object (``/auth`` body, X-Registry-Auth); a field that is not a
    string is refused in the words of dockerd's JSON decoder."""
    for name in AUTH_CONFIG_FIELDS:
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            kind = next(k for t, k in _JSON_KINDS if isinstance(value, t))
            raise InvalidArgument(f"invalid JSON: json: cannot unmarshal {kind} into Go struct field "
                                  f"AuthConfig.{name} of type string")
    username, password = data.get("username") or "", data.get("password") or ""
    if not username and data.get("auth"):
        username, password = decode_basic(data["auth"])
    return Credentials(username=username, password=password,
                       identity_token=data.get("identitytoken") or "", registry_token=data.get("registrytoken") or "")


def encode_header(creds: Credentials, server: str = "") -> str:
    """The ``X-Registry-Auth`` value the CLI sends for ``creds``."""
    data = {"username": creds.username, "password": creds.password, "serveraddress": server}
    if creds.identity_token:
        data["identitytoken"] = creds.identity_token
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def encode_basic(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode()


def decode_basic(value: str) -> tuple[str, str]:
    try:
        user, sep, password = base64.b64decode(value).decode().partition(":")
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"invalid stored credentials: {exc}") from None
    if not sep:
        raise InvalidArgument("invalid stored credentials: expected base64 of user:password")
    return user, password


def scope(repository_path: str, actions: tuple[str, ...]) -> str:
    """A token scope: ``repository:library/busybox:pull,push``."""
    return f"repository:{repository_path}:{','.join(actions)}"
