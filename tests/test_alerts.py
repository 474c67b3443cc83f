"""docs/alerts.yml: valid Prometheus rules (`promtool check rules`) that fire when each of the seed's
four targets is missed or the ledger breaks, and stay quiet otherwise (`promtool test rules`).
Needs Debian's `prometheus` package (promtool); skipped without it, except in CI (.ci/run installs it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

RULES = Path(__file__).resolve().parent.parent / "docs" / "alerts.yml"
PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None and os.environ.get("CI") != "true",
                                reason="promtool not installed (apt-get install prometheus)")

# Series over time, promtool's notation: "a+bxN" = a, a+b, ... N more samples, one per interval (1m).
UNIT_TESTS = f"""
rule_files: [RULES_WITHOUT_ANNOTATIONS]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: wan_ledger_discrepancies
        values: 0x10 2x10
      - series: wan_metrics_snapshot_age_seconds
        values: 60x20
    alert_rule_test:
      - {{eval_time: 5m, alertname: WanLedgerDiscrepancy, exp_alerts: []}}
      - eval_time: 15m
        alertname: WanLedgerDiscrepancy
        exp_alerts: [{{exp_labels: {{severity: page}}}}]
  - interval: 1m
    input_series:
      # 60 an hour succeed and 10 fail (86 %): below 95 %.
      - series: 'wan_generations{{model="t2v-14B",resolution="480p",status="succeeded"}}'
        values: 0+1x120
      - series: 'wan_generations{{model="t2v-14B",resolution="480p",status="failed"}}'
        values: 0+0.1667x120
      - series: wan_ledger_discrepancies
        values: 0x120
    alert_rule_test:
      - eval_time: 90m
        alertname: WanSuccessRateLow
        exp_alerts: [{{exp_labels: {{severity: ticket}}}}]
  - interval: 1m
    input_series:
      # 60 an hour succeed, 1 fails (98 %): quiet.
      - series: 'wan_generations{{model="t2v-14B",resolution="480p",status="succeeded"}}'
        values: 0+1x120
      - series: 'wan_generations{{model="t2v-14B",resolution="480p",status="failed"}}'
        values: 0+0.0167x120
    alert_rule_test:
      - {{eval_time: 90m, alertname: WanSuccessRateLow, exp_alerts: []}}
  - interval: 1m
    input_series:
      # One success a minute taking 400 s on average: over 5 minutes.
      - series: 'wan_generation_completion_seconds_sum{{model="t2v-14B",resolution="480p"}}'
        values: 0+400x120
      - series: 'wan_generation_completion_seconds_count{{model="t2v-14B",resolution="480p"}}'
        values: 0+1x120
    alert_rule_test:
      - eval_time: 90m
        alertname: WanCompletionSlow
        exp_alerts: [{{exp_labels: {{severity: ticket}}}}]
  - interval: 1m
    input_series:
      - series: 'wan_generation_completion_seconds_sum{{model="t2v-14B",resolution="480p"}}'
        values: 0+90x120
      - series: 'wan_generation_completion_seconds_count{{model="t2v-14B",resolution="480p"}}'
        values: 0+1x120
    alert_rule_test:
      - {{eval_time: 90m, alertname: WanCompletionSlow, exp_alerts: []}}
  - interval: 1m
    input_series:
      - series: wan_webhook_delivery_ratio
        values: 0.999x30 0.95x60
    alert_rule_test:
      - {{eval_time: 25m, alertname: WanWebhookDeliveryLow, exp_alerts: []}}
      - eval_time: 80m
        alertname: WanWebhookDeliveryLow
        exp_alerts: [{{exp_labels: {{severity: ticket}}}}]
  - interval: 1m
    input_series:
      - series: wan_ledger_discrepancies
        values: 0x60
      - series: wan_metrics_snapshot_age_seconds
        values: 60+60x60
    alert_rule_test:
      - {{eval_time: 20m, alertname: WanMetricsStale, exp_alerts: []}}
      - eval_time: 60m
        alertname: WanMetricsStale
        exp_alerts: [{{exp_labels: {{severity: ticket}}}}]
"""


def promtool(*args: str) -> subprocess.CompletedProcess:
    assert PROMTOOL, "promtool is missing: apt-get install prometheus (.ci/run does)"
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)


def test_the_rules_are_valid():
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 5 rules found" in done.stdout


def test_each_alert_fires_when_its_target_is_missed_and_not_otherwise(tmp_path):
    # promtool compares annotations too; the expressions are what is tested here (check rules above
    # validates the annotations' templates), so the rules are tested without them.
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    bare = tmp_path / "alerts.yml"
    bare.write_text(yaml.safe_dump(rules))
    tests = tmp_path / "alerts_test.yml"
    tests.write_text(UNIT_TESTS.replace("RULES_WITHOUT_ANNOTATIONS", str(bare)))
    done = promtool("test", "rules", str(tests))
    assert done.returncode == 0, done.stdout + done.stderr
