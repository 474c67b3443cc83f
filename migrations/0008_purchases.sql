-- Buying credits with Stripe Checkout (issue 10; contract "Buying credits").
--
-- Money rules for purchases, enforced here and not in code paths:
--   * a Checkout Session is credited at most once: one `purchase` ledger row per session (unique index);
--   * it is credited only when the session Stripe reports is paid and matches what was sold (amount,
--     currency, user, pack), compared in fulfil_purchase against the purchase recorded at creation;
--   * each Stripe event id is applied at most once (stripe_events' primary key, in the same transaction
--     as its effect);
--   * refunds and disputes are recorded by their own ids, under the payment (intent) they belong to, even
--     before that payment is linked to a purchase; what a purchase owes back is recomputed from those
--     records (the largest refunded total seen, each refund and dispute once), so a repeated, late or
--     reordered event never takes credits twice, and a refund that arrives before the payment's
--     session is credited is taken back when it is;
--   * a take-back is a `reversal` row that never makes a balance negative: the part that cannot be taken
--     is recorded on the purchase as unrecovered_credits.
-- Lock order: purchase row, then profile (as generation, then profile, elsewhere).

create table public.purchases (
  session_id text primary key,                     -- the Stripe Checkout Session id (cs_…)
  user_id uuid not null references public.profiles (id) on delete cascade,
  pack_id text not null,
  credits integer not null check (credits > 0),    -- what was sold, as priced when the session was made
  amount integer not null check (amount > 0),      -- in the currency's minor unit
  currency text not null check (currency = lower(currency)),
  status text not null default 'open'
    check (status in ('open', 'paid', 'credited', 'expired', 'failed', 'reversed')),
  payment_intent text unique,                      -- links charge, refund and dispute events to the purchase
  unrecovered_credits integer not null default 0 check (unrecovered_credits >= 0),
  mismatch text,                                   -- why a paid session was not credited (for the operator)
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  credited_at timestamptz
);
create index purchases_by_user on public.purchases (user_id, created_at desc);

-- Every Stripe event applied, by its id: the second delivery of an event changes nothing.
create table public.stripe_events (
  event_id text primary key,
  type text not null,
  outcome text not null,
  session_id text,
  received_at timestamptz not null default now()
);

-- What Stripe said about a payment's refunds: the largest running amount_refunded seen per payment
-- intent, and each refund by its own id (re_…), counted once whatever events repeat it.
create table public.payment_refunds (
  payment_intent text primary key,
  amount_refunded integer not null check (amount_refunded >= 0),
  updated_at timestamptz not null default now()
);
create table public.purchase_refunds (
  refund_id text primary key,
  payment_intent text not null,
  amount integer not null check (amount > 0),
  created_at timestamptz not null default now()
);
create index purchase_refunds_by_payment on public.purchase_refunds (payment_intent);

