"""Docker's detach keys (``ctrl-p,ctrl-q``): parsing the spec, and finding the sequence in a stdin stream.

Shared by berthd (which detaches attach/exec clients, as dockerd does) and the CLI
(which detaches its own terminal); standard library only, so the CLI stays lean.
"""

from __future__ import annotations

DEFAULT = "ctrl-p,ctrl-q"
_CTRL_SPECIALS = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse(spec: str | None) -> bytes:
    """``ctrl-p,ctrl-q``, ``ctrl-@``, ``a``... as the byte sequence; ValueError names what is wrong."""
    out = bytearray()
    for key in (spec or DEFAULT).split(","):
        key = key.strip()
        lowered = key.lower()
        if lowered.startswith("ctrl-") and len(key) == 6:
            ch = lowered[5]
            if "a" <= ch <= "z":
                out.append(ord(ch) - ord("a") + 1)
                continue
            if ch in _CTRL_SPECIALS:
                out.append(_CTRL_SPECIALS[ch])
                continue
            raise ValueError(f"invalid detach key {key!r}: use ctrl-<a-z, @, [, \\, ], ^, _> or one character")
        if len(key) == 1:
            out.append(ord(key))
            continue
        raise ValueError(f"invalid detach keys {spec!r}: use a comma-separated list such as ctrl-p,ctrl-q")
    return bytes(out)


class Scanner:
    """Finds the detach sequence in stdin; bytes of a partial match are held back until decided."""

    def __init__(self, keys: bytes):
        self.keys = keys
        self.held = b""
        self.detached = False

    def feed(self, data: bytes) -> bytes:
        """The bytes to forward; sets :attr:`detached` (and forwards nothing after it) once the keys were typed."""
        if not self.keys:
            return data
        out = bytearray()
        for byte in data:
            self.held += bytes([byte])
            # forward leading bytes until what is held could still become the sequence
            while self.held and not self.keys.startswith(self.held):
                out.append(self.held[0])
                self.held = self.held[1:]
            if self.held == self.keys:
                self.detached = True
                self.held = b""
                break
        return bytes(out)
