"""berthd over TCP: refused without TLS off loopback; with TLS client verification the CLI (and docker) work."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _openssl(*args: str, cwd: str) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True)
    assert result.returncode == 0, result.stderr.decode()


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, made with openssl."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    d = str(tmp_path_factory.mktemp("tls"))
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=berth-test-ca", cwd=d)
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    with open(os.path.join(d, "client.ext"), "w") as f:
        f.write("extendedKeyUsage=clientAuth\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}-key.pem", "-out", f"{name}.csr",
                 "-subj", f"/CN={name}", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
                 "-out", f"{name}-cert.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    client_dir = os.path.join(d, "client")
    os.makedirs(client_dir)
    shutil.copy(os.path.join(d, "ca.pem"), os.path.join(client_dir, "ca.pem"))
    shutil.copy(os.path.join(d, "client-cert.pem"), os.path.join(client_dir, "cert.pem"))
    shutil.copy(os.path.join(d, "client-key.pem"), os.path.join(client_dir, "key.pem"))
    return d


def test_plain_tcp_on_a_non_loopback_address_is_refused_at_start(make_daemon):
    d = make_daemon(["-H", "tcp://0.0.0.0:2375", "--insecure-loopback-tcp"])
    with pytest.raises(RuntimeError) as info:
        d.start(timeout=10)
    assert "without TLS" in str(info.value)


def test_plain_tcp_on_loopback_needs_the_explicit_flag(make_daemon):
    with pytest.raises(RuntimeError) as info:
        make_daemon(["-H", f"tcp://127.0.0.1:{_free_port()}"]).start(timeout=10)
    assert "--insecure-loopback-tcp" in str(info.value)


def test_tls_with_client_verification_serves_the_cli(make_daemon, certs):
    port = _free_port()
    d = make_daemon(["-s", "vfs", "-H", f"tcp://127.0.0.1:{port}", "--tlsverify",
                     "--tlscacert", os.path.join(certs, "ca.pem"), "--tlscert", os.path.join(certs, "server-cert.pem"),
                     "--tlskey", os.path.join(certs, "server-key.pem")]).start()
    env = {**os.environ, "DOCKER_HOST": f"tcp://127.0.0.1:{port}", "DOCKER_TLS_VERIFY": "1",
           "DOCKER_CERT_PATH": os.path.join(certs, "client")}
    env.pop("BERTH_HOST", None)
    berth = [sys.executable, "-m", "berth.cli.main"]
    ok = subprocess.run([*berth, "version", "--format", "{{.Server.ApiVersion}}"], env=env, capture_output=True,
                        timeout=30)
    assert ok.returncode == 0, ok.stderr.decode() + d.log()
    assert ok.stdout.decode().strip() == "1.45"
    assert subprocess.run([*berth, "ps"], env=env, capture_output=True, timeout=30).returncode == 0

    # without a client certificate the daemon refuses the handshake
    no_cert = os.path.join(certs, "nocert")
    os.makedirs(no_cert, exist_ok=True)
    shutil.copy(os.path.join(certs, "ca.pem"), os.path.join(no_cert, "ca.pem"))
    refused = subprocess.run([*berth, "ps"], env={**env, "DOCKER_CERT_PATH": no_cert}, capture_output=True, timeout=30)
    assert refused.returncode != 0

    # the real docker CLI with the same environment
    docker = shutil.which("docker") or "/usr/local/bin/docker"
    if os.path.exists(docker):
        env["DOCKER_CONFIG"] = os.path.join(certs, "docker-config")
        result = subprocess.run([docker, "version", "--format", "{{.Server.APIVersion}}"], env=env,
                                capture_output=True, timeout=30)
        assert result.returncode == 0, result.stderr.decode()
        assert result.stdout.decode().strip() == "1.45"
