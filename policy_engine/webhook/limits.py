"""The webhook's connections, bounded: how many, how long idle, how slow, how large their headers.

uvicorn alone keeps any connection that never sends a request open forever, reads headers of any size
and count, and accepts every connection the kernel hands it. With ``failurePolicy: Ignore`` anything
that makes the webhook slow or run out of memory lets objects in unchecked, so ``serve`` gives uvicorn
``protocol_factory`` (its ``http=`` setting) instead of its own TLS and protocol:

* **Connection cap.** At accept, before a byte of TLS is spent, a connection beyond
  ``max_connections`` is closed at once (and counted); the ones being served keep their latency.
* **TLS** is added here, per connection, with the context ``tls.ServingContext`` keeps current (the
  certificate is reloaded when its files change) and a handshake timeout.
* **Header limits and timeouts.** Headers must be complete within ``header_timeout_seconds`` of their
  first byte (slowloris), hold at most ``max_header_bytes`` and ``max_headers`` (else 431), and a
  connection with no request in flight is closed after ``idle_timeout_seconds``.

The body limit and body timeout of ``POST /validate`` stay in ``validate.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


@dataclass(frozen=True, slots=True)
class Limits:
    max_connections: int
    max_header_bytes: int
    max_headers: int
    header_timeout_seconds: float
    idle_timeout_seconds: float


SETTINGS_ENV = "POLICY_ENGINE_SERVE_SETTINGS"  # the same variable as webhook/app.py's
#: After a refusal, how long the client has to read the response before the connection is aborted.
ABORT_GRACE_SECONDS = 1.0


class _State:
    """Per-process: open connections, what was refused (read by the metrics), the limits in force."""

    open_connections = 0
    limits: Limits | None = None
    tls: Any = None  # tls.ServingContext, or None for --insecure-http
    metrics: Any = None  # the app's Metrics, once it exists

    def refused(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.connections_refused.labels(reason).inc()

    def opened(self, delta: int) -> None:
        self.open_connections += delta
        if self.metrics is not None:
            self.metrics.open_connections.set(self.open_connections)


STATE = _State()


def configure(limits: Limits, tls: Any) -> None:
    STATE.limits = limits
    STATE.tls = tls
    metrics = STATE.metrics
    if tls is not None and metrics is not None:
        tls.listener = lambda result: metrics.tls_reloads.labels(result).inc()


def _configured() -> tuple[Limits, Any]:
    """The limits and TLS context, built from the serve settings in the environment on first use.

    A uvicorn worker process imports this module by name and gets here without ``configure``.
    """
    if STATE.limits is None:
        from policy_engine.webhook.config import load_config
        from policy_engine.webhook.tls import ServingContext

        # ServeSettings as JSON (webhook/app.py; read here as plain data: app imports this module)
        raw = os.environ.get(SETTINGS_ENV)
        settings = json.loads(raw) if raw else {}
        config = load_config(settings.get("config_file"))
        cert, key = settings.get("tls_cert"), settings.get("tls_key")
        configure(limits_of(config), ServingContext(cert, key) if cert and key else None)
    assert STATE.limits is not None
    return STATE.limits, STATE.tls


def limits_of(config: Any) -> Limits:
    return Limits(config.max_connections, config.max_header_bytes, config.max_headers,
                  config.header_timeout_seconds, config.idle_timeout_seconds)


def protocol_factory(config: Any, server_state: Any, app_state: dict[str, Any],
                     _loop: asyncio.AbstractEventLoop | None = None) -> asyncio.BaseProtocol:
    """What uvicorn calls per accepted connection (``Config(http="...:protocol_factory")``)."""
    limits, tls = _configured()
    if STATE.open_connections >= limits.max_connections:
        STATE.refused("max_connections")
        return _Refuse()
    http = BoundedHttpProtocol(config, server_state, app_state, _loop, limits=limits)
    if tls is None:
        return http
    loop = _loop or asyncio.get_event_loop()
    context = tls.current()
    ssl_protocol = _counted_ssl_protocol(loop)
    proto: asyncio.BaseProtocol = ssl_protocol(loop, http, context, None, server_side=True,
                                               ssl_handshake_timeout=limits.header_timeout_seconds)
    return proto


_COUNTED: dict[type, type] = {}


def _counted_ssl_protocol(loop: asyncio.AbstractEventLoop) -> Any:
    """The loop's own SSL protocol class, counting its connection from accept to close."""
    base: type
    try:
        import uvloop
        from uvloop.loop import SSLProtocol as UvSSLProtocol  # type: ignore[attr-defined]

        base = UvSSLProtocol if isinstance(loop, uvloop.Loop) else _asyncio_ssl_protocol()
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        base = _asyncio_ssl_protocol()
    counted = _COUNTED.get(base)
    if counted is None:
        def connection_made(self: Any, transport: asyncio.BaseTransport) -> None:
            STATE.opened(1)
            base.connection_made(self, transport)  # type: ignore[attr-defined]

        def connection_lost(self: Any, exc: Exception | None) -> None:
            STATE.opened(-1)
            base.connection_lost(self, exc)  # type: ignore[attr-defined]

        counted = type(f"Counted{base.__name__}", (base,),
                       {"connection_made": connection_made, "connection_lost": connection_lost})
        _COUNTED[base] = counted
    return counted


