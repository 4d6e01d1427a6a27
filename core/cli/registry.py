"""Registry verbs: pull, push, login, logout, search; and the progress display of pull/push.

Credentials stay on the client side, as with Docker: ``login`` checks them with
the daemon (``POST /auth``) and saves them in config.json
(:mod:`berth.registry.credstore`); ``pull`` and ``push`` send the saved ones for the
image's registry in ``X-Registry-Auth``.
"""

from __future__ import annotations

import sys

from berth.cli import fastjson
from berth.cli import format as fmt
from berth.cli.client import Client, quote_ref

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing (nor a pull for argparse)
    import argparse
    from typing import IO, Any


# ---------------------------------------------------------------------------
# progress display (Docker's jsonmessage.DisplayJSONMessagesStream)
# ---------------------------------------------------------------------------


class ProgressDisplay:
    """Renders NDJSON progress: one line per layer id, redrawn in place on a terminal.

    Without a terminal, byte-count updates are skipped and every status change is
    printed as its own line (what ``docker pull | cat`` shows).
    """

    def __init__(self, out: IO[str], tty: bool):
        self.out = out
        self.tty = tty
        self.lines: dict[str, int] = {}  # layer id -> line index from the top of the block
        self.count = 0

    def show(self, msg: dict[str, Any]) -> None:
        if "errorDetail" in msg or "error" in msg:
            raise ProgressError((msg.get("errorDetail") or {}).get("message") or msg.get("error") or "unknown error")
        if "aux" in msg and "status" not in msg:
            return
        status = msg.get("status", "")
        ident = msg.get("id")
        progress = msg.get("progress", "")
        if not self.tty:
            if progress:
                return
            self.out.write(f"{ident}: {status}\n" if ident else f"{status}\n")
            self.out.flush()
            return
        text = f"{ident}: {status} {progress}".rstrip() if ident else status
        if ident and ident in self.lines:
            up = self.count - self.lines[ident]
            # cursor up to the layer's line, clear it, write, and back down
            self.out.write(f"\x1b[{up}A\r\x1b[2K{text}\r\x1b[{up}B")
        else:
            if ident:
                self.lines[ident] = self.count
            self.out.write(text + "\n")
            self.count += 1
        self.out.flush()


class ProgressError(Exception):
    pass


def display_stream(resp, out: IO[str] | None = None, tty: bool | None = None, quiet: bool = False) -> dict | None:
    """Read an NDJSON progress response to its end; returns the last ``aux`` object; raises ProgressError."""
    out = out or sys.stdout
    display = ProgressDisplay(out, out.isatty() if tty is None else tty)
    aux = None
    buf = b""
    while True:
        chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
        if not chunk:
            break
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            msg = fastjson.loads(line)
            if "aux" in msg:
                aux = msg["aux"]
            if quiet and "errorDetail" not in msg and "error" not in msg:
                continue
            display.show(msg)
    if buf.strip():
        msg = fastjson.loads(buf)
        if not quiet or "error" in msg:
            display.show(msg)
    return aux


def _auth_header(image: str | None = None, domain: str | None = None) -> dict[str, str]:
    """``X-Registry-Auth`` with the saved credentials for the registry of ``image`` (or ``domain``)."""
    from berth.cli import clientconfig

    if not clientconfig.load().get("auths"):
        return {}  # nobody logged in: no need for the credential store's code
    from berth.registry import auth, credstore
    from berth.registry.reference import parse

    if image is not None:
        domain = parse(image, default_tag=False).domain
    creds = credstore.load(domain if domain != "docker.io" else None)
    if creds is None:
        return {}
    return {"X-Registry-Auth": auth.encode_header(creds, credstore.server_key(domain))}


# ---------------------------------------------------------------------------
# pull
# ---------------------------------------------------------------------------


PULL_OPTIONS = (
    ((), "arg", "name", None, "image to pull", {"metavar": "NAME[:TAG|@DIGEST]"}),
    (("-a", "--all-tags"), "bool", "all_tags", False, "download all tagged images in the repository"),
    (("--platform",), "string", "platform", None, "set platform if server is multi-platform capable (e.g. linux/arm64)"),
    (("-q", "--quiet"), "bool", "quiet", False, "suppress verbose output"),
)
PUSH_OPTIONS = (
    ((), "arg", "name", None, "image to push", {"metavar": "NAME[:TAG]"}),
    (("-a", "--all-tags"), "bool", "all_tags", False, "push all tags of the repository"),
    (("-q", "--quiet"), "bool", "quiet", False, "suppress verbose output"),
)
#: verbs the fast path may parse without argparse (see berth.cli.options)
FAST_OPTIONS = {"pull": PULL_OPTIONS, "push": PUSH_OPTIONS}


def setup_pull(p: argparse.ArgumentParser) -> None:
    from berth.cli.argparsing import add_options

    add_options(p, PULL_OPTIONS)


def pull_image(client: Client, name: str, platform: str | None = None, quiet: bool = False,
               out: IO[str] | None = None, all_tags: bool = False) -> int:
    """Pull ``name`` (every tag of its repository: ``all_tags``) through the daemon and show its progress;
    also used by ``run``/``create`` for a missing image."""
    from berth.registry.reference import parse

    ref = parse(name, default_tag=not all_tags)
    tag = ref.digest or ref.tag
    # the fully qualified name (docker.io/library/busybox), as the docker CLI sends it
    resp = client.open("POST", "/images/create", {"fromImage": ref.name, "tag": tag, "platform": platform},
                       headers=_auth_header(name))
    try:
        display_stream(resp, out=out, quiet=quiet)
    except ProgressError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


