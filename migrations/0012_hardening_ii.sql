-- Issue 20 (Hardening II): refunds that fail, the dispute statuses of the current Stripe API, and
-- API keys checked with a keyed fast hash.
--
-- Refunds: each refund keeps its last known status. A refund that fails or is canceled after it was
-- made (charge.refund.updated / refund.failed / refund.updated) no longer counts: what it took back is
-- given back by _settle_reversals, which already gives back at most what was taken (unrecovered credits
-- are forgiven first, they were never taken). failed and canceled are final (Stripe never revives a
-- failed refund; a new attempt is a new refund with its own id), so a late or repeated pending or
-- succeeded event for it changes nothing.
--
-- Disputes: status moves only forward, open -> lost -> won (rank below): a dispute lost and then won
-- on appeal gives back, and a late `created` or `lost` event never takes back again after a win.
-- shared/purchases.py maps Stripe's statuses (prevented, warning_closed, the appeal states...) to these.
--
-- Redefined here (minimal, additive): _settle_reversals (refunded = the larger of the running total
-- minus failed refunds, and the sum of live refunds by id) and reverse_purchase (refund statuses;
-- dispute rank instead of "open only").

alter table public.purchase_refunds
  add column status text not null default 'succeeded'
    check (status in ('pending', 'requires_action', 'succeeded', 'failed', 'canceled'));

-- Internal: a dispute status' rank; it only ever rises.
create function public._dispute_rank(p_status text) returns integer
language sql immutable security definer set search_path = '' as $$
  select case p_status when 'open' then 0 when 'lost' then 1 when 'won' then 2 end
$$;

-- _settle_reversals, as in 0008 but for which refunds count: a failed or canceled refund takes nothing.
-- The payment's largest running amount_refunded may have included it, so the failed ones are taken off
-- it; the refunds known by id are summed without them. The larger of the two readings is what was
-- refunded (a running total alone cannot tell which refunds it held).
create or replace function public._settle_reversals(p_session_id text) returns integer
language plpgsql security definer set search_path = '' as $$
declare
  v public.purchases;
  v_refunded integer;
  v_disputed integer;
  v_owed integer;
  v_taken integer;
  v_delta integer;
  v_balance integer;
  v_take integer;
  v_forgive integer;
begin
  select * into v from public.purchases where session_id = p_session_id for update;
  if not exists (select from public.credit_transactions
                 where purchase_session_id = p_session_id and type = 'purchase') then
    return 0;  -- never credited: nothing to take back
  end if;
  v_refunded := greatest(0,
    coalesce((select amount_refunded from public.payment_refunds where payment_intent = v.payment_intent), 0)
      - coalesce((select sum(amount) from public.purchase_refunds
                  where payment_intent = v.payment_intent and status in ('failed', 'canceled')), 0),
    coalesce((select sum(amount) from public.purchase_refunds
              where payment_intent = v.payment_intent and status not in ('failed', 'canceled')), 0));
  v_disputed := coalesce((select sum(amount) from public.purchase_disputes
                          where payment_intent = v.payment_intent and status in ('open', 'lost')), 0);
  -- the share of the pack's credits, rounded down per part: a cent refunded never costs a whole pack
  v_owed := least(v.credits, (v.credits::bigint * least(v_refunded, v.amount) / v.amount)::integer
                             + (v.credits::bigint * least(v_disputed, v.amount) / v.amount)::integer);
  v_taken := -coalesce((select sum(amount) from public.credit_transactions
                        where purchase_session_id = p_session_id and type = 'reversal'), 0);
  v_delta := v_owed - (v_taken + v.unrecovered_credits);
  if v_delta > 0 then
    select credits into v_balance from public.profiles where id = v.user_id for update;
    v_take := least(v_delta, v_balance);
    if v_take > 0 then
      perform public._post_purchase_entry(v.user_id, -v_take, 'reversal', p_session_id,
                                          format('%s credits taken back (%s)', v_take, v.pack_id));
    end if;
    update public.purchases set unrecovered_credits = unrecovered_credits + (v_delta - v_take)
      where session_id = p_session_id;
    v_delta := -v_take;
  elsif v_delta < 0 then
    v_forgive := least(-v_delta, v.unrecovered_credits);
    update public.purchases set unrecovered_credits = unrecovered_credits - v_forgive
      where session_id = p_session_id;
    v_delta := -v_delta - v_forgive;
    if v_delta > 0 then
      perform public._post_purchase_entry(v.user_id, v_delta, 'reversal', p_session_id,
                                          format('%s credits given back (%s)', v_delta, v.pack_id));
    end if;
  end if;
  update public.purchases set status = case when v_owed > 0 then 'reversed' else 'credited' end,
                              updated_at = now()
    where session_id = p_session_id;
  return v_delta;
