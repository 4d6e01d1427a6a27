"""Which compressed blob in which repository holds which layer (Moby's v2 metadata service).

``<data-root>/image/distribution.db`` (SQLite) maps a layer's diff ID to the
compressed digests it was pulled as or pushed as, per registry host and
repository. Push uses it to skip uploads (HEAD the known digest) and to mount a
blob from another repository of the same registry instead of uploading it.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from dataclasses import dataclass

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blobs (
    diff_id    TEXT NOT NULL,
    digest     TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size       INTEGER NOT NULL,
    host       TEXT NOT NULL,
    repository TEXT NOT NULL,
    PRIMARY KEY (diff_id, digest, host, repository)
);
CREATE INDEX IF NOT EXISTS blobs_digest ON blobs(digest);
"""


@dataclass(frozen=True)
class BlobRecord:
    diff_id: str
    digest: str
    media_type: str
    size: int
    host: str
    repository: str


class DistributionMetadata:
    """Thread-safe access to distribution.db; every write is one transaction."""

    def __init__(self, data_root: str):
        path = os.path.join(data_root, "image", "distribution.db")
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
        # A cache of hints: a row lost to a machine crash costs one HEAD request at the next push,
        # so commits do not wait for the disk (WAL keeps the file consistent whatever happens).
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._lock, self._conn:
            self._conn.executescript(_SCHEMA)

    def add(self, *records: BlobRecord) -> None:
        """Remember ``records`` (one transaction)."""
        with self._lock, self._conn:
            self._conn.executemany("INSERT OR REPLACE INTO blobs VALUES (?, ?, ?, ?, ?, ?)",
                                   [(r.diff_id, r.digest, r.media_type, r.size, r.host, r.repository)
                                    for r in records])

    def for_diff_id(self, diff_id: str, host: str | None = None) -> list[BlobRecord]:
        """Known blobs of ``diff_id`` (on ``host`` only, when given), most recent first."""
        sql, args = "SELECT * FROM blobs WHERE diff_id = ?", [diff_id]
        if host is not None:
            sql += " AND host = ?"
            args.append(host)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY rowid DESC", args).fetchall()
        return [BlobRecord(*row) for row in rows]

    def forget(self, digest: str, host: str, repository: str) -> None:
        """The registry no longer has ``digest`` in ``repository`` (a failed mount or HEAD)."""
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM blobs WHERE digest = ? AND host = ? AND repository = ?",
                               (digest, host, repository))

    def close(self) -> None:
        with self._lock:
            self._conn.close()
