"""The serving TLS context: TLS 1.2 at least, modern ciphers only, and the certificate reloaded from disk.

cert-manager (or any rotation) replaces ``tls.crt``/``tls.key`` in the mounted Secret while the webhook
runs. ``ServingContext.current()`` is asked for the context at every accepted connection; at most once a
second it compares the files' identity (inode, size, mtime, following the ``..data`` symlink a Secret
volume swaps) with what it loaded, and on a change builds a new context from them. A pair that does not
load (the key written before the certificate, mid-rotation) keeps the last good context and is retried on
the next change; connections already open keep the certificate they were made with.
"""

from __future__ import annotations

import logging
import os
import ssl
import time
from collections.abc import Callable

#: TLS 1.2 suites with forward secrecy and AEAD; TLS 1.3's suites are all modern and are not restricted.
CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:!MD5:!SHA1:!RC4:!3DES"
CHECK_INTERVAL_SECONDS = 1.0

log = logging.getLogger(__name__)


def serving_context(cert: str, key: str) -> ssl.SSLContext:
    """A server context for ``cert``/``key``: TLS 1.2 minimum, modern ciphers, no compression/renegotiation."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_SINGLE_ECDH_USE
    context.options |= getattr(ssl, "OP_NO_RENEGOTIATION", 0)
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["http/1.1"])
    return context


class ServingContext:
    """The current serving context, rebuilt when the certificate or key file changes on disk."""

    def __init__(self, cert: str, key: str, *, interval: float = CHECK_INTERVAL_SECONDS) -> None:
        self.cert = cert
        self.key = key
        self.interval = interval
        self.reloads = 0
        self.failures = 0
        self.listener: Callable[[str], None] | None = None  # told "ok" or "failed" after each reload
        self._identity = self._stat()
        self._context = serving_context(cert, key)
        self._checked = time.monotonic()

    def _stat(self) -> tuple[tuple[int, int, int], ...]:
        out = []
        for path in (self.cert, self.key):
            try:
                st = os.stat(path)
                out.append((st.st_ino, st.st_size, st.st_mtime_ns))
            except OSError:
                out.append((0, 0, 0))
        return tuple(out)

    def current(self) -> ssl.SSLContext:
        now = time.monotonic()
        if now - self._checked >= self.interval:
            self._checked = now
            self.reload_if_changed()
        return self._context

    def reload_if_changed(self) -> bool:
        identity = self._stat()
        if identity == self._identity:
            return False
        try:
            context = serving_context(self.cert, self.key)
        except (ssl.SSLError, OSError, ValueError) as exc:
            self.failures += 1
            log.warning("serving certificate changed but does not load (%s); keeping the previous one", exc)
            self._identity = identity  # retried when the files change again
            self._tell("failed")
            return False
        self._context = context
        self._identity = identity
        self.reloads += 1
        log.info("serving certificate reloaded from %s", self.cert)
        self._tell("ok")
        return True

    def _tell(self, result: str) -> None:
        if self.listener is not None:
            self.listener(result)
