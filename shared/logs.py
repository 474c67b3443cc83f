"""Logging for the service: one JSON object per line on stdout (Modal collects and searches them),
each with a UTC timestamp, and our own loggers at INFO even when the platform configured the root
logger first.

A message that is itself a JSON object (`log.info(json.dumps({"event": "request", ...}))`) has its
keys merged into the line; any other message goes under "message". A traceback or a multi-line
error (Replicate's, say) stays inside its JSON string, so a line is always one event.
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
        message = record.getMessage()
        fields = _json_object(message)
        if fields is None:
            line["message"] = message
        else:  # an event's keys sit beside ours (a clash keeps ours: ts, level, logger)
            line.update({k: v for k, v in fields.items() if k not in line})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, default=str)


def _json_object(message: str) -> dict | None:
    if not message.startswith("{"):
        return None
    try:
        value = json.loads(message)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


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
