"""``policy-engine serve``: the validating admission webhook on uvicorn, HTTPS only.

Everything that can be wrong with the invocation (no certificate, a key that does not match, policies
or a config that do not compile) is found before the port opens, and reported with exit code 2.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import ssl
import sys
import tempfile
from pathlib import Path
from typing import Literal

from policy_engine.cli.exits import EXIT_ERROR, EXIT_OK
from policy_engine.errors import DiagnosticError

HELP = "run the validating admission webhook"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policies", action="append", default=[], metavar="DIR",
                        help="policy directory or file (repeatable; default: the bundled library). "
                             "Directories are watched and reloaded when their files change")
    parser.add_argument("--tls-cert", metavar="FILE", help="serving certificate (PEM)")
    parser.add_argument("--tls-key", metavar="FILE", help="private key of the serving certificate (PEM)")
    parser.add_argument("--port", type=int, default=8443, help="port to listen on (default: %(default)s)")
    parser.add_argument("--host", default="0.0.0.0",
                        help="address to listen on (default: %(default)s, every interface)")
    parser.add_argument("--metrics-port", type=int, default=None, metavar="PORT",
                        help="serve /metrics over plain HTTP on this port instead of the admission port "
                             "(default: none, /metrics on the admission port; the deployment uses 9090)")
    parser.add_argument("--pricing", metavar="FILE", help="pricing catalog (default: the bundled one)")
    parser.add_argument("--config", metavar="FILE",
                        help="webhook settings: exemptions, inherited labels, limits (YAML; docs/webhook.md; "
                             "default: none, built-in settings)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default: %(default)s)")
    parser.add_argument("--graceful-timeout", type=float, default=20.0, metavar="SECONDS",
                        help="on SIGTERM, how long in-flight requests may take to finish (default: %(default)s)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                        help="log level of the JSON log on stderr (default: %(default)s)")
    parser.add_argument("--insecure-http", action="store_true",
                        help="serve plain HTTP (local trials only: the API server calls webhooks over HTTPS; "
                             "default: off)")
    history = parser.add_mutually_exclusive_group()
    history.add_argument("--ledger", metavar="FILE",
                         help="quota/budget usage from this ledger (written by the controller; docs/usage.md) "
                              "instead of this replica's own sum")
    history.add_argument("--prometheus", metavar="URL",
                         help="quota/budget usage from kube-state-metrics history in this Prometheus: every "
                              "replica reads the same numbers (docs/usage.md)")
    parser.add_argument("--prometheus-step", type=float, default=300.0, metavar="SECONDS",
                        help="resolution of the usage history's PromQL subqueries (default: %(default)s)")
    parser.add_argument("--usage-max-age", type=float, default=300.0, metavar="SECONDS",
                        help="a usage snapshot older than this follows each policy's on_error (default: 300)")
    parser.add_argument("--usage-refresh", type=float, default=30.0, metavar="SECONDS",
                        help="seconds between background usage snapshot refreshes (default: 30)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--kubeconfig", metavar="FILE", help="watch the cluster through this kubeconfig")
    where.add_argument("--in-cluster", action="store_true",
                       help="watch the cluster with the pod's service account")
    where.add_argument("--no-cluster", action="store_true",
                       help="no cluster state: no namespace labels, quotas judged on the request alone "
                            "(default)")


def _fail(message: str) -> int:
    print(f"policy-engine serve: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def _check_tls(args: argparse.Namespace) -> str | None:
    if args.insecure_http:
        if args.tls_cert or args.tls_key:
            return "--insecure-http cannot be combined with --tls-cert/--tls-key"
        return None
    if not args.tls_cert or not args.tls_key:
        return ("refusing to serve without TLS: give --tls-cert FILE and --tls-key FILE (the API server only "
                "calls webhooks over HTTPS; `policy-engine certs` makes them), or --insecure-http for a "
                "local trial")
    for flag, path in (("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key)):
        if not Path(path).is_file():
            return f"{flag} {path}: no such file"
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(args.tls_cert, args.tls_key)
    except (ssl.SSLError, OSError) as exc:
        return f"cannot use --tls-cert {args.tls_cert} with --tls-key {args.tls_key}: {exc}"
    return None


def _exit_cleanly_after_drain() -> None:
    """Make a drained shutdown exit 0, as process supervisors read it, rather than "killed by SIGTERM".

    uvicorn catches SIGTERM/SIGINT, drains in-flight requests, restores the handlers it found and then
    raises the signal again so that the default action ends the process. With these handlers in place
    beforehand, that second delivery ends ``serve`` with status 0 instead.
    """

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(EXIT_OK)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)


def run(args: argparse.Namespace) -> int:
    from policy_engine.jsonlog import uvicorn_log_config
    from policy_engine.webhook.app import SETTINGS_ENV, ServeSettings, create_app, load_policies
    from policy_engine.webhook.config import load_config
    from policy_engine.webhook.metrics import MULTIPROC_ENV
    from policy_engine.wording import count

    problem = _check_tls(args)
    if problem is None and (args.usage_max_age <= 0 or args.usage_refresh <= 0 or args.prometheus_step <= 0):
        problem = "--usage-max-age, --usage-refresh and --prometheus-step must be positive"
    if problem is None and args.metrics_port is not None and args.metrics_port == args.port:
        problem = f"--metrics-port {args.metrics_port} is the admission port; give it a port of its own"
    if problem is None and args.workers < 1:
        problem = f"--workers must be at least 1, got {args.workers}"
    if problem is None:
        missing = [p for p in args.policies if not Path(p).exists()]
        if missing:
            problem = f"--policies {missing[0]}: no such file or directory"
    if problem:
        return _fail(problem)
    cluster: Literal["none", "kubeconfig", "in-cluster"] = (
        "kubeconfig" if args.kubeconfig else "in-cluster" if args.in_cluster else "none")
    tls = {} if args.insecure_http else {"tls_cert": str(Path(args.tls_cert).resolve()),
                                         "tls_key": str(Path(args.tls_key).resolve())}
    settings = ServeSettings(policies=[str(Path(p).resolve()) for p in args.policies], pricing=args.pricing,
                             config_file=args.config, cluster=cluster, kubeconfig=args.kubeconfig,
                             ledger=str(Path(args.ledger).resolve()) if args.ledger else None,
                             prometheus=args.prometheus, prometheus_step=args.prometheus_step,
                             usage_max_age=args.usage_max_age,
                             usage_refresh=args.usage_refresh, metrics_host=args.host,
                             metrics_port=args.metrics_port, **tls)
    try:
        config = load_config(settings.config_file)
        loaded = load_policies(settings)
    except DiagnosticError as exc:
        print(str(exc), file=sys.stderr)
        return _fail(f"{count(len(exc.errors), 'error')} in the policies, pricing or config; nothing served")

    import uvicorn

    from policy_engine.webhook import limits
    from policy_engine.webhook.tls import ServingContext

    # TLS, the connection cap, header limits and timeouts live in the protocol factory (webhook/limits.py),
    # not in uvicorn's own ssl_* settings: a connection over the cap must be closed before any TLS work.
    common: dict[str, object] = {
        "host": args.host, "port": args.port, "log_config": uvicorn_log_config(args.log_level),
        "access_log": False, "timeout_graceful_shutdown": args.graceful_timeout,
        "server_header": False, "timeout_keep_alive": config.idle_timeout_seconds,
        "http": "policy_engine.webhook.limits:protocol_factory",
        "proxy_headers": False,  # the API server calls the webhook directly; no forwarded-for headers to trust
    }
    os.environ[SETTINGS_ENV] = settings.model_dump_json()  # what a worker, and the protocol factory, read
    _exit_cleanly_after_drain()
    if args.workers == 1:
        serving = ServingContext(settings.tls_cert, settings.tls_key) if settings.tls_cert and settings.tls_key \
            else None
        limits.configure(limits.limits_of(config), serving)
        uvicorn.run(create_app(settings, loaded=loaded), **common)  # type: ignore[arg-type]
        return EXIT_OK
    made = None  # the workers' shared metrics files: a directory of our own unless one is given, removed at exit
    if not os.environ.get(MULTIPROC_ENV):
        made = os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="policy-engine-metrics-")
    scrapes = None
    if args.metrics_port is not None:  # the workers write their metrics to files; the parent serves them
        from policy_engine.webhook.metrics import Metrics
        from policy_engine.webhook.metrics_server import MetricsServer

        scrapes = MetricsServer(args.host, args.metrics_port, Metrics().exposition).start()
    try:
        uvicorn.run("policy_engine.webhook.app:app_from_env", factory=True, workers=args.workers,
                    **common)  # type: ignore[arg-type]
    finally:
        if scrapes is not None:
            scrapes.stop()
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
    return EXIT_OK
