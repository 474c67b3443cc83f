"""The operator's numbers, computed by the database (`operator_metrics()`: they add up across every
Modal container): GET /metrics in Prometheus' text format, and `wan-api stats` against the seed's
targets.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.services import Services

STATUSES = ("queued", "processing", "succeeded", "failed", "canceled")
PURCHASE_STATUSES = ("open", "paid", "credited", "expired", "failed", "reversed")
SETTLED_BY = ("webhook", "status_poll", "sweep", "cancel", "create")
# Settled by something that is no webhook's job: the user's cancel, or a create Replicate refused.
NOT_FOR_WEBHOOKS = ("cancel", "create")

# The seed's four metrics and their targets.
TARGETS = {"success_rate": 0.95, "avg_completion_seconds": 300.0, "webhook_delivery_rate": 0.99,
           "credit_accuracy": 1.0}


# The sweep refreshes the snapshot GET /metrics reads when it is older than this.
SNAPSHOT_SECONDS = 60


def collect(svc: Services, since: datetime | None = None) -> dict[str, Any]:
    """Live figures (whole-table passes: `wan-api stats`, tests)."""
    return svc.backend.call("operator_metrics", p_since=since)


def collect_for_scrape(svc: Services) -> dict[str, Any]:
    """GET /metrics: the newest snapshot the sweep took (two indexed statements, whatever the size of
    the tables); only a database that never had one pays for taking it here, once."""
    data = svc.backend.call("metrics_for_scrape")
    if data is None:
        svc.backend.call("take_metrics_snapshot", p_min_age_seconds=0)
        data = svc.backend.call("metrics_for_scrape")
    # The content policy's figures, live (indexed, the flagged list bounded): migrations/0018.
    return data | {"moderation": svc.backend.call("moderation_metrics")}


def refresh_snapshot(svc: Services) -> bool:
    """The sweep's part: a new snapshot when the newest is older than SNAPSHOT_SECONDS."""
    return svc.backend.call("take_metrics_snapshot", p_min_age_seconds=SNAPSHOT_SECONDS)["taken"]


# --- Prometheus ------------------------------------------------------------------------------------

