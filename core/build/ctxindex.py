"""An index of a build context tar: the tree it would unpack to, without unpacking it.

A cached rebuild needs from its context only the Dockerfile, ``.dockerignore``
and the checksums of its COPY/ADD sources; none of that needs the files on disk.
:class:`ContextIndex` keeps, per entry, what extraction would leave there (type,
mode, link target) and where a file's bytes are in the spooled tar: a COPY's
checksum reads just the files it covers, from the spool (the page cache).

The index models the tree :func:`berth.images.tarsafe.extract_tree` makes for
the archives honest clients send: regular files, directories, symlinks that stay
inside, hard links to earlier files. Anything else (compression, a device, a
FIFO, a whiteout name, xattrs, a sparse file, a path met twice, a path through a
symlink, a symlink that climbs out) ends the indexing with :class:`Unindexed`,
and the caller extracts the context as before: such archives are refused, or
unpacked, by the extractor itself, with its own errors.

Paths are resolved the way :mod:`berth.build.sources` resolves them on disk
(symlinks followed inside the context), and checksums are computed exactly as
:func:`berth.build.sources.checksum` computes them over the extracted tree, so a
cache key does not depend on whether the context was unpacked.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
import tarfile

from berth.build import dockerignore
from berth.build.sources import GLOB_CHARS, component_regex, is_glob
from berth.errors import InvalidArgument
from berth.images.scope import resolve_parts

_NAME_MAX = 255          # bytes in one path component
_READ = 1 << 20
_DIR, _FILE, _LINK = stat.S_IFDIR, stat.S_IFREG, stat.S_IFLNK


class Unindexed(Exception):
    """The archive holds something the index does not model: extract it instead."""


class Node:
    """One entry as extraction leaves it; hard links share one node (one inode)."""

    __slots__ = ("kind", "mode", "children", "linkname", "offset", "size")

    def __init__(self, kind: int, mode: int):
        self.kind = kind
        self.mode = mode
        self.children: dict[str, Node] = {}
        self.linkname = ""
        self.offset = self.size = 0


def process_umask() -> int:
    """The daemon's umask (what ``mkdir`` leaves of 0755 for the parents extraction creates)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return 0o022


