"""A throw-away PKI for the TLS tests, made with the openssl command: the
estate's CA, a host certificate it signs for 127.0.0.1 and localhost, a
client certificate it signs (a kiosk's, for mutual TLS on the bank link), and
a second, unrelated CA (what an impostor's certificate chains to)."""
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
    client_cert: Path   # a kiosk's certificate (clientAuth), signed by `ca`
    client_key: Path


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def _ca(folder: Path, name: str) -> tuple[Path, Path]:
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", cert, "-days", "3650", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return cert, key


def _leaf(folder: Path, name: str, ca: Path, ca_key: Path, common_name: str, extensions: str) -> tuple[Path, Path]:
    key, csr, cert = folder / f"{name}.key", folder / f"{name}.csr", folder / f"{name}.pem"
    ext = folder / f"{name}.ext"
    ext.write_text(extensions)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", csr, "-subj", f"/CN={common_name}")
    _openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
             "-days", "3650", "-extfile", ext)
    return cert, key


def make_pki(folder: Path) -> Pki:
    ca, ca_key = _ca(folder, "estate-ca")
    other_ca, _ = _ca(folder, "other-ca")
    cert, key = _leaf(folder, "host", ca, ca_key, "localhost",
                      "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                      "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    client_cert, client_key = _leaf(folder, "kiosk", ca, ca_key, "KIOSK001",
                                    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                                    "extendedKeyUsage=clientAuth\n")
    return Pki(ca, cert, key, other_ca, client_cert, client_key)
