"""Container filesystem verbs: export, diff, commit, cp (both directions, the docker CLI's rules)."""

from __future__ import annotations

import argparse
import base64
import json
import os
import stat
import sys
import tarfile

from berth.cli.client import APIError, Client, quote_ref

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing
    from typing import BinaryIO, Callable

_CHUNK = 1 << 20
_GO_DIR = 1 << 31
_STAT_HEADER = "X-Docker-Container-Path-Stat"


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}: use true or false")


# ---------------------------------------------------------------------------
# export, diff, commit
# ---------------------------------------------------------------------------


def setup_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("-o", "--output", help="write to a file, instead of STDOUT")


def run_export(client: Client, opts: argparse.Namespace) -> int:
    if not opts.output and sys.stdout.isatty():
        raise SystemExit("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    resp = client.open("GET", f"/containers/{quote_ref(opts.container)}/export")
    out: BinaryIO = open(opts.output, "wb") if opts.output else sys.stdout.buffer
    complete = False
    try:
        while chunk := resp.read1(_CHUNK):
            out.write(chunk)
        out.flush()
        complete = True
    finally:
        if opts.output:
            out.close()
            if not complete:
                os.unlink(opts.output)
    return 0


def setup_diff(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")


def run_diff(client: Client, opts: argparse.Namespace) -> int:
    for change in client.get(f"/containers/{quote_ref(opts.container)}/changes") or []:
        print(f"{'CAD'[change['Kind']]} {change['Path']}")
    return 0


def setup_commit(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("reference", nargs="?", metavar="REPOSITORY[:TAG]")
    p.add_argument("-a", "--author", help='author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
    p.add_argument("-c", "--change", action="append", default=[], help="apply a Dockerfile instruction to the image")
    p.add_argument("-m", "--message", help="commit message")
    p.add_argument("-p", "--pause", nargs="?", const=True, default=True, type=_bool,
                   help="pause the container during commit (default true; --pause=false)")


def run_commit(client: Client, opts: argparse.Namespace) -> int:
    repo = tag = None
    if opts.reference:
        last = opts.reference.rsplit("/", 1)[-1]
        repo, tag = opts.reference.rsplit(":", 1) if ":" in last else (opts.reference, None)
    result = client.post("/commit", None, container=opts.container, repo=repo, tag=tag, author=opts.author,
                         comment=opts.message, changes="\n".join(opts.change) or None, pause=opts.pause)
    print(result["Id"])
    return 0


# ---------------------------------------------------------------------------
# cp
# ---------------------------------------------------------------------------


def setup_cp(p: argparse.ArgumentParser) -> None:
    p.usage = "berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH"
    p.add_argument("source")
    p.add_argument("dest")
    p.add_argument("-a", "--archive", action="store_true", help="archive mode (copy all uid/gid information)")
    p.add_argument("-L", "--follow-link", action="store_true", help="always follow symbol link in SRC_PATH")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress progress output")


def split_container_path(arg: str) -> tuple[str | None, str]:
    """``name:/path`` -> ("name", "/path"); a local path (``/x``, ``./x``, ``-``, no colon) -> (None, arg)."""
    if arg.startswith(("/", ".")) or arg == "-":
        return None, arg
    name, sep, path = arg.partition(":")
    if not sep or not name:
        return None, arg
    return name, path


def run_cp(client: Client, opts: argparse.Namespace) -> int:
    src_container, src = split_container_path(opts.source)
    dst_container, dst = split_container_path(opts.dest)
    if src_container and dst_container:
        raise SystemExit("copying between containers is not supported")
    if not src_container and not dst_container:
        raise SystemExit("must specify at least one container source (CONTAINER:PATH)")
    if src_container:
        return _copy_from(client, src_container, src, dst, opts)
    return _copy_to(client, src, dst_container, dst, opts)


def _stat_of(resp) -> dict:
    raw = resp.getheader(_STAT_HEADER)
    return json.loads(base64.b64decode(raw)) if raw else {}


def _container_stat(client: Client, container: str, path: str) -> dict | None:
    """The stat of ``path`` in the container, None when it does not exist (a missing container raises)."""
    try:
        resp = client.open("HEAD", f"/containers/{quote_ref(container)}/archive", {"path": path})
    except APIError as exc:
        if exc.status != 404:
            raise
        client.get(f"/containers/{quote_ref(container)}/json")  # HEAD has no body: tell "no container" apart
        return None
    resp.close()
    return _stat_of(resp)


def _rename_top(top: str | None) -> Callable[[str], str]:
    """Replace an archive name's first component with ``top`` (None: drop it, copying contents)."""

    def rename(name: str) -> str:
        parts = name.lstrip("/").split("/", 1)
        rest = parts[1] if len(parts) > 1 else ""
        if top is None:
            return rest
        return f"{top}/{rest}" if rest else top

    return rename


def _extract_local(resp, directory: str, rename: Callable[[str], str], keep_owner: bool) -> None:
    """Extract the response's tar into ``directory``, renaming entries, never writing outside it."""

    def member_filter(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
        new_name = rename(member.name)
        if not new_name:
            return None  # the top directory itself when copying contents
        changes = {"name": new_name}
        if member.islnk():
            changes["linkname"] = rename(member.linkname)
        member = member.replace(**changes, deep=False)
        safe = tarfile.tar_filter(member, path)
        # tar_filter drops group/other write bits; keep the file's mode as Docker does (not setuid bits)
        return safe.replace(mode=member.mode & 0o777 if not member.issym() else safe.mode,
                            uid=member.uid if keep_owner else None, gid=member.gid if keep_owner else None,
                            uname=None, gname=None, deep=False)

    class _Reader:
        def read(self, n: int = -1) -> bytes:
            return resp.read1(_CHUNK if n < 0 else n)

    with tarfile.open(fileobj=_Reader(), mode="r|") as tar:
        tar.extractall(directory, filter=member_filter)


def _copy_from(client: Client, container: str, src: str, dst: str, opts: argparse.Namespace) -> int:
    src_stat = _container_stat(client, container, src)
    if src_stat is None:
        raise SystemExit(f"Error response from daemon: Could not find the file {src} in container {container}")
    src_name = os.path.basename(src.rstrip("/")) or "/"
    if opts.follow_link and src_stat.get("linkTarget"):
        src = src_stat["linkTarget"]
        src_stat = _container_stat(client, container, src) or src_stat
    resp = client.open("GET", f"/containers/{quote_ref(container)}/archive", {"path": src})
    if dst == "-":
        while chunk := resp.read1(_CHUNK):
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return 0
    src_is_dir = bool(src_stat.get("mode", 0) & _GO_DIR)
    contents = src.endswith("/.")
    if os.path.isdir(dst):
        if src_is_dir and contents:
            _extract_local(resp, dst, _rename_top(None), opts.archive)
        else:
            _extract_local(resp, dst, _rename_top(src_name if src_name != "." else None), opts.archive)
        return 0
    if os.path.lexists(dst):
        if src_is_dir:
            raise SystemExit(f"cannot copy a directory to a file: {dst}")
        _extract_local(resp, os.path.dirname(os.path.abspath(dst)), _rename_top(os.path.basename(dst)), opts.archive)
        return 0
    if dst.endswith("/") and not src_is_dir:
        raise SystemExit(f"destination directory {dst} does not exist")
    parent = os.path.dirname(os.path.abspath(dst.rstrip("/")))
    if not os.path.isdir(parent):
        raise SystemExit(f"destination directory {parent} does not exist")
    _extract_local(resp, parent, _rename_top(os.path.basename(dst.rstrip("/"))), opts.archive)
    return 0


def _tar_of(src: str, top: str, contents: bool, keep_owner: bool, follow: bool) -> BinaryIO:
    """A stream of the tar of local ``src`` named ``top`` (made while it is read)."""
    from berth.images.pipestream import producer_stream

    def owner(ti: tarfile.TarInfo) -> tarfile.TarInfo:
        if not keep_owner:
            ti.uid = ti.gid = 0
        ti.uname = ti.gname = ""
        return ti

    def produce(out: BinaryIO) -> None:
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, dereference=False) as tar:
            if contents:
                tar.add(src, arcname=top, recursive=False, filter=owner)
                for name in sorted(os.listdir(src)):
                    tar.add(os.path.join(src, name), arcname=f"{top}/{name}", filter=owner)
            else:
                path = os.path.realpath(src) if follow else src
                tar.add(path, arcname=top, filter=owner)

    return producer_stream(produce, what=f"tar of {src}")


def _copy_to(client: Client, src: str, container: str, dst: str, opts: argparse.Namespace) -> int:
    if src == "-":
        resp = client.open("PUT", f"/containers/{quote_ref(container)}/archive", {"path": dst}, body=sys.stdin.buffer,
                           headers={"Content-Type": "application/x-tar"})
        resp.read()
        return 0
    try:
        st = os.stat(src) if opts.follow_link else os.lstat(src)
    except FileNotFoundError:
        raise SystemExit(f"no such file or directory: {src}") from None
    src_is_dir = stat.S_ISDIR(st.st_mode)
    contents = src.endswith("/.") or src == "."
    dst_stat = _container_stat(client, container, dst)
    if dst_stat is not None and dst_stat.get("linkTarget"):
        dst = dst_stat["linkTarget"]
        dst_stat = _container_stat(client, container, dst)
    if dst_stat is not None and dst_stat.get("mode", 0) & _GO_DIR:
        # into the existing directory; "SRC/." puts the contents there, not SRC itself
        target_dir, top = dst, ("." if contents else os.path.basename(os.path.abspath(src)))
    elif dst_stat is not None:
        if src_is_dir:
            raise SystemExit(f"cannot copy a directory to a file: {container}:{dst}")
        target_dir, top = os.path.dirname(dst.rstrip("/")) or "/", os.path.basename(dst)
    else:
        if dst.endswith("/") and not src_is_dir:
            raise SystemExit(f"destination directory {container}:{dst} does not exist")
        target_dir, top = os.path.dirname(dst.rstrip("/")) or "/", os.path.basename(dst.rstrip("/"))
    local = src[:-2] if src.endswith("/.") else src
    body = _tar_of(local or "/", top, contents and src_is_dir, opts.archive, opts.follow_link)
    with body:
        resp = client.open("PUT", f"/containers/{quote_ref(container)}/archive", {"path": target_dir}, body=body,
                           headers={"Content-Type": "application/x-tar"})
        resp.read()
    return 0