class ContextIndex:
    """The tree of a context tar; :meth:`add` takes its members in order."""

    def __init__(self, spool_fd: int):
        self.spool_fd = spool_fd
        self.root = Node(_DIR, 0o700)
        self.implied_dir_mode = 0o755 & ~process_umask()

    # -- building ---------------------------------------------------------------------------

    def add(self, member: tarfile.TarInfo) -> None:
        """Apply one (already checked, see :mod:`berth.images.tarread`) member, as extraction would."""
        if member.sparse is not None or any(k.startswith("SCHILY.xattr.") for k in member.pax_headers):
            raise Unindexed(member.name)
        parts = [p for p in member.name.split("/") if p not in ("", ".")]
        if not parts:
            if not member.isdir():
                raise Unindexed(member.name)
            self.root.mode = member.mode & 0o7777
            return
        if any(p.startswith(".wh.") or len(p.encode("utf-8", "surrogateescape")) > _NAME_MAX for p in parts):
            raise Unindexed(member.name)
        parent = self._parent(parts[:-1])
        base, existing = parts[-1], parent.children.get(parts[-1])
        if member.isdir() and existing is not None and existing.kind == _DIR:
            existing.mode = member.mode & 0o7777
            return
        if existing is not None:
            raise Unindexed(member.name)  # a path met twice: extraction's replacement rules apply
        parent.children[base] = self._node(member, parts)

    def _parent(self, parts: list[str]) -> Node:
        node = self.root
        for part in parts:
            child = node.children.get(part)
            if child is None:
                child = node.children[part] = Node(_DIR, self.implied_dir_mode)
            elif child.kind != _DIR:
                raise Unindexed(part)  # through a symlink or a file: extraction refuses it
            node = child
        return node

    def _node(self, member: tarfile.TarInfo, parts: list[str]) -> Node:
        if member.isdir():
            return Node(_DIR, member.mode & 0o7777)
        if member.isreg():
            node = Node(_FILE, member.mode & 0o7777)
            node.offset, node.size = member.offset_data, member.size
            return node
        if member.issym():
            target = member.linkname
            joined = posixpath.normpath(posixpath.join("/".join(parts[:-1]) or ".", target))
            if not target or (not target.startswith("/") and (joined == ".." or joined.startswith("../"))):
                raise Unindexed(member.name)
            node = Node(_LINK, 0o777)
            node.linkname = target
            return node
        if member.islnk():
            target = self.node([p for p in member.linkname.split("/") if p not in ("", ".")])
            if target is None or target.kind == _DIR or ".." in member.linkname.split("/"):
                raise Unindexed(member.name)
            return target
        raise Unindexed(member.name)  # FIFOs, devices, unknown types

    # -- reading ----------------------------------------------------------------------------

    def node(self, parts: list[str]) -> Node | None:
        """The entry at the real path ``parts`` (no symlink followed), or None."""
        node = self.root
        for part in parts:
            if node.kind != _DIR:
                return None
            node = node.children.get(part)
            if node is None:
                return None
        return node

    def read(self, node: Node) -> bytes:
        """A file's bytes, from the spooled tar."""
        return b"".join(self._chunks(node))

    def _chunks(self, node: Node):
        offset, left = node.offset, node.size
        while left:
            chunk = os.pread(self.spool_fd, min(_READ, left), offset)
            if not chunk:
                raise InvalidArgument("the build context's spool ended early")
            offset += len(chunk)
            left -= len(chunk)
            yield chunk

    def resolve(self, path: str, follow_final: bool = True) -> list[str]:
        """``path``'s real components, symlinks followed inside the context (as ``scope.resolve_in_root``);
        missing components are kept as they are."""
        return resolve_parts(path, self._link_target, follow_final)

    def _link_target(self, parts: list[str]) -> str | None:
        node = self.node(parts)
        return node.linkname if node is not None and node.kind == _LINK else None

    def regular_file(self, path: str, follow_final: bool) -> Node | None:
        """The regular file at ``path`` (resolved inside the context), or None."""
        node = self.node(self.resolve(path, follow_final))
        return node if node is not None and node.kind == _FILE else None

    def apply_ignore(self, patterns: list[dockerignore.Pattern]) -> None:
        """Drop what ``.dockerignore`` excludes, as :func:`berth.build.context.apply_ignore` deletes it."""
        if patterns:
            self._ignore(self.root, "", patterns)

    def _ignore(self, directory: Node, rel_dir: str, patterns: list[dockerignore.Pattern]) -> None:
        for name, child in list(directory.children.items()):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if child.kind == _DIR:
                self._ignore(child, rel, patterns)
                if not child.children and dockerignore.excluded(rel, patterns):
                    del directory.children[name]
            elif dockerignore.excluded(rel, patterns):
                del directory.children[name]

    # -- COPY/ADD sources ---------------------------------------------------------------------

    def expand(self, src: str, what: str) -> list[str]:
        """The context paths (relative, real) that a COPY/ADD source names, as :func:`sources.expand`."""
        normalized = posixpath.normpath(src)
        if normalized.startswith("../") or normalized == "..":
            raise InvalidArgument(f"{what} failed: forbidden path outside the build context: {src}")
        clean = posixpath.normpath("/" + src.replace("\\", "/") if not src.startswith("/") else src)
        if not is_glob(src):
            real = self.resolve(clean, follow_final=False)
            if self.node(real) is None:
                raise InvalidArgument(f"{what} failed: file not found in build context or excluded by "
                                      f".dockerignore: stat {src}: file does not exist")
            return ["/".join(real)]
        matches: list[list[str]] = [[]]
        for part in [p for p in clean.split("/") if p]:
            found: list[list[str]] = []
            if GLOB_CHARS.search(part):
                rx = component_regex(part)
                for base in matches:
                    node = self.node(base)
                    if node is not None and node.kind == _DIR:
                        found += [base + [name] for name in sorted(node.children) if rx.match(name)]
            else:
                for base in matches:
                    real = self.resolve("/".join(base + [part]), follow_final=False)
                    if self.node(real) is not None:
                        found.append(real)
            matches = found
        if not matches:
            raise InvalidArgument(f"{what} failed: no source files were specified: no file in the build context "
                                  f"matches {src!r} (or every match is excluded by .dockerignore)")
        return ["/".join(m) for m in matches]

    def checksum(self, rel: str) -> str:
        """``file:<hex>`` or ``dir:<hex>`` of the source at ``rel``: :func:`sources.checksum` of the extracted tree."""
        node = self.node([p for p in rel.split("/") if p])
        assert node is not None, rel
        entries = self._entries(node, "") if node.kind == _DIR else [("", node)]
        return ("dir:" if node.kind == _DIR else "file:") + self._content_hash(entries)

    def _entries(self, directory: Node, rel_dir: str):
        """(relative path, node) in the order ``sources.checksum`` walks: a directory's entries sorted, then
        its subdirectories (not symlinks to them) one by one."""
        names = sorted(directory.children)
        for name in names:
            yield (f"{rel_dir}/{name}" if rel_dir else name), directory.children[name]
        for name in names:
            child = directory.children[name]
            if child.kind == _DIR:
                yield from self._entries(child, f"{rel_dir}/{name}" if rel_dir else name)

    def _content_hash(self, entries) -> str:
        h = hashlib.sha256()
        for name, entry in entries:
            h.update(_entry_head(name, entry))
            if entry.kind == _FILE:
                for chunk in self._chunks(entry):
                    h.update(chunk)
                h.update(b"\0")
        return h.hexdigest()


def _entry_head(rel: str, node: Node) -> bytes:
    head = f"{rel}\0{node.kind}\0{node.mode:o}\0".encode()
    return head + node.linkname.encode() + b"\0" if node.kind == _LINK else head
