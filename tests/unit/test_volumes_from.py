"""``--volumes-from``: which of another container's mounts are shared, and how writable."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from berth.errors import InvalidArgument
from berth.volumes import mounts_from, parse_volumes_from

OTHER = SimpleNamespace(mounts=[
    {"Type": "volume", "Name": "v", "Source": "/vol/v/_data", "Destination": "/data", "Mode": "", "RW": True,
     "Anonymous": True},
    {"Type": "bind", "Source": "/srv", "Destination": "/srv", "Mode": "ro", "RW": False},
    {"Type": "tmpfs", "Source": "", "Destination": "/scratch", "Mode": "", "RW": True},
])


def test_modes_parse_as_docker_accepts_them():
    assert parse_volumes_from("web") == ("web", "")
    assert parse_volumes_from("web:ro") == ("web", "ro")
    assert parse_volumes_from("web:rw,z") == ("web", "rw,z")
    for bad in ("web:rx", "web:ro,rw"):
        with pytest.raises(InvalidArgument, match="invalid mode"):
            parse_volumes_from(bad)


def test_volumes_and_binds_are_shared_as_writable_as_they_were():
    shared = {m["Destination"]: m["RW"] for m in mounts_from(OTHER, "")}
    assert shared == {"/data": True, "/srv": False}  # a tmpfs is the other container's own memory


def test_ro_makes_every_shared_mount_read_only():
    assert all(not m["RW"] and m["Mode"] == "ro" for m in mounts_from(OTHER, "ro"))
    assert {m["Destination"]: m["RW"] for m in mounts_from(OTHER, "rw")} == {"/data": True, "/srv": False}