end
$$;

-- reverse_purchase, as in 0008 with two changes: p_refunds items may carry "status" (default
-- succeeded; failed and canceled are final), and a dispute's status rises by rank (open -> lost -> won)
-- instead of changing only while open.
create or replace function public.reverse_purchase(
  p_event_id text, p_event_type text, p_payment_intent text,
  p_refunded_amount integer default null, p_refunds jsonb default null,
  p_dispute_id text default null, p_dispute_amount integer default null, p_dispute_status text default null
) returns text
language plpgsql security definer set search_path = '' as $$
declare
  v_session text;
begin
  if p_payment_intent is null then
    return case when public._note_stripe_event(p_event_id, p_event_type, 'unknown_payment', null)
                then 'unknown_payment' else 'duplicate_event' end;
  end if;
  perform public._lock_payment(p_payment_intent);  -- before the purchase row, as fulfil_purchase
  select session_id into v_session from public.purchases where payment_intent = p_payment_intent for update;
  if not public._note_stripe_event(p_event_id, p_event_type,
                                   case when v_session is null then 'recorded' else 'settled' end, v_session) then
    return 'duplicate_event';
  end if;

  if p_refunded_amount is not null then
    insert into public.payment_refunds (payment_intent, amount_refunded)
      values (p_payment_intent, p_refunded_amount)
      on conflict (payment_intent) do update
        set amount_refunded = greatest(public.payment_refunds.amount_refunded, excluded.amount_refunded),
            updated_at = now();
  end if;
  insert into public.purchase_refunds (refund_id, payment_intent, amount, status)
    select r->>'id', p_payment_intent, (r->>'amount')::integer, coalesce(r->>'status', 'succeeded')
    from jsonb_array_elements(coalesce(p_refunds, '[]'::jsonb)) r
    where (r->>'amount')::integer > 0
    on conflict (refund_id) do update
      set status = excluded.status
      where public.purchase_refunds.status not in ('failed', 'canceled');  -- final
  if p_dispute_id is not null then
    if p_dispute_status not in ('open', 'won', 'lost') then
      raise exception 'dispute status must be open, won or lost, not %', p_dispute_status using errcode = '22023';
    end if;
    insert into public.purchase_disputes (dispute_id, payment_intent, amount, status)
      values (p_dispute_id, p_payment_intent, p_dispute_amount, p_dispute_status)
      on conflict (dispute_id) do update
        set status = excluded.status, updated_at = now()
        where public._dispute_rank(excluded.status) > public._dispute_rank(public.purchase_disputes.status);
  end if;
  if v_session is null then
    return 'recorded';
  end if;
  perform public._settle_reversals(v_session);
  return 'settled';
end
$$;

revoke execute on function public._dispute_rank(text) from public, anon, authenticated, service_role;


-- API keys (issue 20, item 4): new keys are stored as `hmac-sha256$<base64>` (shared/api_keys.py);
-- issue 13's rows hold a bare scrypt hash and are rewritten the first time their right secret is
-- used. Compare-and-set: only the hash that was checked is replaced, so two containers upgrading the
-- same key at once, or a revoke in between, lose nothing. Returns whether this call rewrote it.
create function public.upgrade_api_key_hash(p_key_id uuid, p_old_hash text, p_new_hash text) returns boolean
language plpgsql security definer set search_path = '' as $$
begin
  if p_new_hash not like 'hmac-sha256$%' then
    raise exception 'an upgraded API key hash is hmac-sha256' using errcode = '22023';
  end if;
  update public.api_keys set secret_hash = p_new_hash where id = p_key_id and secret_hash = p_old_hash;
  return found;
end
$$;
revoke execute on function public.upgrade_api_key_hash(uuid, text, text) from public, anon, authenticated, service_role;
grant execute on function public.upgrade_api_key_hash(uuid, text, text) to service_role;


-- require_profile: PT404 (404 not_found) for a user without a profile, before POST /checkout makes a
-- Stripe session it could not record (record_checkout needs the profile): nothing is created then.
create function public.require_profile(p_user_id uuid) returns void
language plpgsql stable security definer set search_path = '' as $$
begin
  if not exists (select from public.profiles where id = p_user_id) then
    raise exception 'no account for this user; sign up again' using errcode = 'PT404';
  end if;
end
$$;
revoke execute on function public.require_profile(uuid) from public, anon, authenticated, service_role;
grant execute on function public.require_profile(uuid) to service_role;
