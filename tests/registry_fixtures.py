"""Helpers for registry tests: the real distribution registry, a token server, test images.

* :class:`RegistryServer` runs Debian's ``docker-registry`` on 127.0.0.1:<free port>
  with filesystem storage in a temp dir: plain, with htpasswd Basic auth (bcrypt
  hashes from the ``bcrypt`` package), or with token auth behind :class:`TokenServer`.
  It is stopped by PID.
* :func:`build_oci_layout` writes an OCI image layout from busybox (deterministic
  gzip layers) for ``skopeo copy oci:DIR:tag docker://...``.
* :func:`fake_engine` is what the registry service and routes need of an engine:
  a real image store on vfs, an event bus and the config they read.
* The fixtures at the end (``registry_peers``, ``workdir``, ``registry``,
  ``basic_registry``, ``test_image``; each defined as ``<name>_fixture``) are
  shared by the registry test modules, which import them.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tarfile
import threading
import time
import urllib.request
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"
SKOPEO = shutil.which("skopeo") or "/usr/bin/skopeo"
BUSYBOX = shutil.which("busybox") or "/bin/busybox"
MTIME = 946684800


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def htpasswd_line(user: str, password: str) -> str:
    """One htpasswd line with a bcrypt hash (the only scheme distribution accepts)."""
    try:
        import bcrypt
    except ImportError:  # apache2-utils' htpasswd as the fallback
        tool = shutil.which("htpasswd")
        if tool is None:
            raise RuntimeError("bcrypt hashes need the 'bcrypt' Python package or htpasswd (apache2-utils)") from None
        out = subprocess.run([tool, "-nbB", "-C", "5", user, password], check=True, capture_output=True, text=True)
        return out.stdout.strip() + "\n"
    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}\n"


class RegistryServer:
    """``docker-registry serve`` on loopback; ``auth`` is None, ``"htpasswd"`` or ``"token"``."""

    def __init__(self, base: str, auth: str | None = None, users: dict[str, str] | None = None,
                 token_server: "TokenServer | None" = None):
        self.base = base
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.auth = auth
        self.users = users or {}
        self.token_server = token_server
        self.proc: subprocess.Popen | None = None
        self.storage = os.path.join(base, "storage")

    def config(self) -> str:
        lines = ["version: 0.1", "log:", "  level: warn", "storage:", "  filesystem:",
                 f"    rootdirectory: {self.storage}", "  delete:", "    enabled: true",
                 "http:", f"  addr: {self.host}", "  secret: berth-test-secret"]
        if self.auth == "htpasswd":
            path = os.path.join(self.base, "htpasswd")
            with open(path, "w") as f:
                f.writelines(htpasswd_line(u, p) for u, p in self.users.items())
            lines += ["auth:", "  htpasswd:", "    realm: berth-test", f"    path: {path}"]
        elif self.auth == "token":
            ts = self.token_server
            assert ts is not None
            lines += ["auth:", "  token:", f"    realm: {ts.url}/token", f"    service: {ts.service}",
                      f"    issuer: {ts.issuer}", f"    rootcertbundle: {ts.cert}"]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 20) -> "RegistryServer":
        os.makedirs(self.storage, exist_ok=True)
        cfg = os.path.join(self.base, "config.yml")
        with open(cfg, "w") as f:
            f.write(self.config())
        self.log = open(os.path.join(self.base, "registry.log"), "ab")
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", cfg], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited with {self.proc.returncode}: {self.log_text()}")
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1)
                return self
            except urllib.error.HTTPError:
                return self  # 401: up, and asking for credentials
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"docker-registry did not come up on {self.host}: {self.log_text()}")

    def log_text(self) -> str:
        with open(os.path.join(self.base, "registry.log"), errors="replace") as f:
            return f.read()[-4000:]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()

    def blob_path(self, digest: str) -> str:
        hexd = digest.split(":", 1)[1]
        return os.path.join(self.storage, "docker/registry/v2/blobs/sha256", hexd[:2], hexd, "data")

    def get_json(self, path: str, headers: dict | None = None) -> dict:
        req = urllib.request.Request(f"http://{self.host}{path}", headers=headers or {})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())


# ---------------------------------------------------------------------------
# a token server (distribution's "token" auth: RS256 JWTs with an x5c chain)
# ---------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """Issues JWTs for users in ``users`` (and anonymous pull when ``anonymous_pull``), signed by openssl."""

    service = "berth-test-registry"
    issuer = "berth-test-token-issuer"

    def __init__(self, base: str, users: dict[str, str], anonymous_pull: bool = False):
        self.base = base
        self.users = users
        self.anonymous_pull = anonymous_pull
        self.key = os.path.join(base, "token.key")
        self.cert = os.path.join(base, "token.crt")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key,
                        "-out", self.cert, "-days", "2", "-subj", "/CN=berth-test-token"],
                       check=True, capture_output=True)
        der = subprocess.run(["openssl", "x509", "-in", self.cert, "-outform", "DER"], check=True,
                             capture_output=True).stdout
        self.x5c = base64.b64encode(der).decode()
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                server.handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> "TokenServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def sign(self, claims: dict) -> str:
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        signing_input = _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key], input=signing_input.encode(),
                             check=True, capture_output=True).stdout
        return signing_input + "." + _b64url(sig)

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlparse(req.path).query)
        user = None
        header = req.headers.get("Authorization", "")
        if header.startswith("Basic "):
            name, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if self.users.get(name) != password:
                self._reply(req, 401, {"details": "invalid username or password"})
                return
            user = name
        self.requests.append({"user": user, "scope": query.get("scope", []), "service": query.get("service")})
        access = []
        for scope in query.get("scope", []):
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            allowed = actions.split(",") if user else [a for a in actions.split(",")
                                                       if a == "pull" and self.anonymous_pull]
            access.append({"type": kind, "name": name, "actions": allowed})
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": user or "", "aud": query.get("service", [""])[0], "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": hashlib.sha256(os.urandom(8)).hexdigest(), "access": access}
        self._reply(req, 200, {"token": self.sign(claims), "expires_in": 300})

    @staticmethod
    def _reply(req: BaseHTTPRequestHandler, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)


# ---------------------------------------------------------------------------
# test images
# ---------------------------------------------------------------------------


def _tar(entries: list[tuple]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for path, kind, mode, payload in sorted(entries, key=lambda e: e[0]):
            ti = tarfile.TarInfo(path)
            ti.mode, ti.mtime, ti.uid, ti.gid = mode, MTIME, 0, 0
            if kind == "dir":
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
            elif kind == "sym":
                ti.type, ti.linkname = tarfile.SYMTYPE, payload
                tf.addfile(ti)
            else:
                ti.size = len(payload)
                tf.addfile(ti, io.BytesIO(payload))
    return raw.getvalue()


def busybox_layer() -> bytes:
    """An uncompressed rootfs tar: /bin/busybox, sh and a few applet links, /etc/passwd."""
    with open(BUSYBOX, "rb") as f:
        bb = f.read()
    entries = [("bin", "dir", 0o755, None), ("etc", "dir", 0o755, None), ("tmp", "dir", 0o1777, None),
               ("bin/busybox", "file", 0o755, bb),
               ("etc/passwd", "file", 0o644, b"root:x:0:0:root:/root:/bin/sh\n"),
               ("etc/group", "file", 0o644, b"root:x:0:\n")]
    entries += [(f"bin/{a}", "sym", 0o777, "busybox") for a in ("sh", "echo", "cat", "ls", "true")]
    return _tar(entries)


def data_layer(name: str, size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    return _tar([("data", "dir", 0o755, None), (f"data/{name}", "file", 0o644, rng.randbytes(size))])


def zstd_compress(data: bytes) -> bytes:
    """One zstd frame of ``data`` (the binding berth reads zstd layers with; no ``zstd`` program needed)."""
    try:
        from compression import zstd  # type: ignore[import-not-found]  # Python 3.14
    except ImportError:
        from backports import zstd  # type: ignore[no-redef]
    return zstd.compress(data)


def build_oci_layout(directory: str, layers: list[bytes], tag: str = "latest", cmd: list[str] | None = None,
                     compression: str = "gzip", architecture: str = "amd64") -> dict:
    """Write an OCI image layout holding one image; returns digests (manifest, config, layers, diff_ids)."""
    blobs_dir = os.path.join(directory, "blobs", "sha256")
    os.makedirs(blobs_dir, exist_ok=True)

    def put(data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs_dir, digest[7:]), "wb") as f:
            f.write(data)
        return digest

    descs, diff_ids = [], []
    for raw in layers:
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        if compression == "gzip":
            blob = gzip.compress(raw, mtime=0)
            media = "application/vnd.oci.image.layer.v1.tar+gzip"
        elif compression == "zstd":
            blob = zstd_compress(raw)
            media = "application/vnd.oci.image.layer.v1.tar+zstd"
        else:
            blob, media = raw, "application/vnd.oci.image.layer.v1.tar"
        descs.append({"mediaType": media, "digest": put(blob), "size": len(blob)})
    config = {"created": "2000-01-01T00:00:00Z", "architecture": architecture, "os": "linux",
              "config": {"Env": ["PATH=/bin"], "Cmd": cmd or ["/bin/sh"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids},
              "history": [{"created": "2000-01-01T00:00:00Z", "created_by": "berth test"} for _ in layers]}
    config_raw = json.dumps(config).encode()
    config_digest = put(config_raw)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                           "size": len(config_raw)}, "layers": descs}
    manifest_raw = json.dumps(manifest).encode()
    manifest_digest = put(manifest_raw)
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                                "digest": manifest_digest, "size": len(manifest_raw),
                                                "annotations": {"org.opencontainers.image.ref.name": tag}}]}
    with open(os.path.join(directory, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(directory, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    return {"manifest": manifest_digest, "config": config_digest, "image_id": config_digest,
            "layers": [d["digest"] for d in descs], "diff_ids": diff_ids, "manifest_size": len(manifest_raw)}


def push_oci_layout(directory: str, info: dict, host: str, repository: str, tag: str) -> None:
    """Push the image :func:`build_oci_layout` wrote (``info`` is its result) to a plain registry with
    the distribution API itself: a blob upload each, then the manifest. Faster than ``skopeo copy``
    for many small images, and it sends the layers exactly as they are (nothing inspects them)."""
    base = f"http://{host}/v2/{repository}"
    for digest in [info["config"], *info["layers"]]:
        with open(os.path.join(directory, "blobs", "sha256", digest[7:]), "rb") as f:
            data = f.read()
        start = urllib.request.Request(f"{base}/blobs/uploads/", method="POST")
        with urllib.request.urlopen(start, timeout=10) as resp:
            location = resp.headers["Location"]
        location = location if location.startswith("http") else f"http://{host}{location}"
        sep = "&" if "?" in location else "?"
        put = urllib.request.Request(f"{location}{sep}digest={digest}", data=data, method="PUT",
                                     headers={"Content-Type": "application/octet-stream"})
        urllib.request.urlopen(put, timeout=10).close()
    with open(os.path.join(directory, "blobs", "sha256", info["manifest"][7:]), "rb") as f:
        manifest = f.read()
    put = urllib.request.Request(f"{base}/manifests/{tag}", data=manifest, method="PUT",
                                 headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    urllib.request.urlopen(put, timeout=10).close()


def skopeo_copy(src: str, dest: str, *extra: str) -> subprocess.CompletedProcess:
    """``skopeo copy`` with TLS verification off on both sides (loopback registries); raises on failure."""
    return subprocess.run([SKOPEO, "copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false", *extra,
                           src, dest], check=True, capture_output=True, timeout=120)


def fake_engine(data_root: str, driver: str = "vfs") -> types.SimpleNamespace:
    """An engine stand-in for the registry code: ``images`` (a store on ``driver``, vfs or overlay), ``events``,
    ``graph``, ``config``.

    The caller closes ``images`` when done.
    """
    from berth.drivers import open_driver
    from berth.events import EventBus
    from berth.images.store import ImageStore
    from berth.plugins.graphdrivers.overlay import OverlayDriver
    from berth.plugins.graphdrivers.vfs import VfsDriver

    cls = {"vfs": VfsDriver, "overlay": OverlayDriver}[driver]
    facade = open_driver("graph", cls(root=os.path.join(data_root, driver)), driver)
    return types.SimpleNamespace(images=ImageStore(data_root, facade), events=EventBus(), graph=facade,
                                 config=types.SimpleNamespace(data_root=data_root, insecure_registries=[]))


# ---------------------------------------------------------------------------
# fixtures (import them by name into a test module)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True, name="registry_peers")
def registry_peers_fixture():
    """docker-registry and skopeo are peers: absent, every test here fails in CI and skips elsewhere.

    Module scope and autouse, so it runs before the module fixtures that start the registry.
    """
    from tests import peers  # here, not at the top: bench/pull.py imports this module without the tests package

    peers.require_executables(REGISTRY_BIN, SKOPEO,
                              fix="install Debian's docker-registry and skopeo (`bash .ci/install` does)")


@pytest.fixture(scope="module", name="workdir")
def workdir_fixture(tmp_path_factory) -> str:
    """The module's directory for registry storage and OCI layouts."""
    return str(tmp_path_factory.mktemp("registry"))


def _server(workdir: str, name: str, **kw) -> RegistryServer:
    base = os.path.join(workdir, name)
    os.makedirs(base)
    return RegistryServer(base, **kw).start()


@pytest.fixture(scope="module", name="registry")
def registry_fixture(workdir):
    """A plain (no auth) registry for the module."""
    server = _server(workdir, "plain")
    yield server
    server.stop()


@pytest.fixture(scope="module", name="basic_registry")
def basic_registry_fixture(workdir):
    """A registry with htpasswd Basic auth; user ``alice``, password ``s3cret``."""
    server = _server(workdir, "basic", auth="htpasswd", users={"alice": "s3cret"})
    yield server
    server.stop()


@pytest.fixture(scope="module", name="test_image")
def test_image_fixture(workdir):
    """An OCI layout: busybox + a 300 kB data layer, command ``echo pulled-ok``."""
    path = os.path.join(workdir, "oci-image")
    info = build_oci_layout(path, [busybox_layer(), data_layer("a.bin", 300_000, 1)], cmd=["/bin/echo", "pulled-ok"])
    info["path"] = path
    return info
