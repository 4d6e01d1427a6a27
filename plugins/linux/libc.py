"""The C library, loaded once for every ctypes wrapper, and its error convention turned into OSError."""

from __future__ import annotations

import ctypes
import ctypes.util
import os

libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def check(result: int, what: str) -> int:
    """``result`` of a libc call; -1 becomes OSError with errno and a message naming ``what`` was refused."""
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result
