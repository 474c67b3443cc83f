"""The soak (bench/soak.py, `scripts/soak`) in CI: a short run at a lower rate, with its faults and both
restarts, must end with the books right and every generation settled. The 10-minute run at 600
creates/min is by hand (docs/benchmarks.md)."""

from __future__ import annotations

import pytest

from bench import soak


@pytest.mark.timeout(900)
def test_a_short_soak_with_faults_and_restarts_ends_with_the_money_right():
    report = soak.Soak(minutes=0.5, rate=120, users=8).run()
    assert report["passed"], soak.text(report)
    counts = report["counts"]
    assert counts["create:202"] > 0 and counts["status:200"] > 0, counts
    assert len(report["events"]) == 2 and "Postgres restarted" in report["events"][0], report["events"]
    assert "wan-api dev restarted" in report["events"][1], report["events"]
    assert report["generations"].get("succeeded", 0) > 0, report["generations"]
    assert report["latency_ms"]["create"] and report["samples"], report
