"""Build ``busybox:latest`` from the host's static busybox, without a registry.

The image looks like Docker Hub's busybox: ``/bin/busybox`` with a hard link per
applet in ``/bin``, a small ``/etc`` (passwd, group, shadow), and the usual empty
top-level directories. The layer tar is deterministic (sorted entries, fixed owners,
mtimes taken from the busybox binary), and so is the config, so bootstrapping again
with the same busybox yields the same diff ID and image ID and only re-tags.
"""

from __future__ import annotations

import io
import os
import platform
import subprocess
import tarfile
from datetime import datetime, timezone

from berth.errors import InvalidArgument
from berth.images.store import Image, ImageStore

PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""

_GROUP = """\
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
"""

_SHADOW = """\
root:*:10933:0:99999:7:::
daemon:*:10933:0:99999:7:::
bin:*:10933:0:99999:7:::
sys:*:10933:0:99999:7:::
sync:*:10933:0:99999:7:::
mail:*:10933:0:99999:7:::
www-data:*:10933:0:99999:7:::
operator:*:10933:0:99999:7:::
nobody:*:10933:0:99999:7:::
"""

# (path, mode) of the image's directories, as on Docker Hub's busybox
_DIRS = [
    ("bin", 0o755), ("dev", 0o755), ("etc", 0o755), ("home", 0o755), ("proc", 0o755),
    ("root", 0o700), ("sys", 0o755), ("tmp", 0o1777), ("usr", 0o755), ("usr/sbin", 0o755),
    ("var", 0o755), ("var/spool", 0o755), ("var/spool/mail", 0o755), ("var/www", 0o755),
]

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm",
         "armv6l": "arm", "i386": "386", "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


def oci_architecture() -> str:
    """The OCI/GOARCH name of this machine (``x86_64`` -> ``amd64``)."""
    machine = platform.machine()
    return _ARCH.get(machine, machine)


def busybox_applets(busybox: str) -> list[str]:
    """The applet names ``busybox --list`` prints (without ``busybox`` itself), sorted."""
    try:
        out = subprocess.run([busybox, "--list"], capture_output=True, check=True, text=True, timeout=30).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise InvalidArgument(f"cannot list the applets of {busybox}: {exc}; install busybox-static") from None
    return sorted({name.strip() for name in out.split() if name.strip() and name.strip() != "busybox" and "/" not in name})


def _check_static(busybox: str) -> None:
    with open(busybox, "rb") as f:
        head = f.read(4096)
    if head[:4] != b"\x7fELF":
        raise InvalidArgument(f"{busybox} is not an ELF executable; pass the static busybox (Debian: busybox-static)")
    # A dynamic executable names its interpreter (PT_INTERP) near the start
    if b"/lib64/ld-linux" in head or b"/lib/ld-linux" in head or b"ld-musl" in head:
        raise InvalidArgument(f"{busybox} is dynamically linked and would not run in an empty image; "
                              "install busybox-static")


def build_layer(busybox: str, mtime: int) -> bytes:
    """The busybox layer tar, byte-for-byte the same for the same binary and ``mtime``."""
    applets = busybox_applets(busybox)
    with open(busybox, "rb") as f:
        binary = f.read()
    buf = io.BytesIO()

    def add(name: str, kind: bytes, mode: int, data: bytes = b"", linkname: str = "") -> None:
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = kind, mode, mtime, 0, 0, "", ""
        ti.linkname = linkname
        if kind == tarfile.REGTYPE:
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
        else:
            tar.addfile(ti)

    entries: list[tuple] = [(d, tarfile.DIRTYPE, mode) for d, mode in _DIRS]
    entries += [
        ("bin/busybox", tarfile.REGTYPE, 0o755, binary),
        ("etc/group", tarfile.REGTYPE, 0o644, _GROUP.encode()),
        ("etc/passwd", tarfile.REGTYPE, 0o644, _PASSWD.encode()),
        ("etc/shadow", tarfile.REGTYPE, 0o640, _SHADOW.encode()),
    ]
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(entries, key=lambda e: e[0]):
            add(*entry)
            if entry[0] == "bin/busybox":
                for applet in applets:
                    add(f"bin/{applet}", tarfile.LNKTYPE, 0o755, linkname="bin/busybox")
    return buf.getvalue()


def _version(busybox: str) -> str:
    try:
        out = subprocess.run([busybox], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return "busybox"
    first = out.splitlines()[0] if out else "busybox"
    return first.split(" multi-call")[0].strip()


def bootstrap_busybox(store: ImageStore, reference: str = "busybox:latest", busybox: str = "/bin/busybox") -> Image:
    """Build (or find) the busybox image from the host binary ``busybox`` and tag it ``reference``."""
    busybox = os.path.realpath(busybox)
    if not os.path.isfile(busybox):
        raise InvalidArgument(f"{busybox} does not exist; install busybox-static or pass --busybox PATH")
    _check_static(busybox)
    mtime = int(os.stat(busybox).st_mtime)
    created = datetime.fromtimestamp(mtime, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    layer = store.add_layer(None, io.BytesIO(build_layer(busybox, mtime)))
    config = {
        "architecture": oci_architecture(),
        "os": "linux",
        "created": created,
        "config": {"Env": [PATH_ENV], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
        "history": [{
            "created": created,
            "created_by": f"berth image bootstrap: {busybox} ({_version(busybox)})",
            "comment": "built from the host's static busybox",
        }],
    }
    return store.create_image(config, [layer], reference)
