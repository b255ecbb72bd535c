"""A private CA and a serving certificate for the webhook's Service, made with ``cryptography``.

The API server calls a webhook over HTTPS and checks the serving certificate against the ``caBundle``
of the ValidatingWebhookConfiguration, for the host name ``<service>.<namespace>.svc``. A private CA
(rather than a self-signed leaf) lets the serving certificate be renewed without touching the
``caBundle``. Keys are ECDSA P-256: small, fast to create, and accepted by every supported API server.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

FILES = ("ca.crt", "ca.key", "tls.crt", "tls.key")
CLOCK_SKEW = datetime.timedelta(minutes=5)  # valid from a little before now: nodes' clocks drift


@dataclass(frozen=True, slots=True)
class CertBundle:
    """PEM bytes of the CA and the serving pair, plus the names the serving certificate holds."""

    ca_cert: bytes
    ca_key: bytes
    tls_cert: bytes
    tls_key: bytes
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]


def service_dns_names(service: str, namespace: str) -> tuple[str, ...]:
    """Every name a client inside the cluster may use for the Service (the API server uses ``.svc``)."""
    return (service, f"{service}.{namespace}", f"{service}.{namespace}.svc",
            f"{service}.{namespace}.svc.cluster.local")


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _key_usage(*, key_cert_sign: bool = False, crl_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=True, key_cert_sign=key_cert_sign, crl_sign=crl_sign,
                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                         key_agreement=False, encipher_only=False, decipher_only=False)


def generate(service: str, namespace: str, *, days: int = 365, localhost: bool = False,
             now: datetime.datetime | None = None) -> CertBundle:
    """A new CA and a serving certificate it signed for the Service's DNS names (and localhost if asked)."""
    if days < 1:
        raise ValueError("days must be at least 1")
    start = (now or datetime.datetime.now(datetime.UTC)) - CLOCK_SKEW
    end = start + CLOCK_SKEW + datetime.timedelta(days=days)

    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"policy-engine webhook CA ({namespace})")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    dns = list(service_dns_names(service, namespace))
    ips: list[str] = []
    if localhost:
        dns.append("localhost")
        ips.append("127.0.0.1")
    alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    key = _key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{service}.{namespace}.svc")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return CertBundle(
        ca_cert=ca_cert.public_bytes(serialization.Encoding.PEM),
        ca_key=_key_pem(ca_key),
        tls_cert=cert.public_bytes(serialization.Encoding.PEM),
        tls_key=_key_pem(key),
        dns_names=tuple(dns),
        ip_addresses=tuple(ips),
    )


def write(bundle: CertBundle, out: str | Path, *, overwrite: bool = False) -> list[Path]:
    """Write ca.crt, ca.key, tls.crt, tls.key into ``out``; keys are created 0600, never world-readable.

    Refuses (FileExistsError) to replace existing files unless ``overwrite``: a CA silently replaced
    would break a webhook already registered with the old ``caBundle``.
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name for name in FILES]
    if not overwrite:
        present = [str(p) for p in paths if p.exists()]
        if present:
            raise FileExistsError(f"already exists: {', '.join(present)} (use --force to replace)")
    contents = (bundle.ca_cert, bundle.ca_key, bundle.tls_cert, bundle.tls_key)
    for path, data in zip(paths, contents, strict=True):
        mode = 0o600 if path.suffix == ".key" else 0o644
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(path, mode)  # the file may have existed with looser permissions
    return paths
