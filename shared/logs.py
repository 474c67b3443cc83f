"""Logging for the service: one JSON object per line on stdout (Modal collects and searches them),
each with a UTC timestamp, and our own loggers at INFO even when the platform configured the root
logger first.

An event (`logs.event(log, "request", status=200, ...)`) has its fields as the line's own keys (a
handler that is not ours sees them as a JSON message); any other message goes under "message". A traceback or a multi-line error (Replicate's, say) stays inside
its JSON string, so a line is always one event.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

OUR_LOGGERS = ("wan.request", "shared", "functions", "wan_local")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if isinstance(record.msg, _Event):  # its keys sit beside ours (a clash keeps ours: ts, level, logger)
            line.update({k: v for k, v in record.msg.items() if k not in line})
        else:
            line["message"] = record.getMessage()
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, default=str)


class _Event(dict):
    """An event's fields. Our formatter writes them as the line's keys (no JSON string to parse back:
    there is one on every request); any other handler (a platform's, pytest's) gets them as JSON."""

    def __str__(self) -> str:
        return json.dumps(self, default=str)


def event(logger: logging.Logger, name: str, level: int = logging.INFO, /, **fields) -> None:
    """Log the event `name` with its fields."""
    if logger.isEnabledFor(level):
        logger.log(level, _Event(event=name, **fields))


def json_handler(stream=None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    return handler


def configure_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(json_handler())
        root.setLevel(logging.WARNING)
    for name in OUR_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is ours to write
