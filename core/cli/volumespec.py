"""One ``-v``/``--volume`` value read as the docker CLI reads it (its compose volume-spec parser).

``/path`` (or a one- or two-character value) is an anonymous volume;
``source:target[:options]`` has a source, which is a bind when it looks like a
path (starts with ".", "/" or "~", or a Windows drive) and a named volume
otherwise. The docker CLI sends the value itself (``Binds``), so this parse only
decides bind versus anonymous and refuses what it refuses.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing
    from typing import Any


def _drive_letter(buffer: str, ch: str) -> bool:
    return ch == ":" and len(buffer) == 1 and buffer.isalpha()


def _kind(source: str) -> str:
    if not source:
        return "volume"
    if source[0] in "./~" or source.startswith("\\\\") or (len(source) > 1 and _drive_letter(source[0], source[1])):
        return "bind"
    return "volume"


def parse(spec: str) -> dict[str, Any]:
    """``{"Type", "Source", "Target", "ReadOnly"}`` of one ``-v`` value; ValueError("invalid spec: ...")."""
    if not spec:
        raise ValueError("invalid empty volume spec")
    if len(spec) <= 2:
        return {"Type": "volume", "Source": "", "Target": spec, "ReadOnly": False}
    volume = {"Source": "", "Target": "", "ReadOnly": False}
    buffer = ""
    for ch in spec + "\0":
        if _drive_letter(buffer, ch):
            buffer += ch
        elif ch in ":\0":
            _field(volume, buffer, ch, spec)
            buffer = ""
        else:
            buffer += ch
    volume["Type"] = _kind(volume["Source"])
    return volume


def _field(volume: dict[str, Any], buffer: str, ch: str, spec: str) -> None:
    if not buffer:
        raise ValueError(f"invalid spec: {spec}: empty section between colons")
    if not volume["Source"] and ch == "\0":
        volume["Target"] = buffer
    elif not volume["Source"]:
        volume["Source"] = buffer
    elif not volume["Target"]:
        volume["Target"] = buffer
    elif ch == ":":
        raise ValueError(f"invalid spec: {spec}: too many colons")
    else:
        for option in buffer.split(","):
            if option in ("ro", "rw"):
                volume["ReadOnly"] = option == "ro"
