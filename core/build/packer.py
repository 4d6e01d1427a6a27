"""Client side of a build context: the directory packed as the docker CLI sends it, streamed to the socket.

:func:`pack` walks the context once (``.dockerignore`` applied, the Dockerfile
and ``.dockerignore`` always kept) and plans the tar: each entry's header is
written here, and a file's bytes are read only while the request is sent,
straight from the file to the socket with ``os.sendfile`` when the socket is a
plain one. The tar's length is known before the first byte goes out, so the
request has a ``Content-Length`` and the daemon reads a plain body.

Headers follow the docker CLI's (Moby's ``FileInfoHeader``): owner 0:0 with no
names, mtimes truncated to whole seconds, directories named with a trailing
``/``, a file seen again through another hard link sent as a hard link, PAX
records only for what ustar cannot hold (long or non-ASCII names, huge sizes).
Sockets, devices and FIFOs are not sent.

Only the standard library, and no ``tarfile``: ``berth build`` imports this at start-up.
"""

from __future__ import annotations

import os
import posixpath
import stat

from berth.errors import InvalidArgument

DEFAULT_DOCKERFILE = "Dockerfile"
BLOCK = 512
_SENDFILE_MIN = 1 << 18   # smaller files are read into the outgoing buffer (one write for many of them)
_FLUSH_AT = 1 << 20       # bytes of headers and small files gathered before a write
_USTAR_MAX = 8 ** 11      # an 11-digit octal field (size, mtime) holds less than this
_NUL_BLOCK = bytes(BLOCK)

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing
    from typing import Iterator

    from berth.build import dockerignore


def clean_rel(path: str, what: str) -> str:
    """``path`` as a relative path inside the context; one that climbs out of it is refused."""
    rel = posixpath.normpath(path.replace("\\", "/")).lstrip("/")
    if rel.startswith("../") or rel == "..":
        raise InvalidArgument(f"{what} {path!r} is outside the build context")
    return rel


