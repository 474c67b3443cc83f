"""The README's deploy guide, tried where a test can reach it: the secret's dotenv block holds real
settings and every required key, the Prometheus config is valid with the shipped alert rules, the
Modal URL table lists every account route, and the margin table is the doctor's own."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from shared.settings import Settings
from wan_local import doctor

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def block(language: str, containing: str) -> str:
    for match in re.finditer(rf"```{language}\n(.*?)```", README, re.S):
        if containing in match[1]:
            return match[1]
    raise AssertionError(f"no ```{language} block containing {containing!r} in the README")


def test_the_secrets_dotenv_block_is_real_settings_with_every_required_key():
    keys = [line.split("=", 1)[0] for line in block("dotenv", "WEBHOOK_URL=").splitlines() if "=" in line]
    assert set(keys) <= {name.upper() for name in Settings.model_fields}
    assert set(doctor.required_keys()) | {"METRICS_TOKEN", "ALLOWED_ORIGINS"} <= set(keys)
    assert "modal secret create wan-secrets --from-dotenv wan-secrets.env --force" in README
    assert "*.env" in (ROOT / ".gitignore").read_text().split()


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (apt-get install prometheus)")
def test_the_prometheus_config_is_valid_with_the_alert_rules(tmp_path):
    config = block("yaml", "scrape_configs:")
    token = tmp_path / "wan-metrics-token"
    token.write_text("a-token\n")
    config = config.replace("/etc/prometheus/wan-metrics-token", str(token))
    (tmp_path / "prometheus.yml").write_text(config)
    shutil.copy(ROOT / "docs" / "alerts.yml", tmp_path / "alerts.yml")
    done = subprocess.run(["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "authorization:" in config and "type: Bearer" in config


def test_the_modal_url_table_lists_every_account_route():
    from tests.test_modal_app import CONTRACT

    row = next(line for line in README.splitlines() if line.startswith("| `account` | `https://"))
    for path in CONTRACT["account"]:
        shown = path.replace("{generation_id}", "{id}").replace("{key_id}", "{id}")
        assert f"`{shown}`" in row or f".modal.run{shown}`" in row, path


def test_the_readme_margin_table_is_the_doctors():
    assert doctor.margin_table() in README, "README's margin table is stale: paste wan_local.doctor.margin_table()"


@pytest.mark.parametrize("item", ["METRICS_TOKEN=", "Spend limit", "Point-in-Time", "modal environment create staging",
                                  "Redirect URLs", "JWT Keys", "wan-api doctor", "scripts/lock"])
def test_the_guide_has_each_item(item):
    deploying = README[README.index("## Deploying"):]
    assert item in deploying
