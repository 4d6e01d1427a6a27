"""The C library, loaded once for every ctypes wrapper, and its error convention turned into OSError."""

from __future__ import annotations

from berth.driverkit import fscreds

check, libc = fscreds.check, fscreds.libc  # one libc handle and error convention for all

__all__ = ["check", "libc"]
