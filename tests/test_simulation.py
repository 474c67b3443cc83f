"""The simulator (tests/simulation.py, `scripts/simulate`) in CI: a short run of random histories with
every step kind and every fault, and a rule broken on purpose that it must catch, shrink and replay.
The long runs (10,000 histories) are by hand: README "Random histories at scale"."""

from __future__ import annotations

import pytest

from tests import simulation

SEED = 29_000  # fixed: CI runs the same histories every time (scripts/simulate draws a new seed)
HISTORIES = 16

# A cancel that forgets its refund: refund_credits refunds only failed generations.
FORGETS_CANCELED = """
create or replace function public.refund_credits(p_gen_id uuid) returns text
language plpgsql security definer set search_path = '' as $$
declare
  v_gen public.generations;
  v_charged integer;
begin
  select * into v_gen from public.generations where id = p_gen_id for update;
  if v_gen.status <> 'failed' then
    return 'not_finished';
  end if;
  select -amount into v_charged from public.credit_transactions where generation_id = p_gen_id and type = 'deduction';
  if v_charged is null or exists (select from public.credit_transactions
                                  where generation_id = p_gen_id and type = 'refund') then
    return 'already_refunded';
  end if;
  perform public._post_ledger_entry(v_gen.user_id, v_charged, 'refund', p_gen_id, 'refund');
  return 'refunded';
end
$$;
"""


@pytest.mark.timeout(600)
def test_random_histories_with_every_step_kind_and_fault_keep_the_money_rules():
    planned = [step for n in range(HISTORIES) for step in simulation.plan(SEED + n)]
    assert {s.kind for s in planned} == set(simulation._NAMES)  # every step kind is in this run
    summary = simulation.simulate(HISTORIES, SEED, workers=2)
    assert summary["failure"] is None, simulation.report(summary)
    assert summary["histories"] == HISTORIES and summary["steps"] == HISTORIES * simulation.STEPS
    injected = set(summary["faults"])
    assert set(simulation.FAULTS) | {"crash_before", "crash_after", "kill_between_steps"} <= injected, injected
    counts = summary["counts"]
    # The paths that move money were taken, not only refused.
    for answered in ("create:202", "retry:202", "webhook:200", "stripe_webhook:200", "checkout:201", "admin:200",
                     "cancel:200", "create:503", "create:422", "forged:401"):
        assert counts[answered] > 0, (answered, counts)


@pytest.mark.timeout(600)
def test_a_broken_rule_is_caught_shrunk_and_replayed_from_its_seed():
    first = simulation.simulate(40, SEED, workers=1, sabotage=FORGETS_CANCELED, shrink_attempts=150)
    failure = first["failure"]
    assert failure is not None and "missing_refund" in failure["message"], simulation.report(first)
    assert "missing_refund" in failure["shrunk_failure"], failure
    assert 1 <= len(failure["shrunk"]) < simulation.STEPS, failure["shrunk"]
    assert f"scripts/simulate --seed {failure['seed']} --histories 1" in simulation.report(first)
    # The seed alone replays it: the same steps, failing at the same step with the same discrepancy.
    again = simulation.simulate(1, failure["seed"], workers=1, sabotage=FORGETS_CANCELED, shrink_attempts=0)
    at = failure["message"].split(":")[0]  # "step N kind(args)"
    assert again["failure"]["message"].split(":")[0] == at and "missing_refund" in again["failure"]["message"]