def read_ignore_file(root: str) -> list[dockerignore.Pattern]:
    """The patterns of ``root``'s ``.dockerignore`` (none when it has none)."""
    try:
        with open(os.path.join(root, ".dockerignore"), encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return []
    from berth.build import dockerignore  # only with patterns: it costs ``re`` (~10 ms of start-up)

    return dockerignore.read(text)


# -- tar headers -----------------------------------------------------------------------------


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def _pax_record(key: str, value: bytes) -> bytes:
    body = b" " + key.encode() + b"=" + value + b"\n"
    size = len(body) + 1
    while len(b"%d" % size) + len(body) != size:  # the length counts its own digits
        size = len(b"%d" % size) + len(body)
    return b"%d" % size + body


def _ustar(name: bytes, kind: bytes, mode: int, size: int, mtime: int, linkname: bytes) -> bytes:
    head = b"".join((
        name[:100].ljust(100, b"\0"), _octal(mode, 8), _octal(0, 8), _octal(0, 8), _octal(size, 12),
        _octal(mtime, 12), b" " * 8, kind, linkname[:100].ljust(100, b"\0"), b"ustar\x0000",
        bytes(64), _octal(0, 8), _octal(0, 8), bytes(167),
    ))
    checksum = b"%06o\0 " % sum(head)
    return head[:148] + checksum + head[156:]


def header(name: str, kind: bytes, mode: int = 0o644, size: int = 0, mtime: int = 0, linkname: str = "") -> bytes:
    """The header block(s) of one entry (``kind``: ``0`` file, ``1`` hard link, ``2`` symlink, ``5`` directory),
    with a PAX block before it when a field does not fit ustar."""
    raw_name = name.encode("utf-8", "surrogateescape")
    raw_link = linkname.encode("utf-8", "surrogateescape")
    records = b""
    for key, text, raw in (("path", name, raw_name), ("linkpath", linkname, raw_link)):
        if len(raw) > 100 or not text.isascii():
            records += _pax_record(key, raw)
    if size >= _USTAR_MAX:
        records, size = records + _pax_record("size", b"%d" % size), 0
    if not 0 <= mtime < _USTAR_MAX:
        records, mtime = records + _pax_record("mtime", b"%d" % mtime), 0
    if not records:
        return _ustar(raw_name, kind, mode, size, mtime, raw_link)
    try:
        (name + linkname).encode("utf-8")
    except UnicodeEncodeError:  # bytes that are not UTF-8: said so, as tarfile and Go do
        records = _pax_record("hdrcharset", b"BINARY") + records
    pax = _ustar(b"././@PaxHeader", b"x", 0o644, len(records), 0, b"") + records + _padding(len(records))
    return pax + _ustar(raw_name, kind, mode, size, mtime, raw_link)


def _padding(size: int) -> bytes:
    return bytes(-size % BLOCK)


# -- the plan ----------------------------------------------------------------------------------


class Packed:
    """A context ready to send: ``length`` bytes of tar, made of header bytes and files read at send time."""

    def __init__(self) -> None:
        #: (bytes to send as they are, or None) and (path of a file, its size) — one of the two per item
        self.items: list[tuple[bytes | None, str, int]] = []
        self.length = 0

    def add_bytes(self, data: bytes) -> None:
        self.items.append((data, "", 0))
        self.length += len(data)

    def add_file(self, path: str, size: int) -> None:
        self.items.append((None, path, size))
        self.length += size + len(_padding(size))

    def send_to(self, sock) -> None:
        """Write the whole tar to ``sock`` (file data by ``sendfile`` unless the socket is TLS)."""
        use_sendfile = not hasattr(sock, "unwrap") and sock.gettimeout() is None
        pending: list[bytes] = []
        gathered = 0
        for data, path, size in self.items:
            if data is None and (size < _SENDFILE_MIN or not use_sendfile):
                data = _read_whole(path, size) + _padding(size)
            if data is not None:
                pending.append(data)
                gathered += len(data)
                if gathered >= _FLUSH_AT:
                    sock.sendall(b"".join(pending))
                    pending, gathered = [], 0
                continue
            if pending:
                sock.sendall(b"".join(pending))
                pending, gathered = [], 0
            _sendfile(sock, path, size)
            pending.append(_padding(size))
        if pending:
            sock.sendall(b"".join(pending))

    def getvalue(self) -> bytes:
        """The whole tar in memory (for a caller with no socket)."""
        return b"".join(data if data is not None else _read_whole(path, size) + _padding(size)
                        for data, path, size in self.items)


def _changed(path: str) -> OSError:
    return OSError(f"{path} changed size while the build context was being sent")


def _read_whole(path: str, size: int) -> bytes:
    with open(path, "rb") as f:
        data = f.read(size)
    if len(data) != size:
        raise _changed(path)
    return data


def _sendfile(sock, path: str, size: int) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        offset = 0
        while offset < size:
            sent = os.sendfile(sock.fileno(), fd, offset, size - offset)
            if sent == 0:
                raise _changed(path)
            offset += sent
    finally:
        os.close(fd)


def _walk(root: str, patterns: list[dockerignore.Pattern], always: set[str]) -> Iterator[str]:
    """Relative paths to send, parents before children; excluded directories are skipped whole
    unless an exception pattern might re-include something inside them."""
    if patterns:
        from berth.build import dockerignore

        exceptions, excluded = dockerignore.has_exceptions(patterns), dockerignore.excluded
    else:
        exceptions, excluded = False, _nothing_excluded
    for current, dirs, files in os.walk(root):
        rel_dir = os.path.relpath(current, root)
        keep_dirs = []
        for name in sorted(dirs):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            dropped = excluded(rel, patterns)
            if not dropped:
                yield rel
            if os.path.islink(os.path.join(current, name)):
                continue
            if not dropped or exceptions:
                keep_dirs.append(name)
        dirs[:] = keep_dirs
        for name in sorted(files):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if rel in always or not excluded(rel, patterns):
                yield rel


def _nothing_excluded(rel: str, patterns: list) -> bool:
    return False


class _Planner:
    """Headers of the entries in walk order, with the hard links already seen."""

    def __init__(self, root: str, packed: Packed):
        self.root = root
        self.packed = packed
        self.added: set[str] = set()
        self.inodes: dict[tuple[int, int], str] = {}

    def add(self, rel: str) -> None:
        parent = posixpath.dirname(rel)
        chain = []
        while parent and parent not in self.added:  # directories of re-included files
            chain.append(parent)
            parent = posixpath.dirname(parent)
        for directory in reversed(chain):
            self._entry(directory)
        if rel not in self.added:
            self._entry(rel)

    def _entry(self, rel: str) -> None:
        self.added.add(rel)
        path = os.path.join(self.root, rel)
        st = os.lstat(path)
        mode, mtime = stat.S_IMODE(st.st_mode), int(st.st_mtime)  # whole seconds, as the docker CLI
        if stat.S_ISREG(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in self.inodes:
                self.packed.add_bytes(header(rel, b"1", mode, 0, mtime, self.inodes[key]))
                return
            self.inodes[key] = rel
            if not os.access(path, os.R_OK):  # found now, before the request starts, as docker checks
                raise PermissionError(f"can't read {path}: permission denied")
            self.packed.add_bytes(header(rel, b"0", mode, st.st_size, mtime))
            self.packed.add_file(path, st.st_size)
        elif stat.S_ISDIR(st.st_mode):
            self.packed.add_bytes(header(rel + "/", b"5", mode, 0, mtime))
        elif stat.S_ISLNK(st.st_mode):
            self.packed.add_bytes(header(rel, b"2", mode, 0, mtime, os.readlink(path)))
        # sockets, devices and FIFOs are not sent (as the docker CLI)


def pack(root: str, dockerfile: str | None = None, extra: dict[str, bytes] | None = None) -> Packed:
    """The context directory ``root`` as a tar to send, honouring its .dockerignore (as the docker CLI).

    ``dockerfile`` (relative to ``root``) is always included; ``extra`` adds files by name
    (a Dockerfile read from stdin or from outside the context).
    """
    if not os.path.isdir(root):
        raise InvalidArgument(f"unable to prepare context: path {root!r} not found or not a directory")
    patterns = read_ignore_file(root)
    always = {".dockerignore", clean_rel(dockerfile or DEFAULT_DOCKERFILE, "Dockerfile")}
    packed = Packed()
    planner = _Planner(root, packed)
    for rel in _walk(root, patterns, always):
        planner.add(rel)
    for name, data in (extra or {}).items():
        packed.add_bytes(header(name, b"0", 0o644, len(data)) + data + _padding(len(data)))
    packed.add_bytes(_NUL_BLOCK * 2)
    return packed


def single_file_tar(name: str, data: bytes) -> bytes:
    """A tar of one file (a Dockerfile read from standard input, with an empty context)."""
    return header(name, b"0", 0o644, len(data)) + data + _padding(len(data)) + _NUL_BLOCK * 2