def run_pull(client: Client, opts: argparse.Namespace) -> int:
    from berth.registry.reference import parse

    if opts.all_tags:
        ref = parse(opts.name, default_tag=False)
        if ref.tag or ref.digest:
            print("tag can't be used with --all-tags/-a", file=sys.stderr)
            return 1
        code = pull_image(client, opts.name, opts.platform, opts.quiet, all_tags=True)
        if code == 0:
            print(ref.name)
        return code
    code = pull_image(client, opts.name, opts.platform, opts.quiet)
    if code == 0:
        ref = parse(opts.name)
        print(f"{ref.name}{'@' + ref.digest if ref.digest else ':' + (ref.tag or 'latest')}")
    return code


# ---------------------------------------------------------------------------
# push
# ---------------------------------------------------------------------------


def setup_push(p: argparse.ArgumentParser) -> None:
    from berth.cli.argparsing import add_options

    add_options(p, PUSH_OPTIONS)


def run_push(client: Client, opts: argparse.Namespace) -> int:
    from berth.registry.reference import parse

    ref = parse(opts.name, default_tag=not opts.all_tags)
    if ref.digest:
        print(f"berth push: cannot push a digest reference {opts.name!r}; push a tag", file=sys.stderr)
        return 1
    name = ref.familiar_name
    resp = client.open("POST", f"/images/{quote_ref(name)}/push", {"tag": ref.tag}, headers=_auth_header(opts.name))
    try:
        display_stream(resp, quiet=opts.quiet)
    except ProgressError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if opts.quiet:
        print(f"{ref.name}:{ref.tag}" if ref.tag else ref.name)
    return 0


# ---------------------------------------------------------------------------
# login / logout
# ---------------------------------------------------------------------------


def setup_login(p: argparse.ArgumentParser) -> None:
    p.add_argument("server", nargs="?", help="registry (default: Docker Hub)")
    p.add_argument("-u", "--username", help="username")
    p.add_argument("-p", "--password", help="password (prefer --password-stdin)")
    p.add_argument("--password-stdin", action="store_true", help="take the password from stdin")


def run_login(client: Client, opts: argparse.Namespace) -> int:
    from berth.cli.client import APIError
    from berth.registry import auth, credstore

    username, password = opts.username, opts.password
    if opts.password_stdin:
        if password:
            print("berth login: --password and --password-stdin are mutually exclusive", file=sys.stderr)
            return 1
        if not username:
            print("berth login: must provide --username with --password-stdin", file=sys.stderr)
            return 1
        password = sys.stdin.read().rstrip("\r\n")
    elif password:
        print("WARNING! Using --password via the CLI is insecure. Use --password-stdin.", file=sys.stderr)
    if not username:
        username = input("Username: ").strip()
    if not password:
        import getpass

        password = getpass.getpass("Password: ")
    if not username or not password:
        print("berth login: username and password are required", file=sys.stderr)
        return 1
    try:
        client.post("/auth", {"username": username, "password": password,
                              "serveraddress": opts.server or credstore.DOCKER_HUB_KEY})
    except APIError as exc:
        print(f"Error response from daemon: {exc.message}", file=sys.stderr)
        return 1
    path = credstore.store(opts.server, auth.Credentials(username=username, password=password))
    print(f"WARNING! Your password will be stored unencrypted in {path}.", file=sys.stderr)
    print("Login Succeeded")
    return 0


def setup_logout(p: argparse.ArgumentParser) -> None:
    p.add_argument("server", nargs="?", help="registry (default: Docker Hub)")


def run_logout(client: Client, opts: argparse.Namespace) -> int:
    from berth.registry import credstore

    key = credstore.server_key(opts.server)
    if credstore.erase(opts.server):
        print(f"Removing login credentials for {key}")
    else:
        print(f"Not logged in to {key}")
    return 0


# ---------------------------------------------------------------------------
# search
# ---------------------------------------------------------------------------


def setup_search(p: argparse.ArgumentParser) -> None:
    p.add_argument("term", help="what to search for; prefix a registry (host:port/term) to search it")
    p.add_argument("--limit", type=int, default=25, help="max number of search results (default 25)")
    p.add_argument("-f", "--filter", action="append", default=[], help="filter output: stars=N, is-official=BOOL")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("--format", help="print with a Go template: {{.Name}}, {{.Description}}, {{.StarCount}}")


def run_search(client: Client, opts: argparse.Namespace) -> int:
    filters: dict[str, list[str]] = {}
    for f in opts.filter:
        key, sep, value = f.partition("=")
        if not sep:
            print(f"berth search: bad format of filter {f!r} (expected name=value)", file=sys.stderr)
            return 1
        filters.setdefault(key, []).append(value)
    params: dict[str, Any] = {"term": opts.term, "limit": opts.limit}
    if filters:
        params["filters"] = filters
    from berth.registry.search import DOCKER_HUB_INDEX, split_term

    index = split_term(opts.term)[0]
    resp = client.open("GET", "/images/search", params,
                       headers=_auth_header(domain="docker.io" if index == DOCKER_HUB_INDEX else index))
    results = fastjson.loads(resp.read() or b"[]")
    if opts.format:
        fields = {"Name": "name", "Description": "description", "StarCount": "star_count",
                  "IsOfficial": "is_official", "IsAutomated": "is_automated"}
        for r in results:
            line = opts.format
            for key, field in fields.items():
                line = line.replace("{{.%s}}" % key, str(r.get(field, "")))
            print(line)
        return 0
    rows = []
    for r in results:
        desc = " ".join((r.get("description") or "").split())
        if not opts.no_trunc:
            desc = fmt.truncate(desc, 45)
        rows.append([r["name"], desc, str(r.get("star_count", 0)), "[OK]" if r.get("is_official") else ""])
    fmt.table(["NAME", "DESCRIPTION", "STARS", "OFFICIAL"], rows)
    return 0