def prometheus(data: dict[str, Any]) -> str:
    """The text exposition format (version 0.0.4): HELP, TYPE, then one sample per line."""
    out: list[str] = []

    def family(name: str, kind: str, help_text: str, samples: list[tuple[str, dict, float]]) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        for suffix, labels, value in samples:
            out.append(f"{name}{suffix}{_labels(labels)} {_number(value)}")

    groups = data["groups"]
    mr = [({"model": g["model"], "resolution": g["resolution"]}, g) for g in groups]
    # A gauge: a generation moves from queued/processing to its end, so a status's count can fall.
    family("wan_generations", "gauge", "Generations created (all time), by their current status.",
           [("", {**k, "status": s}, g[s]) for k, g in mr for s in STATUSES])
    family("wan_generations_settled_total", "counter", "Finished generations, by what settled them.",
           [("", {**k, "settled_by": s}, g[f"settled_{s}"]) for k, g in mr for s in SETTLED_BY])
    family("wan_provider_refusals_total", "counter", "Creates Replicate refused or failed (refunded at once).",
           [("", k, g["provider_refusals"]) for k, g in mr])
    family("wan_videos_lost_total", "counter", "Successes whose video could not be copied before Replicate deleted it.",
           [("", k, g["videos_lost"]) for k, g in mr])
    family("wan_videos_expired_total", "counter", "Stored videos deleted by retention or by their user.",
           [("", k, g["videos_expired"]) for k, g in mr])
    refunds = [({"model": r["model"], "resolution": r["resolution"]}, r) for r in data["refunds"]]
    family("wan_refunds_total", "counter", "Refunds of failed or canceled generations.",
           [("", k, r["refunds"]) for k, r in refunds])
    family("wan_refunded_credits_total", "counter", "Credits given back by those refunds.",
           [("", k, r["refunded_credits"]) for k, r in refunds])
    family("wan_goodwill_refunds_total", "counter", "Goodwill refunds of lost videos (wan-api refund).",
           [("", k, r["goodwill_refunds"]) for k, r in refunds])
    bounds = data["completion_buckets"]
    hist = []
    for k, g in mr:
        hist += [("_bucket", {**k, "le": str(b)}, n) for b, n in zip(bounds, g["completion_buckets"])]
        hist += [("_bucket", {**k, "le": "+Inf"}, g["succeeded"]), ("_sum", k, g["completion_seconds_sum"]),
                 ("_count", k, g["succeeded"])]
    family("wan_generation_completion_seconds", "histogram",
           "Seconds from create to finish of succeeded generations.", hist)
    family("wan_generation_queue_seconds", "summary", "Seconds from create until Replicate started the job.",
           [s for k, g in mr for s in (("_sum", k, g["queue_seconds_sum"]), ("_count", k, g["queue_count"]))])
    family("wan_webhook_delivery_ratio", "gauge",
           "Finished generations settled by their webhook / those a webhook could settle (not canceled "
           "by their user, not refused at create); absent until one finished.",
           [("", {}, rate) for rate in [webhook_delivery_rate(groups)] if rate is not None])
    family("wan_ledger_discrepancies", "gauge", "Broken money rules (ledger_discrepancies()); must be 0.",
           [("", {}, data["ledger_discrepancies"])])
    family("wan_active_generations", "gauge", "Generations queued or processing now.",
           [("", {"model": a["model"], "resolution": a["resolution"]}, a["active"]) for a in data["active"]])
    if "snapshot_age_seconds" in data:
        family("wan_metrics_snapshot_age_seconds", "gauge",
               "Age of the figures above (the sweep refreshes them); wan_active_generations is live.",
               [("", {}, round(data["snapshot_age_seconds"], 3))])
        family("wan_metrics_snapshot_duration_seconds", "gauge", "How long the sweep took to compute them.",
               [("", {}, data["snapshot_took_ms"] / 1000)])
    packs = [({"pack_id": b["pack_id"], "currency": b["currency"]}, b) for b in data["purchases"]]
    family("wan_purchases", "gauge", "Checkout sessions (all time), by their purchase's current status.",
           [("", {**k, "status": st}, b[st]) for k, b in packs for st in PURCHASE_STATUSES])
    family("wan_purchased_credits_total", "counter", "Credits granted by paid purchases.",
           [("", k, b["credits_sold"]) for k, b in packs])
    family("wan_purchase_amount_total", "counter", "What those purchases were paid, in the currency's minor unit.",
           [("", k, b["amount_sold"]) for k, b in packs])
    family("wan_purchase_reversals_total", "counter", "Reversal ledger rows (refunds, disputes, disputes won).",
           [("", k, b["reversals"]) for k, b in packs])
    family("wan_purchase_credits_taken_back", "gauge",
           "Credits taken back by refunds and disputes, net of what won disputes gave back.",
           [("", k, b["credits_taken_back"]) for k, b in packs])
    family("wan_purchase_unrecovered_credits", "gauge",
           "Credits a refund or dispute should have taken back but the user had already spent.",
           [("", k, b["unrecovered_credits"]) for k, b in packs])
    if "moderation" in data:
        _moderation(data["moderation"], family)
    return "\n".join(out) + "\n"


def _moderation(m: dict[str, Any], family) -> None:
    """The content policy (issue 27): refusals by field and category, users paused now, and the users
    with the most refusals in the last 24 h (at most 20, so the label set stays bounded)."""
    family("wan_content_refusals_total", "counter", "Creates the content policy refused (never charged).",
           [("", {"field": r["field"], "category": r["category"], "source": r["source"]}, r["count"])
            for r in m["refusals"]])
    family("wan_content_refusals_24h", "gauge", "Content-policy refusals in the last 24 hours.",
           [("", {}, m["refusals_24h"])])
    family("wan_moderation_blocked_users", "gauge", "Users whose creates are paused after repeated refusals.",
           [("", {}, m["blocked_users"])])
    family("wan_moderation_flagged_user_refusals", "gauge",
           "Refusals in the last 24 h of the (at most 20) users refused most; blocked=true while paused.",
           [("", {"user_id": f["user_id"], "blocked": "true" if f["blocked_until"] else "false"}, f["refusals_24h"])
            for f in m["flagged"]])


