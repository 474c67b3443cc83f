"""The sweep: settles generations that Replicate's webhooks never settled, and refunds them.

Run by the Modal cron, by `wan-api sweep`, and by `wan-api dev` on a timer. Safe to run twice at once:
each rule claims a leased batch (SKIP LOCKED), and every change goes through the same idempotent
state machine as the webhook. One broken generation is counted and skipped, not fatal; Replicate
being unreachable changes nothing, and the next sweep tries again.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

from shared import deliveries, generations, logs, metrics, retention
from shared.replicate_provider import ProviderError
from shared.services import Services
from shared.video_copy import copy_video

log = logging.getLogger(__name__)

BATCH = 100
# A succeeded generation's copy is first tried by the spawned function; the sweep steps in after this.
COPY_GRACE_SECONDS = 120
# The most one sweep spends sending due webhook deliveries (the rest wait for the next sweep).
WEBHOOK_BUDGET_SECONDS = 60
# Every key of the sweep's result and log line, always present (zeros included), in this order,
# then "duration_ms". The README's Deploying section lists the same keys: add a new count here and there.
COUNTS = (
    "examined",               # generations claimed by any rule
    "timed_out",              # past DEADLINE_SECONDS: canceled at Replicate, failed
    "cancel_failed",          # ... whose cancel at Replicate failed (refunded all the same)
    "queued_failed",          # never got a Replicate job within QUEUED_TIMEOUT_SECONDS: failed
    "checked",                # no news for STUCK_AFTER_SECONDS: Replicate asked
    "replicate_unreachable",  # ... and Replicate did not answer (tried again next sweep)
    "provider_lost",          # ... and Replicate answered 404 (it no longer knows the prediction): failed
    "settled_succeeded",      # ... and Replicate's answer ended the generation so
    "settled_failed",
    "settled_canceled",
    "refunded",               # refunds made by this sweep (any rule)
    "video_copied",           # finished videos copied into storage by the sweep
    "video_already_copied",
    "video_not_succeeded",
    "video_failed",           # copy failed; tried again next sweep
    "video_lost",             # Replicate no longer has the output: given up
    "retention_expired",      # finished more than RETENTION_DAYS ago: their stored files removed
    "retention_files_deleted",  # files removed from storage (expired, or of deleted generations)
    "retention_failed",       # files the storage would not remove (tried again next sweep)
    "analytics_days",         # daily analytics rollups (re)computed for the admin console
    "webhooks_delivered",     # users' webhook deliveries that were due (retries, or never sent) and got a 2xx
    "webhooks_retry",         # ... that failed and are tried again later
    "webhooks_failed",        # ... that failed for the last time
    "errors",                 # a generation the sweep could not handle (logged with its traceback)
)
# A day's rollup is final this long after DEADLINE_SECONDS past its end (every generation of it ended).
ANALYTICS_SETTLE_MARGIN_SECONDS = 900
TIMED_OUT = "The generation took too long and was stopped; your credits were refunded."
NEVER_STARTED = "The video provider never started this generation; your credits were refunded."


def sweep(svc: Services, *, batch: int = BATCH) -> dict[str, int]:
    started = time.perf_counter()
    counts: Counter[str] = Counter()
    s = svc.settings
    for gen in _claim(svc, "deadline", s.deadline_seconds, batch):
        _each(counts, gen, lambda g: _time_out(svc, g, counts))
    for gen in _claim(svc, "queued_timeout", s.queued_timeout_seconds, batch):
        _each(counts, gen, lambda g: _fail(svc, g, NEVER_STARTED, "queued_timeout", counts, "queued_failed"))
    for gen in _claim(svc, "stuck", s.stuck_after_seconds, batch):
        _each(counts, gen, lambda g: _settle(svc, g, counts))
    for gen in _claim(svc, "video_copy", COPY_GRACE_SECONDS, batch):
        _each(counts, gen, lambda g: counts.update([f"video_{copy_video(svc, g['generation_id'])}"]))
    _send_webhooks(svc, counts)
    # Stored files past RETENTION_DAYS, and those of deleted generations whose removal failed.
    retention.expire(svc, counts, batch=batch)
    try:  # the figures GET /metrics serves: computed here, so that a scrape stays cheap
        metrics.refresh_snapshot(svc)
    except Exception:  # noqa: BLE001 - the sweep's money work is done; the next sweep tries again
        counts["errors"] += 1
        log.exception("sweep could not refresh the metrics snapshot")
    try:  # the console's daily analytics rollups (migration 0017): the days not yet final
        counts["analytics_days"] += svc.backend.call(
            "refresh_analytics", p_final_after_seconds=s.deadline_seconds + ANALYTICS_SETTLE_MARGIN_SECONDS)["refreshed"]
    except Exception:  # noqa: BLE001 - as above
        counts["errors"] += 1
        log.exception("sweep could not refresh the analytics rollups")
    result = {key: counts.pop(key, 0) for key in COUNTS}
    if counts:  # a count nobody listed: a bug, but the sweep's work is done and the line stays fixed
        log.error("sweep counts not in COUNTS: %s", dict(counts))
    result["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    logs.event(log, "sweep", **result)
    return result


def _send_webhooks(svc: Services, counts: Counter) -> None:
    """Users' webhook deliveries that are due: retries, and any a crash kept from being sent."""
    try:
        sent = deliveries.send_due(svc, budget_seconds=WEBHOOK_BUDGET_SECONDS)
    except Exception:  # noqa: BLE001 - the money work is done; the next sweep tries again
        counts["errors"] += 1
        log.exception("sweep could not send webhook deliveries")
        return
    for outcome in ("delivered", "retry", "failed"):
        counts[f"webhooks_{outcome}"] += sent.get(outcome, 0)


