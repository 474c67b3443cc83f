"""Every log line is one JSON object with a UTC timestamp: events, plain messages, multi-line
errors (Replicate's) and tracebacks alike."""

from __future__ import annotations

import io
import json
import logging

from shared import logs
from shared.logs import json_handler


def lines_logged(emit) -> list[dict]:
    stream = io.StringIO()
    logger = logging.getLogger("shared.test_logs")
    logger.addHandler(handler := json_handler(stream))
    logger.setLevel(logging.INFO)
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    return [json.loads(line) for line in text.splitlines()]


def test_an_event_keeps_its_keys_and_gains_a_timestamp():
    [line] = lines_logged(lambda log: logs.event(log, "sweep", examined=0, errors=0))
    assert line["event"] == "sweep" and line["examined"] == 0 and line["errors"] == 0
    assert line["level"] == "info" and line["logger"] == "shared.test_logs"
    assert line["ts"].endswith("Z") and line["ts"][10] == "T"


def test_a_multi_line_replicate_error_and_its_traceback_stay_on_one_line_each():
    replicate_error = "ReplicateError Details:\ntitle: Invalid input\nstatus: 422\ndetail: aspect_ratio"

    def emit(log):
        log.warning("replicate create failed for %s: %s", "gen-1", replicate_error)
        try:
            raise RuntimeError(replicate_error)
        except RuntimeError:
            log.exception("could not start generation %s", "gen-1")

    warning, failure = lines_logged(emit)  # two lines, however many newlines were logged
    assert warning["message"] == f"replicate create failed for gen-1: {replicate_error}"
    assert failure["message"] == "could not start generation gen-1" and failure["level"] == "error"
    assert failure["exception"].startswith("Traceback") and "RuntimeError: ReplicateError" in failure["exception"]


def test_an_event_reaches_a_handler_that_is_not_ours_as_json(caplog):
    """On a platform that configured logging before us, its handlers print the message: the event's
    fields must still be there."""
    logger = logging.getLogger("shared.test_logs")
    with caplog.at_level(logging.INFO, logger="shared.test_logs"):
        logs.event(logger, "request", status=200, path="/status")
    assert json.loads(caplog.records[-1].getMessage()) == {"event": "request", "status": 200, "path": "/status"}