def _labels(labels: dict) -> str:
    if not labels:
        return ""
    escaped = (f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34)).replace(chr(10), "")}"'
               for k, v in labels.items())
    return "{" + ",".join(escaped) + "}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


# --- the seed's four metrics ------------------------------------------------------------------------

def webhook_delivery_rate(groups: list[dict]) -> float | None:
    """Finished generations settled by their webhook ÷ finished ones a webhook could have settled."""
    webhook = sum(g["settled_webhook"] for g in groups)
    could = sum(g[f"settled_{s}"] for g in groups for s in SETTLED_BY if s not in NOT_FOR_WEBHOOKS)
    return webhook / could if could else None


def seed_metrics(data: dict[str, Any]) -> dict[str, Any]:
    """Success rate, average completion time, webhook delivery rate and credit accuracy, each with its
    target and whether it is met (None: nothing to measure in the window)."""
    groups = data["groups"]
    succeeded = sum(g["succeeded"] for g in groups)
    # A user's cancel is neither a success nor a failure of the service.
    ended = succeeded + sum(g["failed"] for g in groups) + sum(
        g["canceled"] - g["settled_cancel"] for g in groups)
    charged = sum(g[s] for g in groups for s in STATUSES)
    problems = data["ledger_discrepancies"]
    values = {
        "success_rate": succeeded / ended if ended else None,
        "avg_completion_seconds": sum(g["completion_seconds_sum"] for g in groups) / succeeded if succeeded else None,
        "webhook_delivery_rate": webhook_delivery_rate(groups),
        # 100 % while ledger_discrepancies() is empty; otherwise the share of generations unaffected.
        "credit_accuracy": 1.0 if problems == 0 else max(0.0, 1 - problems / max(charged, 1)),
    }
    rows = {}
    for name, value in values.items():
        target = TARGETS[name]
        met = None if value is None else (value <= target if name == "avg_completion_seconds" else value >= target)
        rows[name] = {"value": value, "target": target, "met": met}
    return {"metrics": rows, "generations": charged, "ledger_discrepancies": problems,
            "top_failures": data["top_failures"]}


def stats_table(stats: dict[str, Any], window: str) -> str:
    """`wan-api stats` for people: one line per metric, misses marked."""
    labels = {"success_rate": "generation success rate", "avg_completion_seconds": "average completion time",
              "webhook_delivery_rate": "webhook delivery rate", "credit_accuracy": "credit deduction accuracy"}
    lines = [f"Wan Video API, last {window}: {stats['generations']} generations", "",
             f"  {'metric':<28} {'value':>10}  {'target':<10} status"]
    for name, row in stats["metrics"].items():
        value, target = row["value"], row["target"]
        if name == "avg_completion_seconds":
            shown, goal = ("-" if value is None else f"{value / 60:.1f} min"), f"< {target / 60:.0f} min"
        else:
            shown = "-" if value is None else f"{value * 100:.1f} %"
            goal = "100 %" if target == 1.0 else f"> {target * 100:.0f} %"
        status = {True: "ok", False: "MISSED", None: "no data"}[row["met"]]
        lines.append(f"  {labels[name]:<28} {shown:>10}  {goal:<10} {status}")
    lines += ["", "top failure reasons:"]
    lines += [f"  {f['count']:>6}  {f['error_code']:<22} {f['example'] or ''}" for f in stats["top_failures"]] or ["  none"]
    return "\n".join(lines)
