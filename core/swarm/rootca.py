"""The cluster's root CA, made with the ``openssl`` command at ``swarm init``.

dockerd's swarm has an ECDSA P-256 root certificate named ``swarm-ca``, valid for 20
years; ``swarm inspect`` shows it (``TLSInfo.TrustRoot``) with the DER of its subject
and of its public key, and the join tokens carry its digest. berth makes the same
kind of certificate; no other node exists to be given a certificate signed by it.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile

from berth.errors import BerthError

VALID_DAYS = 7300


def create(directory: str) -> dict:
    """Make the root CA in ``directory`` (key 0600); return ``TLSInfo`` as a Go value (bytes fields as bytes)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise BerthError("swarm init needs the openssl command to make the cluster's root CA: install openssl")
    key, cert = os.path.join(directory, "ca-key.pem"), os.path.join(directory, "ca.pem")
    with tempfile.TemporaryDirectory(dir=directory) as work:
        config = os.path.join(work, "ca.cnf")
        with open(config, "w") as f:
            f.write("[req]\ndistinguished_name=dn\nx509_extensions=ca\nprompt=no\nstring_mask=nombstr\n"
                    "[dn]\nCN=swarm-ca\n"
                    "[ca]\nkeyUsage=critical,keyCertSign,cRLSign\nbasicConstraints=critical,CA:true\n"
                    "subjectKeyIdentifier=hash\n")
        result = subprocess.run([openssl, "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
                                 "ec_paramgen_curve:prime256v1", "-nodes", "-sha256", "-days", str(VALID_DAYS),
                                 "-config", config, "-keyout", key, "-out", cert], capture_output=True)
    if result.returncode != 0:
        raise BerthError(f"openssl could not make the swarm's root CA: {result.stderr.decode(errors='replace')}")
    os.chmod(key, 0o600)
    with open(cert, "rb") as f:
        pem = f.read()
    return tls_info(pem)


def tls_info(pem: bytes) -> dict:
    """``TLSInfo`` of a root certificate: the PEM, the DER of its subject and of its public key."""
    body = b"".join(line for line in pem.splitlines() if line and not line.startswith(b"-----"))
    der = base64.b64decode(body)
    certificate = _children(der)[0][1]
    fields = _children(_children(certificate)[0][1])
    # tbsCertificate: [0] version, serial, signature algorithm, issuer, validity, subject, public key, ...
    offset = 1 if fields[0][0] == 0xA0 else 0
    issuer, spki = fields[offset + 2][2], fields[offset + 5][2]
    return {"TrustRoot": pem.decode(), "CertIssuerSubject": issuer, "CertIssuerPublicKey": spki}


def _children(der: bytes) -> list[tuple[int, bytes, bytes]]:
    """The DER elements in ``der``: (tag, content, the whole element)."""
    out, i = [], 0
    while i < len(der):
        tag, length = der[i], der[i + 1]
        start = i + 2
        if length & 0x80:
            size = length & 0x7F
            length = int.from_bytes(der[start:start + size], "big")
            start += size
        out.append((tag, der[start:start + length], der[i:start + length]))
        i = start + length
    return out