def _asyncio_ssl_protocol() -> type:
    from asyncio.sslproto import SSLProtocol

    return SSLProtocol


class _Refuse(asyncio.Protocol):
    """A connection over the cap: closed as soon as it is made, nothing read, no TLS."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        abort = getattr(transport, "abort", None)
        abort() if callable(abort) else transport.close()


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header limits, a header timeout and an idle timeout."""

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None, *, limits: Limits) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self.timeout_keep_alive = limits.idle_timeout_seconds  # type: ignore[assignment]
        self._plain = False
        self._in_headers = False
        self._header_bytes = 0  # bytes received while the headers were incomplete
        self._parsed_bytes = 0  # request line and header fields parsed
        self._header_count = 0
        self._header_timer: asyncio.TimerHandle | None = None
        self._answered_at = 0.0  # loop time the last response completed

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.scheme == "http":  # no TLS layer counts it: count here
            self._plain = True
            STATE.opened(1)
        # until the first request, the connection is idle: uvicorn's keep-alive timer closes it
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._plain:
            STATE.opened(-1)
            self._plain = False
        self._cancel_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        in_headers = self._in_headers
        super().data_received(data)
        if (not self._in_headers and self.cycle is not None and self.cycle.response_complete
                and self.loop.time() - self._answered_at > self.limits.idle_timeout_seconds
                and not self.transport.is_closing()):
            # the rest of a body nobody reads, dribbled after the answer: uvicorn's keep-alive timer restarts
            # on every byte, so without this a client could hold the connection for ever
            STATE.refused("idle_timeout")
            self.transport.close()
            return
        if in_headers or self._in_headers:  # the chunk held header bytes (and perhaps the end of a body)
            self._header_bytes += len(data)
        if self._in_headers and self._header_bytes > self.limits.max_header_bytes and not self.transport.is_closing():
            STATE.refused("header_bytes")
            self._refuse(431, f"request headers exceed {self.limits.max_header_bytes} bytes")

    def on_response_complete(self) -> None:
        self._answered_at = self.loop.time()
        super().on_response_complete()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True  # the first byte of a request: its headers must come in time, and bounded
        self._header_bytes = 0
        self._parsed_bytes = 0
        self._header_count = 0
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.limits.header_timeout_seconds, self._header_timeout)

    def on_url(self, url: bytes) -> None:
        self._parsed_bytes += len(url)
        if self._over_header_bytes():
            return
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._parsed_bytes += len(name) + len(value) + 4
        if self._header_count > self.limits.max_headers:
            if not self.transport.is_closing():
                STATE.refused("header_count")
                self._refuse(431, f"more than {self.limits.max_headers} request headers")
            return
        if self._over_header_bytes():
            return
        super().on_header(name, value)

    def _over_header_bytes(self) -> bool:
        """Headers parsed so far past the limit (a whole oversized header can arrive in one read)."""
        if self._parsed_bytes <= self.limits.max_header_bytes:
            return False
        if not self.transport.is_closing():
            STATE.refused("header_bytes")
            self._refuse(431, f"request headers exceed {self.limits.max_header_bytes} bytes")
        return True

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._cancel_header_timer()
        if self.transport.is_closing():
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self.transport.is_closing() or self.cycle is None:
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        if self.transport.is_closing() or self.cycle is None:
            return
        super().on_message_complete()

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self._in_headers and not self.transport.is_closing():
            STATE.refused("header_timeout")
            self._refuse(408, f"request headers not received within {self.limits.header_timeout_seconds:g} s")

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _refuse(self, status: int, message: str) -> None:
        reason = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
        body = message.encode()
        self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                             b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                             % (status, reason, len(body), body))
        self._cancel_header_timer()
        self.transport.close()
        # close() lets the response drain but keeps reading (and discarding) what the client still sends:
        # a client that does not stop is cut off after a moment.
        transport = self.transport
        self.loop.call_later(ABORT_GRACE_SECONDS, transport.abort)
