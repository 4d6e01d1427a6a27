"""``berthd --userns-remap default``: a container's root is an unprivileged host id, as with dockerd's remapping.

One remapped berthd on overlay serves most tests (its state in ``<data-root>/<uid>.<gid>``);
others start their own (vfs, the data-root without remapping, a driver that cannot remap).
``default`` makes (once, as dockerd's ``dockremap``) the host user ``berthremap`` with 65536
subordinate ids; the expected host ids come from its line in /etc/subuid and /etc/subgid.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from berth import subids

pytestmark = pytest.mark.integration

SETUID_READER = r"""
#include <stdio.h>
#include <unistd.h>
#include <fcntl.h>
int main(int argc, char **argv) {
    printf("uid=%d euid=%d\n", getuid(), geteuid());
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) { perror("open"); return 1; }
    char buf[64]; int n = read(fd, buf, sizeof buf - 1); buf[n > 0 ? n : 0] = 0;
    printf("read:%s", buf);
    return 0;
}
"""


def reachable_base(suite_tmp: str) -> str:
    """A daemon directory the remapped root can pass through (dockerd refuses a data-root it cannot reach)."""
    import tempfile

    os.chmod(suite_tmp, 0o711)
    base = tempfile.mkdtemp(prefix="remap-", dir=suite_tmp)
    os.chmod(base, 0o711)
    return base


def remapped_daemon(make_daemon, suite_tmp, *args: str):
    d = make_daemon(["--userns-remap", "default", *args], base=reachable_base(suite_tmp)).start()
    out = d.cli("image", "bootstrap", "busybox")
    assert out.returncode == 0, out.stderr.decode() + d.log()
    return d


def first_ids() -> tuple[int, int]:
    """The host uid and gid of a remapped container's root: berthremap's first subordinate ids."""
    return (subids.ranges_of("/etc/subuid", "berthremap", -1)[0].first,
            subids.ranges_of("/etc/subgid", "berthremap", -1)[0].first)


def run(d, *args: str) -> str:
    out = d.cli("run", "--rm", *args)
    assert out.returncode == 0, out.stderr.decode() + d.log()
    return out.stdout.decode()


def cli(d, *args: str) -> str:
    out = d.cli(*args)
    assert out.returncode == 0, out.stderr.decode() + d.log()
    return out.stdout.decode()


@pytest.fixture(scope="module")
def remapped(suite_tmp, busybox_path):
    """One remapped berthd on overlay for the module."""
    from tests.conftest import Daemon, _unmount_all

    d = Daemon(reachable_base(suite_tmp), ["--userns-remap", "default", "-s", "overlay"]).start()
    assert d.cli("image", "bootstrap", "busybox").returncode == 0, d.log()
    yield d
    d.remove_everything()
    d.stop()
    _unmount_all(d.base)


# -- the user namespace -----------------------------------------------------------------


def test_container_root_is_the_first_subordinate_id(remapped):
    uid, gid = first_ids()
    out = run(remapped, "busybox", "sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g")
    assert out.split() == ["0", str(uid), "65536", "0", str(gid), "65536", "0", "0"]


def test_default_made_berthremap_with_ranges_in_both_files(remapped):
    assert subprocess.run(["getent", "passwd", "berthremap"], capture_output=True).returncode == 0
    assert subids.ranges_of("/etc/subuid", "berthremap", -1)[0].count == 65536
    assert subids.ranges_of("/etc/subgid", "berthremap", -1)[0].count == 65536


def test_info_shows_the_remapping_as_dockerd(remapped):
    info = json.loads(cli(remapped, "info", "--format", "{{json .}}"))
    uid, gid = first_ids()
    assert "name=userns" in info["SecurityOptions"]
    assert info["DockerRootDir"] == os.path.join(remapped.data_root, f"{uid}.{gid}")
    assert "\n  userns\n" in cli(remapped, "info")  # under " Security Options:", as the docker CLI prints it


def test_image_layers_appear_owned_by_the_remapped_ids_but_are_stored_as_in_the_image(remapped):
    uid, _ = first_ids()
    cid = cli(remapped, "run", "-d", "busybox", "sleep", "60").strip()
    try:
        pid = int(cli(remapped, "inspect", "-f", "{{.State.Pid}}", cid))
        assert os.stat(f"/proc/{pid}/root/bin/busybox").st_uid == uid
        assert cli(remapped, "exec", cid, "stat", "-c", "%u:%g", "/bin/busybox").strip() == "0:0"
        layer = json.loads(cli(remapped, "image", "inspect", "busybox"))[0]["GraphDriver"]["Data"]["UpperDir"]
        assert os.stat(os.path.join(layer, "bin/busybox")).st_uid == 0
    finally:
        remapped.cli("rm", "-f", cid)


def test_files_written_in_a_volume_belong_to_the_remapped_ids_on_the_host(remapped):
    uid, gid = first_ids()
    cli(remapped, "volume", "create", "owned")
    run(remapped, "-v", "owned:/data", "busybox", "sh", "-c",
        "echo hi > /data/f && mkdir /data/d && chown 1000:1000 /data/d")
    mountpoint = json.loads(cli(remapped, "volume", "inspect", "owned"))[0]["Mountpoint"]
    assert (os.stat(mountpoint).st_uid, os.stat(mountpoint).st_gid) == (uid, gid)
    assert (os.stat(f"{mountpoint}/f").st_uid, os.stat(f"{mountpoint}/f").st_gid) == (uid, gid)
    assert (os.stat(f"{mountpoint}/d").st_uid, os.stat(f"{mountpoint}/d").st_gid) == (uid + 1000, gid + 1000)


def test_a_setuid_binary_gives_root_inside_the_namespace(remapped, tmp_path):
    source = tmp_path / "reader.c"
    source.write_text(SETUID_READER)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(tmp_path / "reader"), str(source)], check=True)
    cid = cli(remapped, "run", "-d", "busybox", "sleep", "60").strip()
    try:
        cli(remapped, "cp", str(tmp_path / "reader"), f"{cid}:/reader")
        cli(remapped, "exec", cid, "sh", "-c", "chown 0:0 /reader && chmod 4755 /reader && "
                                              "echo only-root > /secret && chmod 600 /secret")
        out = cli(remapped, "exec", "-u", "1000:1000", cid, "/reader", "/secret")
        assert out.splitlines() == ["uid=1000 euid=0", "read:only-root"]
        denied = remapped.cli("exec", "-u", "1000:1000", cid, "cat", "/secret")
        assert denied.returncode != 0
    finally:
        remapped.cli("rm", "-f", cid)


def test_remapped_root_cannot_write_a_host_root_file_through_a_bind_mount(remapped, tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    os.chmod(tmp_path, 0o755)
    (host / "file").write_text("original\n")
    os.chmod(host / "file", 0o644)
    out = run(remapped, "-v", f"{host}:/h", "busybox", "sh", "-c",
              "stat -c %u /h/file; echo x >> /h/file; echo write=$?; chmod 666 /h/file; echo chmod=$?; "
              "touch /h/new; echo create=$?")
    lines = out.split()
    assert lines[0] == "65534"  # host root is not mapped: nobody
    assert [line.split("=")[0] for line in lines[1:] if "=" in line] == ["write", "chmod", "create"]
    assert all(line.split("=")[1] != "0" for line in lines[1:] if "=" in line), out
    assert (host / "file").read_text() == "original\n" and not (host / "new").exists()


def test_a_missing_bind_source_is_made_for_the_remapped_root(remapped, tmp_path):
    uid, gid = first_ids()
    os.chmod(tmp_path, 0o755)
    source = tmp_path / "made" / "here"
    run(remapped, "-v", f"{source}:/m", "busybox", "touch", "/m/written")
    for path in (source.parent, source):
        assert (os.stat(path).st_uid, os.stat(path).st_gid) == (uid, gid)
    assert os.stat(source / "written").st_uid == uid
    assert os.stat(tmp_path).st_uid == 0  # what existed keeps its owner


# -- exec, cp and the opt-out -----------------------------------------------------------------


def test_exec_and_cp_into_a_remapped_container(remapped, tmp_path):
    uid, _ = first_ids()
    (tmp_path / "in.txt").write_text("copied\n")
    os.chown(tmp_path / "in.txt", 7, 7)
    cid = cli(remapped, "run", "-d", "busybox", "sleep", "60").strip()
    try:
        assert cli(remapped, "exec", cid, "cat", "/proc/self/uid_map").split()[:2] == ["0", str(uid)]
        cli(remapped, "cp", str(tmp_path / "in.txt"), f"{cid}:/tmp/")
        cli(remapped, "cp", "-a", str(tmp_path / "in.txt"), f"{cid}:/tmp/kept.txt")
        assert cli(remapped, "exec", cid, "stat", "-c", "%u", "/tmp/in.txt", "/tmp/kept.txt").split() == ["0", "7"]
        pid = int(cli(remapped, "inspect", "-f", "{{.State.Pid}}", cid))
        assert os.stat(f"/proc/{pid}/root/tmp/kept.txt").st_uid == uid + 7
        cli(remapped, "exec", cid, "sh", "-c", "echo made > /tmp/made && chown 1000:1000 /tmp/made")
        archive = remapped.cli("cp", f"{cid}:/tmp/made", "-").stdout
        listing = subprocess.run(["tar", "-tvn"], input=archive, capture_output=True, check=True).stdout.decode()
        assert "1000/1000" in listing  # container ids in the archive, as dockerd gives them
    finally:
        remapped.cli("rm", "-f", cid)


def test_init_and_a_tty_work_in_a_remapped_container(remapped):
    out = run(remapped, "--init", "-t", "busybox", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; tty; "
                                                           "stat -c %u $(tty)")
    lines = out.replace("\r", "").split("\n")
    assert lines[0].startswith("/sbin/docker-init") and lines[1].startswith("/dev/pts/") and lines[2] == "0"


def test_userns_host_runs_as_real_root(remapped):
    assert run(remapped, "--userns", "host", "busybox", "cat", "/proc/self/uid_map").split() == ["0", "0", "4294967295"]
    assert run(remapped, "--userns", "host", "--privileged", "busybox", "id", "-u").strip() == "0"


@pytest.mark.parametrize("flags, message", [
    (["--privileged"], "privileged mode is incompatible with user namespaces.  You must run the container in the "
                       "host namespace when running privileged mode"),
    (["--network", "host"], "cannot share the host's network namespace when user namespaces are enabled"),
    (["--pid", "host"], "cannot share the host PID namespace when user namespaces are enabled"),
])
def test_host_powers_need_userns_host_as_in_dockerd(remapped, flags, message):
    out = remapped.cli("run", "--rm", *flags, "busybox", "true")
    assert out.returncode != 0 and message in out.stderr.decode()


def test_a_new_volume_gets_the_images_content_shifted_into_the_range(remapped):
    uid, gid = first_ids()
    assert run(remapped, "-v", "fresh-etc:/etc", "busybox", "stat", "-c", "%u:%g", "/etc/passwd").strip() == "0:0"
    mountpoint = json.loads(cli(remapped, "volume", "inspect", "fresh-etc"))[0]["Mountpoint"]
    assert (os.stat(f"{mountpoint}/passwd").st_uid, os.stat(f"{mountpoint}/passwd").st_gid) == (uid, gid)


def test_the_remapped_container_is_stopped_and_restarted(remapped):
    cid = cli(remapped, "run", "-d", "busybox", "sh", "-c", "echo started >> /log; sleep 60").strip()
    try:
        cli(remapped, "stop", "-t", "1", cid)
        cli(remapped, "start", cid)
        assert cli(remapped, "exec", cid, "cat", "/log").split() == ["started", "started"]
    finally:
        remapped.cli("rm", "-f", cid)


# -- other daemons: vfs, the same data-root without remapping, a driver that cannot remap ------------------


def test_vfs_layers_are_remapped_too(make_daemon, suite_tmp):
    d = remapped_daemon(make_daemon, suite_tmp, "-s", "vfs")
    uid, _ = first_ids()
    cli(d, "volume", "create", "vfsvol")
    out = run(d, "-v", "vfsvol:/v", "busybox", "sh", "-c", "cat /proc/self/uid_map; stat -c %u /bin/busybox; touch /v/f")
    assert out.split() == ["0", str(uid), "65536", "0"]
    mountpoint = json.loads(cli(d, "volume", "inspect", "vfsvol"))[0]["Mountpoint"]
    assert os.stat(f"{mountpoint}/f").st_uid == uid


def test_the_same_data_root_without_remapping_keeps_its_own_tree(make_daemon, suite_tmp):
    """As dockerd: the remapped daemon's images and containers live in <data-root>/<uid>.<gid>; a daemon
    started on that data-root without remapping sees the top tree, and the remapped one finds its own again."""
    remapped_one = remapped_daemon(make_daemon, suite_tmp, "-s", "overlay")
    base = remapped_one.base
    cid = cli(remapped_one, "create", "--name", "kept", "busybox", "true").strip()
    remapped_one.stop()
    plain = make_daemon(["-s", "overlay"], base=base).start()
    assert cli(plain, "ps", "-aq").split() == [] and "busybox" not in cli(plain, "images")
    plain.stop()
    again = make_daemon(["--userns-remap", "default", "-s", "overlay"], base=base).start()
    assert cli(again, "ps", "-aq", "--no-trunc").split() == [cid]
    assert run(again, "busybox", "cat", "/proc/self/uid_map").split()[1] == str(first_ids()[0])


def test_a_running_remapped_container_is_readopted_after_the_daemon_is_killed(make_daemon, suite_tmp):
    import signal

    d = remapped_daemon(make_daemon, suite_tmp, "-s", "overlay")
    cid = cli(d, "run", "-d", "busybox", "sh", "-c", "echo kept > /state; sleep 120").strip()
    d.stop(signal.SIGKILL)
    d.start()
    assert cli(d, "exec", cid, "cat", "/state").strip() == "kept"
    assert cli(d, "exec", cid, "cat", "/proc/self/uid_map").split()[1] == str(first_ids()[0])
    cli(d, "rm", "-f", cid)
    with open("/proc/self/mountinfo") as f:
        assert cid not in f.read()  # the id-mapped view went with the container


def test_a_graph_driver_that_cannot_remap_stops_the_daemon_with_the_reason(make_daemon, suite_tmp):
    d = make_daemon(["--userns-remap", "default", "-s", "example"], base=reachable_base(suite_tmp))
    with pytest.raises(RuntimeError) as failed:
        d.start()
    assert "graph driver 'example' does not support id-mapped layers" in str(failed.value)


def test_the_oci_driver_hands_the_mappings_to_runc(make_daemon, suite_tmp, tmp_path):
    """runc makes the user namespace from the spec's linux.uidMappings/gidMappings; the same layout and
    id-mapped rootfs serve it (a bind source under a directory closed to the remapped root included)."""
    from berth.plugins.execdrivers.oci import runtime as runtimes

    if not runtimes.find("runc"):
        from tests.peers import missing_peer
        missing_peer("runc is not installed", "install Debian's runc (`bash .ci/install` does)")
    d = remapped_daemon(make_daemon, suite_tmp, "-s", "overlay", "--exec-driver", "oci")
    uid, _ = first_ids()
    closed = tmp_path / "closed"
    closed.mkdir()
    (closed / "f").write_text("reached\n")
    os.chmod(tmp_path, 0o700)  # the remapped root could not walk here by itself
    cli(d, "volume", "create", "ocivol")
    out = run(d, "-v", "ocivol:/v", "-v", f"{closed}:/c:ro", "busybox", "sh", "-c",
              "cat /proc/self/uid_map; cat /c/f; touch /v/made")
    assert out.split() == ["0", str(uid), "65536", "reached"]
    mountpoint = json.loads(cli(d, "volume", "inspect", "ocivol"))[0]["Mountpoint"]
    assert os.stat(f"{mountpoint}/made").st_uid == uid
    cid = cli(d, "run", "-d", "busybox", "sleep", "60").strip()
    try:
        assert cli(d, "exec", cid, "cat", "/proc/self/uid_map").split()[:2] == ["0", str(uid)]
    finally:
        d.cli("rm", "-f", cid)
