"""``berth build``: send a build context to the daemon and show the build's output.

The context is packed here, leaving out what ``.dockerignore`` excludes, as the
docker CLI does. ``PATH`` may be ``-``: standard input is then either a context
tar (plain or gzip) or a Dockerfile with an empty context.
"""

from __future__ import annotations

import os
import sys

from berth.cli import fastjson
from berth.cli.client import Client, urlencode

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing (nor a build for argparse)
    import argparse
    from typing import Any


def _key_values(items: list[str], what: str, from_env: bool) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key:
            raise SystemExit(f"invalid {what} {item!r}: expected KEY=VALUE")
        # Docker: --build-arg NAME without a value takes NAME from the environment (and is skipped if unset)
        out[key] = value if sep else (os.environ.get(key) if from_env else "")
    return {k: v for k, v in out.items() if v is not None or not from_env}


USAGE = "[OPTIONS] PATH | -"
BUILD_OPTIONS = (
    ((), "arg", "path", None, "the build context directory, or - for standard input", {"metavar": "PATH|-"}),
    (("-t", "--tag"), "list", "tag", [], "name and optionally a tag (name:tag); repeatable"),
    (("-f", "--file"), "string", "file", None, "name of the Dockerfile (default: PATH/Dockerfile)"),
    (("--build-arg",), "list", "build_arg", [], "set a build-time variable (NAME=VALUE)"),
    (("--target",), "string", "target", None, "build the stage with this name and stop"),
    (("--label",), "list", "label", [], "set metadata on the image (KEY=VALUE)"),
    (("--no-cache",), "bool", "no_cache", False, "do not use the cache"),
    (("--pull",), "bool", "pull", False, "always try to pull newer versions of the base images"),
    (("--rm",), "bool", "rm", True, "remove intermediate containers after a build (default true; --rm=false keeps them)"),
    (("--force-rm",), "bool", "force_rm", False, "always remove intermediate containers"),
    (("-q", "--quiet"), "bool", "quiet", False, "suppress the build output and print the image ID"),
    (("--iidfile",), "string", "iidfile", None, "write the image ID to this file"),
    (("--network",), "string", "network", "default", "network mode of the RUN containers (default: default)"),
    (("--platform",), "string", "platform", None, "platform of the image (only the host's is supported)"),
    (("-h", "--help"), "help", "help", None, "Print usage"),
)
#: read by berth.cli.flags as the docker CLI reads it (``--rm=false``; flags after PATH too)
FLAG_TABLES = {"build": BUILD_OPTIONS}
INTERSPERSED = ("build",)
ALIASES = {"build": "berth build, berth image build"}
OWN_HELP = ("build",)


def setup_build(p: argparse.ArgumentParser) -> None:
    from berth.cli.argparsing import add_options

    add_options(p, BUILD_OPTIONS)


def _stdin_dockerfile_name() -> str:
    import secrets

    return f".berth-dockerfile-{secrets.token_hex(6)}"


def _context(opts: argparse.Namespace) -> tuple[Any, str | None]:
    """The context tar to send (bytes, or a :class:`~berth.build.packer.Packed` streamed as it is sent) and
    the dockerfile name inside it."""
    from berth.build.packer import pack, single_file_tar

    dockerfile = opts.file
    if opts.path == "-":
        data = sys.stdin.buffer.read()
        if data[:2] == b"\x1f\x8b" or (len(data) >= 262 and data[257:262] == b"ustar"):
            return data, dockerfile
        return single_file_tar("Dockerfile", data), "Dockerfile"
    root = os.path.abspath(opts.path)
    extra: dict[str, bytes] = {}
    name = None
    if dockerfile == "-":
        name = _stdin_dockerfile_name()
        extra[name] = sys.stdin.buffer.read()
    elif dockerfile:
        path = os.path.abspath(dockerfile)
        rel = os.path.relpath(path, root)
        if rel.startswith(".."):  # outside the context: sent under a name of its own, as docker does
            name = _stdin_dockerfile_name()
            with open(path, "rb") as f:
                extra[name] = f.read()
        else:
            name = rel.replace(os.sep, "/")
    return pack(root, name, extra), name


def run_build(client: Client, opts: argparse.Namespace) -> int:
    try:
        body, dockerfile = _context(opts)
    except OSError as exc:
        print(f"unable to prepare context: {exc}", file=sys.stderr)
        return 1
    params: dict[str, Any] = {
        "dockerfile": dockerfile, "buildargs": _key_values(opts.build_arg, "--build-arg", True) or None,
        "labels": _key_values(opts.label, "--label", False) or None, "target": opts.target,
        "nocache": opts.no_cache or None, "pull": opts.pull or None,
        "rm": opts.rm, "forcerm": opts.force_rm or None,
        "q": opts.quiet or None, "networkmode": opts.network, "platform": opts.platform,
    }
    # "t" repeats, so the query is encoded here (Client.path takes one value per parameter)
    query = [(k, fastjson.dumps(v) if isinstance(v, dict) else ("1" if v is True else "0" if v is False else v))
             for k, v in params.items() if v is not None]
    query += [("t", tag) for tag in opts.tag]
    try:
        resp = client.open("POST", "/build?" + urlencode(query), None, body,
                           headers={"Content-Type": "application/x-tar"})
    except OSError as exc:  # a file of the context became unreadable or changed while it was sent
        print(f"error sending the build context: {exc}", file=sys.stderr)
        return 1
    return render(resp, opts.quiet, opts.iidfile)


def render(resp, quiet: bool, iidfile: str | None) -> int:
    """Print the NDJSON build stream; return the exit code (the failing step's, as docker does)."""
    image_id = None
    buf = b""
    code = 0
    while True:
        chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
        if not chunk:
            break
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            line = line.strip()
            if not line:
                continue
            msg = fastjson.loads(line)
            if "error" in msg or "errorDetail" in msg:
                detail = msg.get("errorDetail") or {}
                print(detail.get("message") or msg.get("error"), file=sys.stderr)
                code = int(detail.get("code") or 1)
            elif isinstance(msg.get("aux"), dict) and msg["aux"].get("ID"):
                image_id = msg["aux"]["ID"]
            elif "stream" in msg and not quiet:
                sys.stdout.write(msg["stream"])
                sys.stdout.flush()
            elif "status" in msg and not quiet:
                print(f"{msg['id']}: {msg['status']}" if msg.get("id") else msg["status"])
    if code:
        return code
    if quiet and image_id:
        print(image_id)
    if iidfile and image_id:
        with open(iidfile, "w") as f:
            f.write(image_id)
    return 0
