"""A throw-away PKI for the TLS tests, made with the openssl command: the
estate's CA, a host certificate it signs for 127.0.0.1 and localhost, and a
second, unrelated CA (what an impostor's certificate chains to)."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pki:
    ca: Path            # the estate's CA certificate (the kiosk's [host] ca_file)
    host_cert: Path     # the host's certificate, signed by `ca`
    host_key: Path
    other_ca: Path      # a CA that signed nothing of ours


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def _ca(folder: Path, name: str) -> tuple[Path, Path]:
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", cert, "-days", "3650", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return cert, key


def make_pki(folder: Path) -> Pki:
    ca, ca_key = _ca(folder, "estate-ca")
    other_ca, _ = _ca(folder, "other-ca")
    key, csr, cert = folder / "host.key", folder / "host.csr", folder / "host.pem"
    extensions = folder / "host.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                          "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", csr, "-subj", "/CN=localhost")
    _openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
             "-days", "3650", "-extfile", extensions)
    return Pki(ca, cert, key, other_ca)
