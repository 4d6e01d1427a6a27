"""--userns-remap: dockerd's user/group rules, the id map from the user's subordinate ranges, the data-root tree."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import tempfile

import pytest

from berth import usernsremap
from berth.errors import ConfigError
from berth.hookspecs.types import IdMap, IdRange


def _files(tmp_path, subuid: str, subgid: str) -> usernsremap.HostFiles:
    (tmp_path / "subuid").write_text(subuid)
    (tmp_path / "subgid").write_text(subgid)
    return usernsremap.HostFiles(str(tmp_path / "subuid"), str(tmp_path / "subgid"))


def test_the_map_joins_the_users_ranges_into_consecutive_container_ids(tmp_path):
    files = _files(tmp_path, "daemon:100000:65536\ndaemon:300000:1000\n", "1:200000:65536\n")
    remapping = usernsremap.resolve("daemon", files)
    assert remapping.user == remapping.group == "daemon"
    assert remapping.idmap.uids == (IdRange(0, 100000, 65536), IdRange(65536, 300000, 1000))
    assert remapping.idmap.gids == (IdRange(0, 200000, 65536),)
    assert remapping.tree_name == "100000.200000"


def test_numeric_ids_and_a_separate_group_are_resolved_to_names(tmp_path):
    files = _files(tmp_path, "daemon:100000:65536\n", "daemon:100000:65536\n")
    remapping = usernsremap.resolve("1:nogroup", files)
    assert (remapping.user, remapping.group) == ("daemon", "nogroup")


@pytest.mark.parametrize("value, message", [
    ("a:b:c", "Invalid user/group specification in --userns-remap: 'a:b:c'"),
    ("no-such-user-x", "Error during uid lookup for 'no-such-user-x'"),
    ("daemon:no-such-group-x", "Error during groupname lookup for 'no-such-group-x'"),
    ("4000000", "Uid 4000000 has no entry in /etc/passwd"),
])
def test_unknown_users_and_bad_values_are_dockerds_errors(tmp_path, value, message):
    with pytest.raises(ConfigError, match=message):
        usernsremap.resolve(value, _files(tmp_path, "", ""))


def test_a_user_without_ranges_cannot_be_remapped(tmp_path):
    with pytest.raises(ConfigError, match="error creating ID mappings: no subgid ranges found for user 'daemon'"):
        usernsremap.resolve("daemon", _files(tmp_path, "daemon:100000:65536\n", "other:1:2\n"))


def test_root_is_not_remapped_onto_itself(tmp_path):
    assert usernsremap.resolve("root", _files(tmp_path, "root:100000:65536\n", "root:100000:65536\n")) is None
    assert usernsremap.resolve("", _files(tmp_path, "", "")) is None


@pytest.fixture
def reachable():
    """A directory every user can pass through (pytest's own temporary directories are 0700)."""
    path = tempfile.mkdtemp(prefix="berth-remap-", dir="/var/tmp")
    os.chmod(path, 0o711)
    yield path
    shutil.rmtree(path)


def _remapping(first: int = 100000) -> usernsremap.Remapping:
    ranges = (IdRange(0, first, 65536),)
    return usernsremap.Remapping("daemon", "daemon", IdMap(ranges, ranges))


def test_the_tree_is_reachable_by_the_remapped_root_only(reachable):
    data_root = os.path.join(reachable, "data")
    tree = usernsremap.prepare_tree(data_root, _remapping())
    assert tree == os.path.join(data_root, "100000.100000")
    st = os.stat(tree)
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o710, 0, 100000)
    assert os.stat(data_root).st_mode & 0o7777 == 0o711
    with open(os.path.join(tree, usernsremap.MARKER)) as f:
        assert json.load(f)["uidMappings"] == [{"containerID": 0, "hostID": 100000, "size": 65536}]


def test_a_tree_written_with_other_ranges_is_refused(reachable):
    data_root = os.path.join(reachable, "data")
    usernsremap.prepare_tree(data_root, _remapping())
    wider = usernsremap.Remapping("daemon", "daemon", IdMap((IdRange(0, 100000, 1000),), (IdRange(0, 100000, 1000),)))
    with pytest.raises(ConfigError, match="was written with --userns-remap 'daemon:daemon' mapping uids 0:100000:65536"):
        usernsremap.prepare_tree(data_root, wider)


def test_a_parent_closed_to_the_remapped_root_is_dockerds_error(tmp_path):
    assert os.stat(tmp_path.parent).st_mode & 0o011 == 0  # pytest's directories are 0700
    with pytest.raises(ConfigError, match="restricts access to the remapped root uid/gid"):
        usernsremap.prepare_tree(str(tmp_path / "data"), _remapping())


def test_default_creates_berthremap_and_its_ranges_once(tmp_path, monkeypatch):
    """``default`` runs useradd when berthremap is missing and gives it a range in each file."""
    made = []

    def fake_getpwnam(name):
        if name == "berthremap" and not made:
            raise KeyError(name)
        return pwd.struct_passwd(("berthremap", "x", 999, 999, "", "/", "/bin/false"))

    class Done:
        returncode, stderr = 0, ""

    monkeypatch.setattr(usernsremap.pwd, "getpwnam", fake_getpwnam)
    monkeypatch.setattr(usernsremap.grp, "getgrnam", lambda name: type("G", (), {"gr_name": name})())
    monkeypatch.setattr(usernsremap.subprocess, "run", lambda command, **kw: made.append(command) or Done())
    files = _files(tmp_path, "alice:100000:65536\n", "")
    remapping = usernsremap.resolve("default", files)
    assert made[0][0] == "useradd" and made[0][-1] == "berthremap"
    assert remapping.idmap.root == (165536, 100000)
    assert usernsremap.resolve("default", files).idmap == remapping.idmap
    assert len(made) == 1


def test_an_id_map_translates_both_ways_and_shows_unmapped_ids_as_overflow():
    idmap = IdMap((IdRange(0, 100000, 1000), IdRange(1000, 300000, 10)), (IdRange(0, 200000, 65536),))
    assert (idmap.host_uid(0), idmap.host_uid(999), idmap.host_uid(1005), idmap.host_uid(1010)) == (
        100000, 100999, 300005, None)
    assert (idmap.container_uid(300009), idmap.container_uid(99999)) == (1009, None)
    assert idmap.as_container(100001, 5) == (1, 65534)
    assert idmap.as_host(1, 2) == (100001, 200002) and idmap.as_host(2000, 0) is None
    assert idmap.root == (100000, 200000)
    assert idmap.proc_text("uid") == "0 100000 1000\n1000 300000 10\n"
    assert IdMap.from_oci(idmap.oci()) == idmap and IdMap.from_oci({}) is None
