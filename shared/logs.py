"""Logging for the service: plain lines on stdout (Modal collects and searches them), and our own
loggers at INFO even when the platform configured the root logger first."""

from __future__ import annotations

import logging

OUR_LOGGERS = ("wan.request", "shared", "functions")


def configure_logging() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
    for name in OUR_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is ours to write
