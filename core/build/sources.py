"""COPY/ADD sources: wildcard expansion, content checksums (the cache key), archives, downloads.

The checksum of a source covers what ends up in the image, not when it was
touched: each entry's relative path, type, mode, link target and content
(Docker's tarsum ignores mtimes too), so an unchanged file keeps the cache.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import stat
import tarfile
from dataclasses import dataclass

from berth.images.scope import resolve_in_root
from berth.errors import InvalidArgument

GLOB_CHARS = re.compile(r"[*?\[]")


def is_url(src: str) -> bool:
    return src.startswith("http://") or src.startswith("https://")


def is_glob(src: str) -> bool:
    """Whether a COPY/ADD source has wildcards (then it names what matches, possibly nothing)."""
    return GLOB_CHARS.search(src) is not None


def component_regex(component: str) -> re.Pattern:
    """Go's ``filepath.Match`` for one path component (``*``/``?`` never match ``/``)."""
    out, i = "", 0
    while i < len(component):
        ch = component[i]
        if ch == "*":
            out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "[":
            end = component.find("]", i + 1)
            if end < 0:
                raise InvalidArgument(f"syntax error in pattern {component!r}: unclosed '['")
            body = component[i + 1:end]
            out += "[" + ("^" + body[1:] if body[:1] in ("^", "!") else body) + "]"
            i = end
        elif ch == "\\" and i + 1 < len(component):
            i += 1
            out += re.escape(component[i])
        else:
            out += re.escape(ch)
        i += 1
    return re.compile(out + "$", re.S)


def expand(root: str, src: str, what: str) -> list[str]:
    """Host paths under ``root`` that the source ``src`` names (wildcards expanded, sorted).

    ``root`` is the build context (or a stage's tree for ``--from``); ``src`` may not leave it.
    """
    clean = posixpath.normpath("/" + src.replace("\\", "/") if not src.startswith("/") else src)
    if posixpath.normpath(src).startswith("../") or posixpath.normpath(src) == "..":
        raise InvalidArgument(f"{what} failed: forbidden path outside the build context: {src}")
    parts = [p for p in clean.split("/") if p]
    if not is_glob(src):
        path = resolve_in_root(root, clean, follow_final=False)
        if not os.path.lexists(path):
            raise InvalidArgument(f"{what} failed: file not found in build context or excluded by "
                                  f".dockerignore: stat {src}: file does not exist")
        return [path]
    matches = [root]
    for part in parts:
        nxt = []
        if GLOB_CHARS.search(part):
            rx = component_regex(part)
            for base in matches:
                if os.path.isdir(base) and not os.path.islink(base):
                    nxt += [os.path.join(base, n) for n in sorted(os.listdir(base)) if rx.match(n)]
        else:  # symlinks on the way are followed inside ``root``, never on the host
            for base in matches:
                rel = os.path.relpath(base, root)
                path = resolve_in_root(root, part if rel == "." else f"{rel}/{part}", follow_final=False)
                if os.path.lexists(path):
                    nxt.append(path)
        matches = nxt
    if not matches:
        raise InvalidArgument(f"{what} failed: no source files were specified: no file in the build context "
                              f"matches {src!r} (or every match is excluded by .dockerignore)")
    return matches


def checksum(path: str) -> str:
    """``file:<hex>`` or ``dir:<hex>``: the content checksum of one source."""
    h = hashlib.sha256()
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        for current, dirs, files in os.walk(path):
            dirs.sort()
            rel_dir = os.path.relpath(current, path)
            entries = sorted(dirs + files)
            for name in entries:
                full = os.path.join(current, name)
                _hash_entry(h, full, name if rel_dir == "." else f"{rel_dir}/{name}")
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(current, d))]
        return "dir:" + h.hexdigest()
    _hash_entry(h, path, "")
    return "file:" + h.hexdigest()


def _hash_entry(h, full: str, rel: str) -> None:
    st = os.lstat(full)
    h.update(f"{rel}\0{stat.S_IFMT(st.st_mode)}\0{stat.S_IMODE(st.st_mode):o}\0".encode())
    if stat.S_ISLNK(st.st_mode):
        h.update(os.readlink(full).encode() + b"\0")
    elif stat.S_ISREG(st.st_mode):
        with open(full, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")


def combine(sums: list[str]) -> str:
    """The checksum of all sources of one COPY/ADD, from theirs, as Docker writes it in the history."""
    if len(sums) == 1:
        return sums[0]
    return "multi:" + hashlib.sha256("\n".join(sums).encode()).hexdigest()


def is_archive(path: str) -> bool:
    """True for a local tar (plain, gzip, bzip2 or xz) that ADD unpacks."""
    if not os.path.isfile(path) or os.path.islink(path):
        return False
    try:
        with tarfile.open(path, "r:*") as tar:
            return tar.next() is not None
    except (tarfile.TarError, OSError, EOFError):
        return False


@dataclass
class Download:
    path: str
    name: str


def download(url: str, directory: str, timeout: float = 30.0) -> Download:
    """Fetch ``url`` into ``directory`` for ADD; a clear error when it cannot be reached."""
    import email.utils
    import urllib.error
    import urllib.parse
    import urllib.request

    name = posixpath.basename(urllib.parse.urlparse(url).path) or "download"
    target = os.path.join(directory, name)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(target, "wb") as out:
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                out.write(chunk)
            modified = resp.headers.get("Last-Modified")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InvalidArgument(f"ADD failed: cannot download {url}: {reason}. The daemon could not reach it "
                              "(berthd may have no network access); download it into the build context and "
                              "ADD or COPY the local file instead") from None
    os.chmod(target, 0o600)  # Docker gives downloaded files mode 600
    if modified:
        try:
            when = email.utils.parsedate_to_datetime(modified).timestamp()
            os.utime(target, (when, when))
        except (TypeError, ValueError):
            pass
    return Download(target, name)
