"""fuse-overlay's storage options (berthd ``--storage-opt``, daemon.json ``storage-opts``): its speed levers.

Each option turns one of the levers ``berth bench storage`` measures (see
docs/storage-research.md for what each is worth); the defaults are the fastest
setting that keeps overlay's semantics:

``fuse-overlay.writeback`` (true)
    the kernel's writeback cache: writes land in the page cache and reach the server in
    large batches (files are then opened read-write underneath, appends placed by the kernel)
``fuse-overlay.fast_loop`` (true)
    wait for the next request in poll(2) instead of a trio scheduler round (see :mod:`.fastloop`)
``fuse-overlay.cache_timeout`` (60)
    seconds the kernel may keep entries, negative entries and attributes without asking again
``fuse-overlay.read_ahead_kb`` (1024)
    the mount's readahead: how large a read the kernel sends (0 keeps the kernel's 128 KiB)
"""

from __future__ import annotations

from dataclasses import dataclass

from berth.driverkit import InvalidArgument

PREFIX = "fuse-overlay."
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class ServeOptions:
    writeback: bool = True
    fast_loop: bool = True
    cache_timeout: float = 60.0
    read_ahead_kb: int = 1024

    def args(self) -> list[str]:
        """The serving process's command-line flags for these options."""
        return ["--writeback" if self.writeback else "--no-writeback",
                "--fast-loop" if self.fast_loop else "--no-fast-loop",
                "--timeout", repr(self.cache_timeout), "--read-ahead-kb", str(self.read_ahead_kb)]

    def describe(self) -> str:
        return (f"writeback={str(self.writeback).lower()} fast_loop={str(self.fast_loop).lower()} "
                f"cache_timeout={self.cache_timeout:g} read_ahead_kb={self.read_ahead_kb}")


def _bool(key: str, value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise InvalidArgument(f"fuse-overlay: storage option {key}={value!r}: use true or false")


def _number(key: str, value: str, kind: type) -> float | int:
    try:
        number = kind(value)
    except ValueError:
        number = -1
    if number < 0:
        raise InvalidArgument(f"fuse-overlay: storage option {key}={value!r}: use a number of at least 0")
    return number


def parse(options: dict[str, str] | None) -> ServeOptions:
    """The serve options from the driver's storage options; unknown keys and bad values are refused."""
    values: dict = {}
    for key, value in (options or {}).items():
        name = key.lower()[len(PREFIX):] if key.lower().startswith(PREFIX) else ""
        if name in ("writeback", "fast_loop"):
            values[name] = _bool(key, value)
        elif name == "cache_timeout":
            values[name] = float(_number(key, value, float))
        elif name == "read_ahead_kb":
            values[name] = int(_number(key, value, int))
        else:
            known = ", ".join(PREFIX + n for n in ("writeback", "fast_loop", "cache_timeout", "read_ahead_kb"))
            raise InvalidArgument(f"fuse-overlay: unknown storage option {key}; it takes {known}")
    return ServeOptions(**values)
