"""The image metadata database: ``<data-root>/image/metadata.db`` (SQLite, WAL).

Tables (the seed's GraphDB, in SQL):

* ``layers``      one row per layer by chain ID: diff ID, parent chain ID, the graph
                  driver's cache ID, applied size, and ``refs`` = images using it as
                  their top layer + layers built on it + containers on it
* ``images``      one row per image ID: top layer, parent image, created, size
* ``refs``        ``repo:tag`` / ``repo@digest`` (familiar form) -> image ID
* ``mounts``      one row per container: its init layer and the image layer it
                  stands on (which holds one of that layer's ``refs``, so removing
                  the image never pulls a layer from under a container)
* ``pending``     graph-driver layers being created; a crash leaves them listed and
                  :meth:`MetadataDB.pending` lets start-up remove them

Every change is one transaction, so a crash leaves the old or the new state. The
connection is shared by threads behind a lock (the API server calls the store
from worker threads).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
import sqlite3
import threading
from contextlib import contextmanager
from typing import Iterator

from berth import fsutil

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS layers (
    chain_id TEXT PRIMARY KEY,
    diff_id  TEXT NOT NULL,
    parent   TEXT REFERENCES layers(chain_id),
    cache_id TEXT NOT NULL UNIQUE,
    size     INTEGER NOT NULL,
    created  TEXT NOT NULL,
    refs     INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS images (
    id        TEXT PRIMARY KEY,
    top_layer TEXT REFERENCES layers(chain_id),
    parent    TEXT NOT NULL DEFAULT '',
    created   TEXT NOT NULL,
    size      INTEGER NOT NULL,
    added     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS images_parent ON images(parent);
CREATE TABLE IF NOT EXISTS refs (
    name     TEXT PRIMARY KEY,
    image_id TEXT NOT NULL REFERENCES images(id),
    kind     TEXT NOT NULL CHECK (kind IN ('tag', 'digest'))
);
CREATE INDEX IF NOT EXISTS refs_image ON refs(image_id);
CREATE TABLE IF NOT EXISTS mounts (
    container_id TEXT PRIMARY KEY,
    init_id      TEXT,
    parent_chain TEXT REFERENCES layers(chain_id),
    created      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pending (
    cache_id TEXT PRIMARY KEY,
    started  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS inits (
    parent_chain TEXT PRIMARY KEY,
    init_id      TEXT NOT NULL,
    created      TEXT NOT NULL
);
"""


def now() -> str:
    """A timestamp as the tables record them (UTC, microseconds)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class MetadataDB:
    """A thread-safe handle on metadata.db; use :meth:`tx` for every read-modify-write."""

    def __init__(self, path: str):
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")  # a committed image survives power loss
        self._conn.execute("PRAGMA foreign_keys=ON")
        with self.tx() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            elif version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{path} was written by a newer berth (schema {version} > {SCHEMA_VERSION}); upgrade berth"
                )

    @contextmanager
    def tx(self, durable: bool | None = None) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction, committed on success and rolled back on any error.

        The commit waits for the disk (synchronous=FULL) unless ``durable`` is False or,
        when it is None, inside :func:`berth.fsutil.deferred_sync`: then it is ordered in
        the WAL but flushed only by the next durable commit or syncfs (synchronous=NORMAL).
        """
        if durable is None:
            durable = fsutil.durable()
        with self._lock:
            if not durable:
                self._conn.execute("PRAGMA synchronous=NORMAL")
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            finally:
                if not durable:
                    self._conn.execute("PRAGMA synchronous=FULL")

    def query(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        """A read outside any explicit transaction (each statement sees a consistent snapshot)."""
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def close(self) -> None:
        with self._lock:
            self._conn.close()
