"""Structured logs: one JSON object per line on stderr, for the webhook, the controller, the cluster-state
cache they share, and uvicorn's own messages.

A request line carries identifiers and the decision (uid, kind, namespace/name, operation, decision,
duration, findings) and never the object itself: admission objects hold secrets and env values.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

LOGGER = "policy_engine.webhook"
CLUSTER_LOGGER = "policy_engine.cluster"  # the cluster-state cache (policy_engine.cluster), under either process
FIELDS = "fields"  # the ``extra`` key whose mapping is merged into the JSON object


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        out: dict[str, Any] = {
            "ts": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, FIELDS, None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def uvicorn_log_config(level: str = "info") -> dict[str, Any]:
    """A ``logging.config`` dict sending the webhook's and uvicorn's records through ``JsonFormatter``."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"json": handler},
        "loggers": {
            LOGGER: {"handlers": ["json"], "level": level.upper(), "propagate": False},
            CLUSTER_LOGGER: {"handlers": ["json"], "level": level.upper(), "propagate": False},
            "uvicorn": {"handlers": ["json"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def lean_records() -> None:
    """Stop ``logging`` gathering what no JSON line of ours shows: the calling frame, thread and process.

    The webhook logs one line per admission; finding the caller walks the stack on every one. These are
    the switches the logging HOWTO lists under "Optimization"; they are process-wide, which suits the
    webhook's process, whose every line goes through ``JsonFormatter``.
    """
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def configure(level: str = "info", names: tuple[str, ...] = (LOGGER, CLUSTER_LOGGER)) -> None:
    """Install the JSON handler on these loggers (the webhook's and the cache's unless told; used by the
    controller and outside ``serve``, e.g. tests)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(JsonFormatter())
            logger.addHandler(handler)
        logger.setLevel(level.upper())
        logger.propagate = False


def log(level: int, message: str, **fields: Any) -> None:
    logging.getLogger(LOGGER).log(level, message, extra={FIELDS: fields})