def _claim(svc: Services, rule: str, age_seconds: int, batch: int) -> list[dict]:
    return svc.backend.call("claim_for_sweep", p_rule=rule, p_age_seconds=age_seconds, p_batch=batch)


def _each(counts: Counter, gen: dict, action) -> None:
    counts["examined"] += 1
    try:
        action(gen)
    except Exception:  # noqa: BLE001 - one broken generation must not stop the others
        counts["errors"] += 1
        log.exception("sweep failed on generation %s", gen["generation_id"])


def _fail(svc: Services, gen: dict, message: str, code: str, counts: Counter, counter: str) -> None:
    ended = svc.backend.call("fail_generation", p_gen_id=gen["generation_id"], p_error=message, p_error_code=code,
                             p_settled_by="sweep")
    if ended["status"] == "failed" and ended["error_code"] == code:
        counts[counter] += 1
        counts["refunded"] += int(ended["refunded"])


def _time_out(svc: Services, gen: dict, counts: Counter) -> None:
    """Past the deadline: cancel at Replicate, then fail and refund. If the cancel cannot reach
    Replicate the refund still happens (Replicate stops runs after 30 minutes on its own, and a late
    success cannot undo a terminal state)."""
    if gen["replicate_id"]:
        try:
            svc.provider.cancel(gen["replicate_id"])
        except ProviderError as exc:
            counts["cancel_failed"] += 1
            log.warning("deadline cancel of %s failed: %s", gen["generation_id"], exc)
    _fail(svc, gen, TIMED_OUT, "timeout", counts, "timed_out")  # error_code as contract section 7 names it


def settle_one(svc: Services, gen: dict) -> Counter:
    """The `stuck` rule for one generation now (the console's "settle now"): its counts."""
    counts: Counter[str] = Counter()
    _settle(svc, gen, counts)
    return counts


def _settle(svc: Services, gen: dict, counts: Counter) -> None:
    """No news for a while: ask Replicate, and apply its answer as the webhook would have."""
    try:
        prediction = svc.provider.get(gen["replicate_id"])
    except ProviderError as exc:
        if exc.status == 404:  # a prediction we created that Replicate no longer knows: final
            ended = generations.fail_lost(svc, gen["generation_id"], gen["replicate_id"], settled_by="sweep")
            if ended["status"] == "failed" and ended["error_code"] == "provider_lost":
                counts["provider_lost"] += 1
                counts["refunded"] += int(ended["refunded"])
            return
        counts["replicate_unreachable"] += 1
        log.warning("sweep could not ask Replicate about %s: %s", gen["generation_id"], exc)
        return
    result = generations.apply_prediction(svc, gen["generation_id"], prediction, source="sweep")
    counts["checked"] += 1
    if result["outcome"] == "applied" and prediction.finished:
        counts[f"settled_{result['generation']['status']}"] += 1
        counts["refunded"] += int(result["generation"]["refunded"])
