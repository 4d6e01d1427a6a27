"""Sending a container's output to syslog, as Docker's ``syslog`` driver (srslog) sends it.

One message per entry: ``<PRI>`` is the facility times 8 plus severity 6 (stdout,
``info``) or 3 (stderr, ``err``); an empty line is not sent; a message always ends
in a newline. The formats (``syslog-format``):

- "" (default): ``<30>Dec  6 23:26:42 TAG[PID]: hello``
- ``rfc3164``: ``<30>Dec  6 23:26:42 HOST TAG[PID]: hello``
- ``rfc5424``: ``<30>1 2026-12-06T23:26:43Z HOST TAG PID TAG - hello``
- ``rfc5424micro``: as rfc5424 with microseconds

over ``tcp+tls`` the rfc5424 ones are framed with their length (RFC 5425). Times are
the host's local time. A send that fails reconnects and tries once more, then the
entry is dropped (and said on the monitor's stderr), as srslog does.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from berth.containers import syslogoptions

STDOUT_SEVERITY, STDERR_SEVERITY = 6, 3


def _stamp(ns: int) -> str:
    """Go's ``time.Stamp`` in local time: ``Jan _2 15:04:05`` (the day padded with a space)."""
    t = time.localtime(ns // 1_000_000_000)
    return time.strftime("%b ", t) + f"{t.tm_mday:2d}" + time.strftime(" %H:%M:%S", t)


def _rfc3339(ns: int, micro: bool) -> str:
    """Local time in RFC 3339 (``Z`` for UTC, else ``+01:00``); with microseconds for rfc5424micro."""
    t = time.localtime(ns // 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", t)
    if micro:
        text += f".{ns // 1000 % 1_000_000:06d}"
    offset = t.tm_gmtoff
    if offset == 0:
        return text + "Z"
    sign = "+" if offset > 0 else "-"
    return text + f"{sign}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}"


def format_message(fmt: str, priority: int, hostname: str, tag: str, pid: int, content: bytes, ns: int) -> bytes:
    """One syslog message in Docker's ``syslog-format`` ``fmt``."""
    if fmt in ("rfc5424", "rfc5424micro"):
        head = f"<{priority}>1 {_rfc3339(ns, fmt == 'rfc5424micro')} {hostname} {tag} {pid} {tag} - "
    elif fmt == "rfc3164":
        head = f"<{priority}>{_stamp(ns)} {hostname} {tag}[{pid}]: "
    else:
        head = f"<{priority}>{_stamp(ns)} {tag}[{pid}]: "
    return head.encode() + content


class SyslogSink:
    """A connection to one syslog endpoint (``IOConfig.log_syslog``) and the messages sent over it."""

    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.pid = os.getpid()
        self.length_framed = config["network"] == "tcp+tls" and config["format"] in ("rfc5424", "rfc5424micro")
        self.sock = self._connect()

    def _connect(self):
        return syslogoptions.connect(self.config["network"], self.config["address"], self.config.get("tls") or {})

    def message(self, stream: str, data: bytes, ns: int) -> bytes:
        severity = STDERR_SEVERITY if stream == "stderr" else STDOUT_SEVERITY
        content = data if data.endswith(b"\n") else data + b"\n"
        msg = format_message(self.config["format"], self.config["facility"] * 8 + severity, self.config["hostname"],
                             self.config["tag"], self.pid, content, ns)
        return f"{len(msg)} ".encode() + msg if self.length_framed else msg

    def write(self, stream: str, pieces: list[bytes], first_ns: int) -> None:
        for i, piece in enumerate(pieces):
            if piece and piece != b"\n":  # Docker sends no empty line
                self._send(self.message(stream, piece, first_ns + i))

    def _send(self, msg: bytes) -> None:
        for attempt in (1, 2):
            try:
                if self.sock is None:
                    self.sock = self._connect()
                self.sock.sendall(msg)
                return
            except OSError as exc:
                self.close()
                if attempt == 2:
                    print(f"syslog: dropped a message: {exc}", file=sys.stderr)

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None
