"""``--platform`` as the docker CLI sends it: containerd's platform specifier, normalised, as ``os/arch[/variant]``.

``amd64`` is ``linux/amd64``, ``linux/aarch64`` is ``linux/arm64``, ``arm`` is
``linux/arm``, ``linux/arm64/v8`` stays as written; an unknown single word is refused.
"""

from __future__ import annotations

_KNOWN_OS = ("aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js", "linux", "nacl",
             "netbsd", "openbsd", "plan9", "solaris", "windows", "zos")
_KNOWN_ARCH = ("386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "ppc64", "ppc64le", "loong64", "mips",
               "mipsle", "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc", "riscv", "riscv64", "s390", "s390x",
               "sparc", "sparc64", "wasm")
#: the client's own architecture as Go names it (a word given alone that is an OS gets this one)
_MACHINES = {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "i386": "386", "armv7l": "arm", "s390x": "s390x",
             "ppc64le": "ppc64le", "riscv64": "riscv64"}
_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def _arch(arch: str, variant: str) -> tuple[str, str]:
    arch, variant = arch.lower(), variant.lower()
    if arch == "i386":
        return "386", ""
    if arch in ("x86_64", "x86-64", "amd64"):
        return "amd64", "" if variant == "v1" else variant
    if arch in ("aarch64", "arm64"):
        return "arm64", {"8": "", "v8": "", "v8.0": "", "9": "v9", "9.0": "v9", "v9.0": "v9"}.get(variant, variant)
    if arch == "armhf":
        return "arm", "v7"
    if arch == "armel":
        return "arm", "v6"
    if arch == "arm":
        return "arm", {"": "v7", "7": "v7", "5": "v5", "6": "v6", "8": "v8"}.get(variant, variant)
    return arch, variant


def _os_part(part: str, specifier: str) -> str:
    name, paren, version = part.partition("(")
    ok = name and set(name) <= _WORD and (not paren or (version.endswith(")") and set(version[:-1]) <= _WORD | {"."}))
    if not ok:
        raise ValueError(f'"{part}" is an invalid OS component of "{specifier}": OSAndVersion specifier component '
                         'must match "^([A-Za-z0-9_-]+)(?:\\(([A-Za-z0-9_.-]*)\\))?$": invalid argument')
    name = name.lower()
    return "darwin" if name == "macos" else name


def normalize(specifier: str) -> str:
    """``specifier`` as ``os/arch[/variant]``; ValueError with containerd's message when it cannot be one."""
    import os

    if "*" in specifier:
        raise ValueError(f'"{specifier}": wildcards not yet supported: invalid argument')
    parts = specifier.split("/", 3)
    system = _os_part(parts[0], specifier)
    for part in parts[1:]:
        if not part or not set(part) <= _WORD | {"."}:
            raise ValueError(f'"{part}" is an invalid component of "{specifier}": platform specifier component must '
                             'match "^[A-Za-z0-9_.-]+$": invalid argument')
    if len(parts) == 1:
        if system in _KNOWN_OS:
            return f"{system}/{_MACHINES.get(os.uname().machine, os.uname().machine)}"
        arch, variant = _arch(parts[0], "")
        if arch not in _KNOWN_ARCH:
            raise ValueError(f'"{specifier}": unknown operating system or architecture: invalid argument')
        return "/".join(p for p in ("linux", arch, "" if (arch, variant) == ("arm", "v7") else variant) if p)
    if len(parts) == 2:
        arch, variant = _arch(parts[1], "")
        return "/".join(p for p in (system, arch, "" if (arch, variant) == ("arm", "v7") else variant) if p)
    if len(parts) == 3:
        arch, variant = _arch(parts[1], parts[2])
        return "/".join(p for p in (system, arch, variant or ("v8" if arch == "arm64" else "")) if p)
    raise ValueError(f'"{specifier}": cannot parse platform specifier: invalid argument')
