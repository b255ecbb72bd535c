"""``policy-engine certs``: the files it writes make a real TLS handshake succeed for the Service names."""

from __future__ import annotations

import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from policy_engine.cli.main import main

SERVICE, NAMESPACE = "policy-engine", "ml-governance"


def _make(out: Path, *extra: str) -> None:
    assert main(["certs", "--service", SERVICE, "--namespace", NAMESPACE, "--out", str(out), *extra]) == 0


@contextmanager
def tls_server(cert: Path, key: Path) -> Iterator[int]:
    """A TLS echo server on 127.0.0.1 that answers each handshake with one line."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"hello\n")
            except (ssl.SSLError, OSError):
                conn.close()  # the client refused our certificate: that is what some tests expect

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join(2)
        listener.close()


def _handshake(port: int, ca: Path, hostname: str) -> bytes:
    ctx = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname=hostname) as tls:
        return tls.recv(16)


def test_files_and_key_permissions(tmp_path: Path) -> None:
    _make(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca.crt", "ca.key", "tls.crt", "tls.key"]
    for name in ("ca.key", "tls.key"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_ca_and_serving_certificate_extensions(tmp_path: Path) -> None:
    _make(tmp_path, "--days", "30")
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.crt").read_bytes())
    leaf = x509.load_pem_x509_certificate((tmp_path / "tls.crt").read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign is True
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName)
    assert sans == [SERVICE, f"{SERVICE}.{NAMESPACE}", f"{SERVICE}.{NAMESPACE}.svc",
                    f"{SERVICE}.{NAMESPACE}.svc.cluster.local"]
    assert leaf.issuer == ca.subject
    days = (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days
    assert 30 <= days <= 31


@pytest.mark.parametrize("hostname", [f"{SERVICE}.{NAMESPACE}.svc",
                                      f"{SERVICE}.{NAMESPACE}.svc.cluster.local", "localhost"])
def test_handshake_verified_by_ca(tmp_path: Path, hostname: str) -> None:
    _make(tmp_path, "--localhost")
    with tls_server(tmp_path / "tls.crt", tmp_path / "tls.key") as port:
        assert _handshake(port, tmp_path / "ca.crt", hostname) == b"hello\n"


def test_handshake_fails_for_other_names_and_other_ca(tmp_path: Path) -> None:
    _make(tmp_path / "a")
    _make(tmp_path / "b")
    with tls_server(tmp_path / "a" / "tls.crt", tmp_path / "a" / "tls.key") as port:
        with pytest.raises(ssl.SSLCertVerificationError):
            _handshake(port, tmp_path / "a" / "ca.crt", "localhost")  # not asked for --localhost
        with pytest.raises(ssl.SSLCertVerificationError):
            _handshake(port, tmp_path / "a" / "ca.crt", f"other.{NAMESPACE}.svc")
        with pytest.raises(ssl.SSLCertVerificationError):
            _handshake(port, tmp_path / "b" / "ca.crt", f"{SERVICE}.{NAMESPACE}.svc")


def test_refuses_to_replace_existing_ca(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _make(tmp_path)
    before = (tmp_path / "ca.crt").read_bytes()
    code = main(["certs", "--service", SERVICE, "--namespace", NAMESPACE, "--out", str(tmp_path)])
    assert code == 2
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "ca.crt").read_bytes() == before
    _make(tmp_path, "--force")
    assert (tmp_path / "ca.crt").read_bytes() != before
