"""An image archive (``docker save`` or OCI layout) unpacked into private scratch space for ``load``.

Nothing is created through a link: the archive's symlinks and hard links are
recorded, not made, and an entry under a recorded link is refused. Every file
named after a digest (``blobs/sha256/<hex>``, ``blobs/sha512/<hex>``, the old
``<hex>.json`` configs) is checked against it as it is written, and again when it
is reached through a link. Runs of zeros stay holes.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import tarfile
from typing import BinaryIO

from berth.errors import InvalidArgument, UnsafeArchive
from berth.images import tarread
from berth.images.tarread import clean_name

_MAX_JSON = 32 << 20

#: a digest as OCI descriptors and configs write it
DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")
#: names that say what their content hashes to: OCI blobs, and the old layout's <sha256>.json configs
_DIGEST_NAMES = (re.compile(r"^blobs/(sha256)/([0-9a-f]{64})$"), re.compile(r"^blobs/(sha512)/([0-9a-f]{128})$"),
                 re.compile(r"^()([0-9a-f]{64})\.json$"))


def _named_digest(name: str) -> str | None:
    """``algo:hex`` when the archive path ``name`` is named after its content's digest."""
    for pattern in _DIGEST_NAMES:
        match = pattern.match(name)
        if match:
            return f"{match.group(1) or 'sha256'}:{match.group(2)}"
    return None


class UnpackedArchive:
    """An archive unpacked into a private directory; paths are looked up as the archive named them.

    Nothing is created through a link: symlinks and hard links are recorded, not
    made, and an entry under a recorded link is refused. Every file named after a
    digest (``blobs/sha256/<hex>``, ``<hex>.json``) is checked against it as it is
    written, and again when it is reached through a link.
    """

    def __init__(self, directory: str):
        self.dir = directory
        self.links: dict[str, str] = {}  # archive path -> target archive path (older saves link duplicate layers)
        self.sha256: dict[str, str] = {}  # archive path of each regular file -> its content's sha256 hex

    def unpack(self, stream: BinaryIO) -> None:
        tf = tarread.open_stream(stream, "the image archive", compressed=True)
        if tf is None:
            return
        with tf:
            for member in tarread.members(tf, "the image archive"):
                try:
                    self._unpack_member(tf, member)
                except OSError as exc:
                    raise InvalidArgument(f"cannot unpack {member.name!r} of the image archive: "
                                          f"{exc.strerror or exc}") from None

    def _unpack_member(self, tf: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        parts = clean_name(member.name)
        if not parts:
            return
        name = "/".join(parts)
        for depth in range(1, len(parts)):
            if "/".join(parts[:depth]) in self.links:
                raise UnsafeArchive(f"image archive entry {member.name!r} passes through {'/'.join(parts[:depth])!r}, "
                                    f"a link the archive created earlier; refusing it")
        target = os.path.join(self.dir, *parts)
        self.links.pop(name, None)
        if member.isdir():
            os.makedirs(target, mode=0o700, exist_ok=True)
        elif member.isreg():
            os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
            self.sha256[name] = _copy_hashing(tf.extractfile(member), target)
            self._check_digest(member.name, name)
        elif member.issym():
            target = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
            if target == ".." or target.startswith("../"):
                raise UnsafeArchive(f"image archive symlink {member.name!r} -> {member.linkname!r} points outside "
                                    f"the archive; refusing it")
            self.links[name] = target
        elif member.islnk():
            self.links[name] = "/".join(clean_name(member.linkname))
        # anything else (devices, fifos) has no place in an image archive: ignored, as nothing names it

    def _check_digest(self, shown: str, real: str) -> None:
        """Refuse the file ``real`` (named ``shown``) when its name is a digest its content does not have."""
        digest = _named_digest("/".join(clean_name(shown)))
        if digest is None:
            return
        algo, _, expected = digest.partition(":")
        if algo == "sha256":
            actual = self.sha256.get(real) or _hash_file(os.path.join(self.dir, real), "sha256")
        else:
            actual = _hash_file(os.path.join(self.dir, real), algo)
        if actual != expected:
            raise InvalidArgument(f"{shown} in the image archive does not match its digest: its content is "
                                  f"{algo}:{actual}")

    def real(self, name: str) -> str:
        """The archive path of the file ``name`` leads to (through the archive's links), its digest checked."""
        rel = "/".join(clean_name(name))
        for _ in range(40):
            if rel not in self.links:
                break
            rel = "/".join(clean_name(self.links[rel]))
        if not os.path.isfile(os.path.join(self.dir, rel)) or os.path.islink(os.path.join(self.dir, rel)):
            raise InvalidArgument(f"the image archive names {name!r}, which it does not contain")
        if rel != "/".join(clean_name(name)):
            self._check_digest(name, rel)
        return rel

    def path(self, name: str) -> str:
        return os.path.join(self.dir, self.real(name))

    def exists(self, name: str) -> bool:
        try:
            self.path(name)
            return True
        except InvalidArgument:
            return False

    def json(self, name: str):
        path = self.path(name)
        if os.path.getsize(path) > _MAX_JSON:
            raise InvalidArgument(f"{name} in the image archive is too large")
        with open(path, "rb") as f:
            try:
                return json.loads(f.read())
            except (ValueError, RecursionError) as exc:
                raise InvalidArgument(f"{name} in the image archive is not valid JSON: {exc}") from None

    def bytes(self, name: str) -> bytes:
        with open(self.path(name), "rb") as f:
            return f.read(_MAX_JSON + 1)


def _copy_hashing(source: BinaryIO, target: str) -> str:
    """Copy ``source`` into the new file ``target``; the sha256 hex of what was copied.

    Chunks of zeros become holes, so a compressed bomb of zeros costs no disk here either.
    """
    digest = hashlib.sha256()
    with open(target, "wb") as f:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            if chunk.count(0) == len(chunk):
                f.seek(len(chunk), os.SEEK_CUR)
            else:
                f.write(chunk)
        f.truncate()
    return digest.hexdigest()


def _hash_file(path: str, algo: str) -> str:
    digest = hashlib.new(algo)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