-- Disputes by their own id (dp_…). Status only moves from open to won or lost.
create table public.purchase_disputes (
  dispute_id text primary key,
  payment_intent text not null,
  amount integer not null check (amount > 0),
  status text not null default 'open' check (status in ('open', 'won', 'lost')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index purchase_disputes_by_payment on public.purchase_disputes (payment_intent);

-- The ledger learns purchases keyed by session, and reversals (negative: taken back; positive: given
-- back when a dispute is won). A `purchase` row without a session is a manual top-up (add_credits).
alter table public.credit_transactions
  add column purchase_session_id text references public.purchases (session_id) on delete cascade;
alter table public.credit_transactions drop constraint credit_transactions_type_check;
alter table public.credit_transactions add constraint credit_transactions_type_check
  check (type in ('signup_bonus', 'purchase', 'deduction', 'refund', 'adjustment', 'reversal'));
alter table public.credit_transactions drop constraint sign_matches_type;
alter table public.credit_transactions add constraint sign_matches_type check (
  (type = 'deduction' and amount < 0)
  or (type in ('signup_bonus', 'purchase', 'refund') and amount > 0)
  or type in ('adjustment', 'reversal')
);
alter table public.credit_transactions add constraint reversal_names_a_purchase
  check (type <> 'reversal' or purchase_session_id is not null);
alter table public.credit_transactions add constraint session_only_on_purchase_rows
  check (purchase_session_id is null or type in ('purchase', 'reversal'));
create unique index one_purchase_per_session on public.credit_transactions (purchase_session_id)
  where type = 'purchase';
create index credit_transactions_by_session on public.credit_transactions (purchase_session_id)
  where purchase_session_id is not null;

alter table public.purchases enable row level security;
alter table public.stripe_events enable row level security;
alter table public.purchase_refunds enable row level security;
alter table public.purchase_disputes enable row level security;
alter table public.payment_refunds enable row level security;
create policy "own purchases" on public.purchases for select to authenticated
  using (user_id = (select auth.uid()));
-- Explicit grants: reads only; every write goes through the functions below.
revoke all on public.purchases, public.stripe_events, public.purchase_refunds, public.purchase_disputes,
  public.payment_refunds from public, anon, authenticated, service_role;
grant select on public.purchases to authenticated, service_role;
grant select on public.stripe_events, public.purchase_refunds, public.purchase_disputes, public.payment_refunds
  to service_role;


-- Internal: move a user's balance and write a purchase/reversal ledger row, in the caller's transaction.
create function public._post_purchase_entry(
  p_user_id uuid, p_amount integer, p_type text, p_session_id text, p_description text
) returns integer
language plpgsql security definer set search_path = '' as $$
declare
  v_balance integer;
begin
  update public.profiles set credits = credits + p_amount, updated_at = now()
    where id = p_user_id returning credits into v_balance;
  if not found then
    raise exception 'no profile for user %', p_user_id using errcode = 'PT404';
  end if;
  insert into public.credit_transactions (user_id, amount, type, description, balance_after, purchase_session_id)
    values (p_user_id, p_amount, p_type, p_description, v_balance, p_session_id);
  return v_balance;
end
$$;

-- Internal: note an event id as applied. False when it was applied before (waits for a concurrent
-- first delivery to commit, then says so).
create function public._note_stripe_event(p_event_id text, p_type text, p_outcome text, p_session_id text)
returns boolean
language plpgsql security definer set search_path = '' as $$
begin
  if p_event_id is null then
    return true;  -- the success page: no event to record
  end if;
  insert into public.stripe_events (event_id, type, outcome, session_id)
    values (p_event_id, p_type, p_outcome, p_session_id)
    on conflict (event_id) do nothing;
  return found;
end
$$;

-- The read shape of one purchase (GET /checkout/status), with the user's balance.
create function public._purchase_json(p public.purchases) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
begin
  return jsonb_build_object(
    'session_id', p.session_id, 'status', p.status, 'pack_id', p.pack_id, 'credits', p.credits,
    'amount', p.amount, 'currency', p.currency, 'unrecovered_credits', p.unrecovered_credits,
    'balance', (select credits from public.profiles where id = p.user_id));
end
$$;

-- record_checkout: the session just created at Stripe, as `open`. Idempotent: a repeated call (a
-- replayed Idempotency-Key gives the same session) returns the purchase recorded first.
create function public.record_checkout(
  p_session_id text, p_user_id uuid, p_pack_id text, p_credits integer, p_amount integer, p_currency text
) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v public.purchases;
begin
  insert into public.purchases (session_id, user_id, pack_id, credits, amount, currency)
    values (p_session_id, p_user_id, p_pack_id, p_credits, p_amount, lower(p_currency))
    on conflict (session_id) do nothing;
  select * into v from public.purchases where session_id = p_session_id;
  if v.user_id <> p_user_id then
    raise exception 'checkout session % is not yours', p_session_id using errcode = 'PT404';
  end if;
  return public._purchase_json(v);
end
$$;

-- fulfil_purchase: grant a session's credits once, from the webhook (p_event_id set) or the success
-- page (no event). The caller passes the session as just fetched from Stripe; it is credited only
-- when paid and matching the recorded purchase. Returns the purchase plus 'outcome':
-- credited | already_credited | unpaid | mismatch | unknown_session | duplicate_event.
create function public.fulfil_purchase(
  p_session_id text, p_payment_status text, p_amount_total integer, p_currency text,
  p_client_reference_id text, p_pack_id text, p_payment_intent text default null,
  p_event_id text default null, p_event_type text default null
) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v public.purchases;
  v_outcome text;
  v_mismatch text;
begin
  -- A payment's refund or dispute may be recording right now (reverse_purchase): serialize on the
  -- payment, and take that lock before the purchase row's, as reverse_purchase does (no deadlock).
  perform public._lock_payment(p_payment_intent);
  select * into v from public.purchases where session_id = p_session_id for update;
  if not found then
    if public._note_stripe_event(p_event_id, p_event_type, 'unknown_session', p_session_id) then
      return jsonb_build_object('outcome', 'unknown_session', 'session_id', p_session_id);
    end if;
    return jsonb_build_object('outcome', 'duplicate_event', 'session_id', p_session_id);
  end if;
  if p_event_id is not null and exists (select from public.stripe_events where event_id = p_event_id) then
    return public._purchase_json(v) || jsonb_build_object('outcome', 'duplicate_event');
  end if;

  if v.payment_intent is null and p_payment_intent is not null then
    update public.purchases set payment_intent = p_payment_intent where session_id = p_session_id;
  end if;
  if exists (select from public.credit_transactions
             where purchase_session_id = p_session_id and type = 'purchase') then
    v_outcome := 'already_credited';
  elsif p_payment_status is distinct from 'paid' then
    v_outcome := 'unpaid';
  else
    v_mismatch := concat_ws('; ',
      case when p_amount_total is distinct from v.amount then format('amount %s, sold for %s', p_amount_total, v.amount) end,
      case when lower(p_currency) is distinct from v.currency then format('currency %s, sold in %s', p_currency, v.currency) end,
      case when p_client_reference_id is distinct from v.user_id::text then format('client_reference_id %s, sold to %s', p_client_reference_id, v.user_id) end,
      case when p_pack_id is distinct from v.pack_id then format('pack %s, sold %s', p_pack_id, v.pack_id) end);
    if v_mismatch <> '' then
      v_outcome := 'mismatch';
      update public.purchases set status = 'paid', mismatch = v_mismatch, updated_at = now()
        where session_id = p_session_id;
    else
      v_outcome := 'credited';
      perform public._post_purchase_entry(v.user_id, v.credits, 'purchase', v.session_id,
                                          format('%s credits (%s)', v.credits, v.pack_id));
      update public.purchases set status = 'credited', credited_at = now(), updated_at = now()
        where session_id = p_session_id;
      perform public._settle_reversals(p_session_id);  -- a refund or dispute that came first
    end if;
  end if;
  perform public._note_stripe_event(p_event_id, p_event_type, v_outcome, p_session_id);
  select * into v from public.purchases where session_id = p_session_id;
  return public._purchase_json(v) || jsonb_build_object('outcome', v_outcome, 'mismatch', v_mismatch);
end
$$;

-- end_checkout: an expired session or a failed delayed payment: nothing to credit. Only an open (or
-- paid-but-unmatched) purchase changes; a credited one stays credited whatever arrives late.
-- Returns: expired | failed | unchanged | unknown_session | duplicate_event.
create function public.end_checkout(p_session_id text, p_status text, p_event_id text, p_event_type text)
returns text
language plpgsql security definer set search_path = '' as $$
declare
  v public.purchases;
  v_outcome text;
begin
  if p_status not in ('expired', 'failed') then
    raise exception 'end_checkout takes expired or failed, not %', p_status using errcode = '22023';
  end if;
  select * into v from public.purchases where session_id = p_session_id for update;
  if not found then
    v_outcome := 'unknown_session';
  elsif v.status = 'open' then
    update public.purchases set status = p_status, updated_at = now() where session_id = p_session_id;
    v_outcome := p_status;
  else
    v_outcome := 'unchanged';
  end if;
  if not public._note_stripe_event(p_event_id, p_event_type, v_outcome, p_session_id) then
    raise exception 'duplicate' using errcode = 'PT208';  -- rolls back the update above
  end if;
  return v_outcome;
exception when sqlstate 'PT208' then
  return 'duplicate_event';
end
$$;

-- Internal: bring a purchase's reversals in line with what it owes back now (refunded share + open or
-- lost disputes' share, at most the pack): take the difference (never below a zero balance; the rest
-- becomes unrecovered), or give it back (unrecovered first, since it was never taken).
-- Returns the credits moved (negative: taken back).
create function public._settle_reversals(p_session_id text) returns integer
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
  v_refunded := greatest(
    coalesce((select amount_refunded from public.payment_refunds where payment_intent = v.payment_intent), 0),
    coalesce((select sum(amount) from public.purchase_refunds where payment_intent = v.payment_intent), 0));
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

-- Internal: a transaction lock on one payment intent (none for null).
create function public._lock_payment(p_payment_intent text) returns void
language plpgsql security definer set search_path = '' as $$
begin
  if p_payment_intent is not null then
    perform pg_advisory_xact_lock(hashtextextended('stripe_payment:' || p_payment_intent, 0));
  end if;
end
$$;

-- reverse_purchase: a charge event (refund or dispute) for a payment. Records what it says by the
-- refund's or dispute's own id under the payment intent, then settles the purchase paid by it, if
-- one is linked yet (otherwise fulfil_purchase settles when it credits).
--   p_refunded_amount: the charge's amount_refunded (a running total); p_refunds: [{"id", "amount"}]
--   when the charge lists its refunds; p_dispute_id/_amount/_status for dispute events (status open,
--   won or lost). Returns: settled | recorded (no purchase linked yet) | unknown_payment (no payment
--   intent on the event) | duplicate_event.
create function public.reverse_purchase(
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
  insert into public.purchase_refunds (refund_id, payment_intent, amount)
    select r->>'id', p_payment_intent, (r->>'amount')::integer
    from jsonb_array_elements(coalesce(p_refunds, '[]'::jsonb)) r
    where (r->>'amount')::integer > 0
    on conflict (refund_id) do nothing;
  if p_dispute_id is not null then
    if p_dispute_status not in ('open', 'won', 'lost') then
      raise exception 'dispute status must be open, won or lost, not %', p_dispute_status using errcode = '22023';
    end if;
    insert into public.purchase_disputes (dispute_id, payment_intent, amount, status)
      values (p_dispute_id, p_payment_intent, p_dispute_amount, p_dispute_status)
      on conflict (dispute_id) do update
        set status = excluded.status, updated_at = now()
        where public.purchase_disputes.status = 'open';  -- won and lost are final
  end if;
  if v_session is null then
    return 'recorded';
  end if;
  perform public._settle_reversals(v_session);
  return 'settled';
end
$$;

-- note_stripe_event: an event of a type the service does not act on, recorded so that its id is known.
create function public.note_stripe_event(p_event_id text, p_type text) returns text
language plpgsql security definer set search_path = '' as $$
begin
  return case when public._note_stripe_event(p_event_id, p_type, 'ignored', null)
              then 'ignored' else 'duplicate_event' end;
end
$$;

-- purchase_status: one purchase of one user (another user's, or none: PT404).
create function public.purchase_status(p_session_id text, p_user_id uuid) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare
  v public.purchases;
begin
  select * into v from public.purchases where session_id = p_session_id and user_id = p_user_id;
  if not found then
    raise exception 'no checkout session % for this user', p_session_id using errcode = 'PT404';
  end if;
  return public._purchase_json(v);
end
$$;

-- ledger_discrepancies, as in 0001 plus the purchase rules and the missing sign-up bonus (issue 11).
create or replace function public.ledger_discrepancies()
returns table (problem text, user_id uuid, generation_id uuid, detail text)
language sql stable security definer set search_path = '' as $$
  -- balance differs from the sum of the ledger, or is negative
  select 'balance_mismatch', p.id, null::uuid,
         format('credits %s, ledger sum %s', p.credits, coalesce(s.total, 0))
  from public.profiles p
  left join (select t.user_id, sum(t.amount) as total from public.credit_transactions t
             group by t.user_id) s on s.user_id = p.id
  where p.credits <> coalesce(s.total, 0) or p.credits < 0
  union all
  -- a ledger row whose balance_after is not the running sum of the user's ledger
  select 'balance_after_mismatch', r.user_id, r.generation_id,
         format('row %s: balance_after %s, running sum %s', r.id, r.balance_after, r.running)
  from (select t.*, sum(t.amount) over (partition by t.user_id order by t.id) as running
        from public.credit_transactions t) r
  where r.balance_after <> r.running
  union all
  -- charged or refunded more than once
  select 'charged_or_refunded_twice', min(t.user_id::text)::uuid, t.generation_id,
         format('%s %s rows', count(*), t.type)
  from public.credit_transactions t
  where t.type in ('deduction', 'refund')
  group by t.generation_id, t.type having count(*) > 1
  union all
  -- a refund that does not match the charge: without one, of another amount, or of a success
  select 'bad_refund', t.user_id, t.generation_id,
         format('refund %s, charge %s, status %s', t.amount, -d.amount, g.status)
  from public.credit_transactions t
  join public.generations g on g.id = t.generation_id
  left join public.credit_transactions d on d.generation_id = t.generation_id and d.type = 'deduction'
  where t.type = 'refund' and (d.id is null or d.amount <> -t.amount or g.status = 'succeeded')
  union all
  -- a charged generation that failed or was canceled but was not refunded
  select 'missing_refund', g.user_id, g.id, format('status %s', g.status)
  from public.generations g
  where g.status in ('failed', 'canceled')
    and exists (select from public.credit_transactions d where d.generation_id = g.id and d.type = 'deduction')
    and not exists (select from public.credit_transactions r where r.generation_id = g.id and r.type = 'refund')
  union all
  -- the active-generation counter differs from the generations in flight
  select 'active_count_mismatch', p.id, null::uuid,
         format('active_generations %s, counted %s', p.active_generations, coalesce(a.n, 0))
  from public.profiles p
  left join (select g.user_id, count(*) as n from public.generations g
             where g.status in ('queued', 'processing') group by g.user_id) a on a.user_id = p.id
  where p.active_generations <> coalesce(a.n, 0)
  union all
  -- a session credited more than once
  select 'purchase_credited_twice', min(t.user_id::text)::uuid, null::uuid,
         format('session %s: %s purchase rows', t.purchase_session_id, count(*))
  from public.credit_transactions t
  where t.type = 'purchase' and t.purchase_session_id is not null
  group by t.purchase_session_id having count(*) > 1
  union all
  -- a purchase row that is not the purchase's credits, for its user
  select 'bad_purchase_row', t.user_id, null::uuid,
         format('session %s: row of %s for %s, sold %s to %s', p.session_id, t.amount, t.user_id, p.credits, p.user_id)
  from public.credit_transactions t
  join public.purchases p on p.session_id = t.purchase_session_id
  where t.type in ('purchase', 'reversal') and (t.user_id <> p.user_id or (t.type = 'purchase' and t.amount <> p.credits))
  union all
  -- credited (or reversed) without its ledger row, or a ledger row on a purchase not marked credited
  select 'purchase_status_mismatch', p.user_id, null::uuid,
         format('session %s: status %s, purchase row %s', p.session_id, p.status, c.id is not null)
  from public.purchases p
  left join public.credit_transactions c on c.purchase_session_id = p.session_id and c.type = 'purchase'
  where (p.status in ('credited', 'reversed')) <> (c.id is not null)
  union all
  -- taken back more than was credited, or given back more than was taken, or unrecovered out of range
  select 'bad_reversal', p.user_id, null::uuid,
         format('session %s: credits %s, taken back %s, unrecovered %s', p.session_id, p.credits,
                coalesce(-r.total, 0), p.unrecovered_credits)
  from public.purchases p
  left join (select t.purchase_session_id, sum(t.amount) as total from public.credit_transactions t
             where t.type = 'reversal' group by t.purchase_session_id) r on r.purchase_session_id = p.session_id
  where coalesce(-r.total, 0) < 0 or coalesce(-r.total, 0) + p.unrecovered_credits > p.credits
  union all
  -- a permanent (non-anonymous) user whose sign-up bonus was never written (issue 11: the trigger
  -- never raises, so this is where a lost bonus shows)
  select 'missing_signup_bonus', p.id, null::uuid, 'a permanent user without a signup_bonus row'
  from public.profiles p
  join auth.users u on u.id = p.id
  where not coalesce(u.is_anonymous, false)
    and not exists (select from public.credit_transactions t
                    where t.user_id = p.id and t.type = 'signup_bonus')
$$;

revoke execute on function
  public._post_purchase_entry(uuid, integer, text, text, text),
  public._note_stripe_event(text, text, text, text),
  public._purchase_json(public.purchases),
  public.record_checkout(text, uuid, text, integer, integer, text),
  public.fulfil_purchase(text, text, integer, text, text, text, text, text, text),
  public.end_checkout(text, text, text, text),
  public._settle_reversals(text),
  public._lock_payment(text),
  public.reverse_purchase(text, text, text, integer, jsonb, text, integer, text),
  public.note_stripe_event(text, text),
  public.purchase_status(text, uuid),
  public.ledger_discrepancies()
  from public, anon, authenticated, service_role;
grant execute on function
  public.record_checkout(text, uuid, text, integer, integer, text),
  public.fulfil_purchase(text, text, integer, text, text, text, text, text, text),
  public.end_checkout(text, text, text, text),
  public.reverse_purchase(text, text, text, integer, jsonb, text, integer, text),
  public.note_stripe_event(text, text),
  public.purchase_status(text, uuid),
  public.ledger_discrepancies()
  to service_role;
