"""The page's own TLS certificate: self-signed, made once, kept in the data home.

Serving beyond loopback (`[web] host`) needs TLS (`[web] tls = true`) or a reverse proxy
that does it (`[web] behind_proxy = true`): a token must not cross a network in the clear.
With `tls`, the daemon makes a certificate on its first start (`cryptography`: an EC P-256
key, ten years, for this machine's names and addresses) in `<data home>/web-tls/` (the key
0600). No authority vouches for it, so a client pins it: its SHA-256 fingerprint is printed
with every token (`secondself token create`, `token list`), and `cert.pem` itself can be
given to a client as the one certificate it trusts. Deleting the folder makes a new one at
the next start (every client must then pin the new fingerprint).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import ipaddress
import os
import secrets
import shutil
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from secondself.core.paths import private_dir

TLS_DIR = "web-tls"
CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
VALID_DAYS = 3650
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True, slots=True)
class Certificate:
    cert: Path
    key: Path
    fingerprint: str  # SHA-256 of the certificate (DER), "AB:CD:..." as openssl shows it


def fingerprint(pem: bytes) -> str:
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    return ":".join(f"{byte:02X}" for byte in hashlib.sha256(der).digest())


def load(home: Path) -> Certificate | None:
    """The data home's certificate, if one was made (OSError when it cannot be read)."""
    folder = home / TLS_DIR
    try:
        pem = (folder / CERT_FILE).read_bytes()
    except FileNotFoundError:
        return None
    return Certificate(folder / CERT_FILE, folder / KEY_FILE, fingerprint(pem))


def load_or_create(home: Path, host: str = "") -> Certificate:
    """The data home's certificate, made now if there is none (for this machine's names,
    its addresses and `host`). Key and certificate are made in a folder of their own and
    renamed into place together, so a reader never pairs one start's key with another's
    certificate. OSError when the data home cannot be written."""
    found = load(home)
    if found is not None:
        return found
    private_dir(home)
    making = home / f".{TLS_DIR}.{os.getpid()}.{secrets.token_hex(4)}"
    making.mkdir(mode=0o700)
    try:
        _write(making, machine_names(host))
        try:
            os.rename(making, home / TLS_DIR)
        except OSError:  # another start made one first: theirs it is
            if load(home) is None:
                raise
    finally:
        shutil.rmtree(making, ignore_errors=True)
    made = load(home)
    assert made is not None
    return made


def machine_names(host: str = "") -> list[str]:
    """The names and addresses a client may use for this machine."""
    hostname = socket.gethostname().lower()
    names = [*LOOPBACK_NAMES, hostname, f"{hostname}.local"]
    with contextlib.suppress(OSError):
        names += [str(info[4][0]) for info in socket.getaddrinfo(hostname, None)]
    if host.strip("[]") not in ("", "0.0.0.0", "::"):
        names.append(host.strip("[]").lower())
    return list(dict.fromkeys(names))


def _write(folder: Path, names: Iterable[str]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "secondself")])
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))  # a clock a little behind
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(list(_alt_names(names))), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private(folder / KEY_FILE, key_pem)
    _write_private(folder / CERT_FILE, cert.public_bytes(serialization.Encoding.PEM))


def _alt_names(names: Iterable[str]) -> Iterable[x509.GeneralName]:
    for name in names:
        try:
            yield x509.IPAddress(ipaddress.ip_address(name.partition("%")[0]))
        except ValueError:
            yield x509.DNSName(name)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
