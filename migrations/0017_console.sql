-- Issue 26: the operator's console (CONTRACT §5).
--
-- 1. A block: an admin's explicit flag with a reason on the profile. public.create_block_reason()
--    is the one place that says whether a user may start anything that charges or sells (issue 27's
--    cooling-off block can be combined there); BEFORE INSERT triggers on generations and purchases
--    enforce it in the database, so every create path (text, image, retry, API keys) and every
--    checkout refuses with PT403 / hint account_blocked, inside the transaction that would have
--    charged: nothing is charged. Generations already in flight are not touched (their webhook,
--    sweep and refund paths insert nothing into generations).
-- 2. An append-only audit of every admin action (console and CLI): who, what, whom, amount, reason,
--    when. Updates, deletes and truncates are refused by triggers; only the functions below write it.
-- 3. The admin's money actions wrap the CLI's own functions (adjust_credits, goodwill_refund of
--    0009) and write their audit row in the same transaction: no money rule is written twice.
-- 4. Analytics per UTC day, kept as daily rollups by the sweep (analytics_days); a day not yet
--    rolled up after its end (today, or before the first sweep) is computed live from an indexed
--    range of that one day. Never a whole-table scan per page view.
-- No existing function is redefined.

alter table public.profiles
  add column blocked_at timestamptz,
  add column blocked_reason text,
  add constraint blocked_has_reason check ((blocked_at is null) = (blocked_reason is null));

-- The admin console's user search by email prefix, and its newest-users list.
create index profiles_email_prefix on public.profiles (lower(email) text_pattern_ops);
create index profiles_newest on public.profiles (created_at desc);
-- Analytics' one-day ranges: generations by creation time, ledger rows by write time.
create index generations_created_at on public.generations (created_at);
create index credit_transactions_created_at on public.credit_transactions (created_at);
-- The console's "failing" list: the newest failures.
create index generations_failed_recent on public.generations (completed_at desc) where status = 'failed';


-- create_block_reason: why this user may not create or buy now (null: they may). The one helper the
-- triggers below ask; a later block (e.g. a content-policy cooling-off) joins here.
create function public.create_block_reason(p_user_id uuid) returns text
language sql stable security definer set search_path = '' as $$
  select p.blocked_reason from public.profiles p where p.id = p_user_id and p.blocked_at is not null
$$;

-- assert_not_blocked: raises PT403 (hint account_blocked) for a blocked user. The checkout calls it
-- before asking Stripe for a session (the trigger on purchases is the backstop after).
create function public.assert_not_blocked(p_user_id uuid) returns void
language plpgsql stable security definer set search_path = '' as $$
begin
  if public.create_block_reason(p_user_id) is not null then
    raise exception 'this account is blocked: it cannot start generations or buy credits; contact support'
      using errcode = 'PT403', hint = 'account_blocked';
  end if;
end
$$;

create function public._refuse_blocked() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  perform public.assert_not_blocked(new.user_id);
  return new;
end
$$;

-- BEFORE INSERT row triggers fire before ON CONFLICT is looked at, so a replayed Idempotency-Key of a
-- blocked user is refused too (it answers 403, and charges nothing either way).
create trigger refuse_blocked_generations before insert on public.generations
  for each row execute function public._refuse_blocked();
create trigger refuse_blocked_checkouts before insert on public.purchases
  for each row execute function public._refuse_blocked();


-- The audit: append-only.
create table public.admin_audit (
  id bigint generated always as identity primary key,
  at timestamptz not null default clock_timestamp(),
  actor text not null check (length(btrim(actor)) > 0),  -- the admin's email (console) or login (CLI)
  actor_id uuid,                                          -- the admin's user id; null from the CLI
  action text not null check (action in ('credits.adjust', 'generation.refund', 'user.block', 'user.unblock',
                                         'admin.grant', 'admin.revoke', 'generation.settle')),
  user_id uuid,                                           -- whom (no foreign key: the row outlives the user)
  generation_id uuid,
  amount integer,
  reason text,
  detail jsonb not null default '{}'::jsonb
);
create index admin_audit_by_user on public.admin_audit (user_id, id desc);
alter table public.admin_audit enable row level security;  -- no policy: only the functions read it
revoke all on public.admin_audit from public, anon, authenticated, service_role;

create function public._audit_is_append_only() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  raise exception 'the admin audit is append-only (% refused)', tg_op using errcode = 'PT409';
end
$$;
create trigger admin_audit_append_only before update or delete on public.admin_audit
  for each row execute function public._audit_is_append_only();
create trigger admin_audit_no_truncate before truncate on public.admin_audit
  for each statement execute function public._audit_is_append_only();

-- record_admin_action: one audit row; answers it. Also called by the service for actions whose effect
-- is outside this database (a role set through Supabase's admin API, a "settle now").
create function public.record_admin_action(
  p_action text, p_actor text, p_actor_id uuid default null, p_user_id uuid default null,
  p_generation_id uuid default null, p_amount integer default null, p_reason text default null,
  p_detail jsonb default '{}'::jsonb
) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_row public.admin_audit;
begin
  if nullif(btrim(p_actor), '') is null then
    raise exception 'an admin action needs who made it' using errcode = '22023';
  end if;
  insert into public.admin_audit (actor, actor_id, action, user_id, generation_id, amount, reason, detail)
    values (btrim(p_actor), p_actor_id, p_action, p_user_id, p_generation_id, p_amount,
            nullif(btrim(p_reason), ''), coalesce(p_detail, '{}'::jsonb))
  returning * into v_row;
  return public._audit_json(v_row);
end
$$;

create function public._audit_json(a public.admin_audit) returns jsonb
language sql immutable security definer set search_path = '' as $$
  select jsonb_build_object('id', a.id, 'at', a.at, 'actor', a.actor, 'actor_id', a.actor_id,
                            'action', a.action, 'user_id', a.user_id, 'generation_id', a.generation_id,
                            'amount', a.amount, 'reason', a.reason, 'detail', a.detail)
$$;

-- admin_audit_list: newest first, keyset-paged by id (p_before), optionally one user's.
create function public.admin_audit_list(p_limit integer default 100, p_before bigint default null,
                                        p_user_id uuid default null) returns jsonb
language sql stable security definer set search_path = '' as $$
  select coalesce(jsonb_agg(public._audit_json(a) order by a.id desc), '[]'::jsonb)
    from (select * from public.admin_audit
           where (p_before is null or id < p_before) and (p_user_id is null or user_id = p_user_id)
           order by id desc limit least(greatest(p_limit, 1), 10000)) a
$$;


-- admin_adjust_credits: adjust_credits (0009: one `adjustment` row naming who and why) and its audit
-- row, in one transaction. A deduction below zero is a conflict with the account's state (PT409,
-- nothing written) rather than 0009's PT402, which reads as "you lack credits" to the caller.
create function public.admin_adjust_credits(p_user_id uuid, p_amount integer, p_reason text, p_actor text,
                                            p_actor_id uuid default null) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_row jsonb;
begin
  begin
    v_row := public.adjust_credits(p_user_id, p_amount, p_reason, p_actor);
  exception when sqlstate 'PT402' then
    raise exception '%', sqlerrm using errcode = 'PT409';
  end;
  perform public.record_admin_action('credits.adjust', p_actor, p_actor_id, p_user_id, null, p_amount, p_reason,
                                     jsonb_build_object('ledger_id', v_row -> 'id', 'balance_after', v_row -> 'balance_after'));
  return v_row;
end
$$;

-- admin_goodwill_refund: goodwill_refund (0009: once per generation, a unique index) and its audit row.
create function public.admin_goodwill_refund(p_gen_id uuid, p_reason text, p_actor text,
                                             p_actor_id uuid default null) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_row jsonb := public.goodwill_refund(p_gen_id, p_reason, p_actor);
begin
  perform public.record_admin_action('generation.refund', p_actor, p_actor_id, (v_row ->> 'user_id')::uuid,
                                     p_gen_id, (v_row ->> 'amount')::integer, p_reason,
                                     jsonb_build_object('ledger_id', v_row -> 'id', 'balance_after', v_row -> 'balance_after'));
  return v_row;
end
$$;

-- admin_block_user / admin_unblock_user: set or clear the flag (a block's reason is required), audited.
create function public.admin_block_user(p_user_id uuid, p_reason text, p_actor text, p_actor_id uuid default null)
returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_profile public.profiles;
begin
  if nullif(btrim(p_reason), '') is null then
    raise exception 'a block needs a reason' using errcode = '22023';
  end if;
  update public.profiles set blocked_at = coalesce(blocked_at, now()), blocked_reason = btrim(p_reason),
                             updated_at = now()
   where id = p_user_id returning * into v_profile;
  if not found then
    raise exception 'no user %', p_user_id using errcode = 'PT404';
  end if;
  perform public.record_admin_action('user.block', p_actor, p_actor_id, p_user_id, null, null, p_reason);
  return jsonb_build_object('user_id', p_user_id, 'blocked', true, 'blocked_at', v_profile.blocked_at,
                            'blocked_reason', v_profile.blocked_reason);
end
$$;

create function public.admin_unblock_user(p_user_id uuid, p_actor text, p_actor_id uuid default null,
                                          p_reason text default null) returns jsonb
language plpgsql security definer set search_path = '' as $$
begin
  update public.profiles set blocked_at = null, blocked_reason = null, updated_at = now() where id = p_user_id;
  if not found then
    raise exception 'no user %', p_user_id using errcode = 'PT404';
  end if;
  perform public.record_admin_action('user.unblock', p_actor, p_actor_id, p_user_id, null, null, p_reason);
  return jsonb_build_object('user_id', p_user_id, 'blocked', false, 'blocked_at', null, 'blocked_reason', null);
end
$$;


-- admin_users: up to p_limit users whose id is p_query, or whose email starts with it (case-insensitive;
-- a range on the text_pattern_ops index, then LIKE with the pattern characters escaped, so that '_' and
-- '%' in an email are literal); an empty query lists the newest users.
create function public.admin_users(p_query text, p_limit integer default 50) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare
  v_query text := lower(btrim(coalesce(p_query, '')));
  v_limit integer := least(greatest(p_limit, 1), 200);
  v_found jsonb;
begin
  if v_query ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    select jsonb_agg(public._admin_user_summary(p)) into v_found from public.profiles p where p.id = v_query::uuid;
  elsif v_query = '' then
    select jsonb_agg(public._admin_user_summary(p) order by p.created_at desc) into v_found
      from public.profiles p where p.id in (select id from public.profiles order by created_at desc limit v_limit);
  else
    select jsonb_agg(public._admin_user_summary(p) order by lower(p.email)) into v_found
      from public.profiles p where p.id in (
            select id from public.profiles
             where lower(email) ~>=~ v_query and lower(email) ~<~ (v_query || chr(1114111))
               and lower(email) like replace(replace(replace(v_query, '\', '\\'), '%', '\%'), '_', '\_') || '%'
             order by lower(email) limit v_limit);
  end if;
  return coalesce(v_found, '[]'::jsonb);
end
$$;

create function public._admin_user_summary(p public.profiles) returns jsonb
language sql immutable security definer set search_path = '' as $$
  select jsonb_build_object('user_id', p.id, 'email', p.email, 'balance', p.credits,
                            'blocked', p.blocked_at is not null, 'created_at', p.created_at)
$$;

-- admin_user: find_user (0009: profile, balance, last generations and ledger rows) plus the block,
-- purchases with their reversals and unrecovered credits, API keys (never hashes) and rate counters.
create function public.admin_user(p_user_id uuid, p_limit integer default 50) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare
  v_profile public.profiles;
begin
  select * into v_profile from public.profiles where id = p_user_id;
  if not found then
    raise exception 'no user %', p_user_id using errcode = 'PT404';
  end if;
  return public.find_user(p_user_id::text, p_limit) || jsonb_build_object(
    'blocked', v_profile.blocked_at is not null, 'blocked_at', v_profile.blocked_at,
    'blocked_reason', v_profile.blocked_reason,
    'purchases', coalesce((
      select jsonb_agg(jsonb_build_object(
               'session_id', p.session_id, 'status', p.status, 'pack_id', p.pack_id, 'credits', p.credits,
               'amount', p.amount, 'currency', p.currency, 'unrecovered_credits', p.unrecovered_credits,
               'created_at', p.created_at, 'credited_at', p.credited_at,
               'reversals', coalesce((select jsonb_agg(jsonb_build_object('id', t.id, 'amount', t.amount,
                                                'description', t.description, 'created_at', t.created_at) order by t.id)
                                        from public.credit_transactions t
                                       where t.purchase_session_id = p.session_id and t.type = 'reversal'), '[]'::jsonb))
             order by p.created_at desc)
        from (select * from public.purchases where user_id = p_user_id order by created_at desc limit p_limit) p),
      '[]'::jsonb),
    'api_keys', coalesce((select jsonb_agg(public._api_key_json(k) order by k.created_at desc)
                            from public.api_keys k where k.user_id = p_user_id), '[]'::jsonb),
    'rate_limits', coalesce((select jsonb_agg(jsonb_build_object('bucket', r.bucket, 'window_start', r.window_start,
                                                                  'hits', r.hits) order by r.bucket)
                               from public.rate_counters r where r.subject = p_user_id), '[]'::jsonb));
end
$$;

-- admin_generations: the console's lists. `stuck`: unfinished with no news from Replicate for
-- p_quiet_seconds (the unfinished partial index); `failing`: the newest failures (a partial index).
create function public.admin_generations(p_list text, p_quiet_seconds integer default 600, p_limit integer default 100)
returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare
  v_limit integer := least(greatest(p_limit, 1), 500);
begin
  if p_list not in ('stuck', 'failing') then
    raise exception 'the list must be stuck or failing' using errcode = '22023';
  end if;
  return coalesce((
    select jsonb_agg(jsonb_build_object(
             'generation_id', g.id, 'user_id', g.user_id, 'email', p.email, 'status', g.status,
             'model', g.model, 'resolution', g.resolution, 'replicate_id', g.replicate_id,
             'error', g.error, 'error_code', g.error_code, 'settled_by', g.settled_by, 'cost', g.cost,
             'refunded', exists (select from public.credit_transactions t
                                  where t.generation_id = g.id and t.type = 'refund'),
             'created_at', g.created_at, 'last_event_at', g.last_event_at, 'completed_at', g.completed_at)
           order by o)
      from (select *, row_number() over () as o from (
              (select * from public.generations
                where p_list = 'stuck' and status in ('queued', 'processing')
                  and coalesce(last_event_at, created_at) < now() - make_interval(secs => p_quiet_seconds)
                order by created_at limit v_limit)
              union all
              (select * from public.generations where p_list = 'failing' and status = 'failed'
                order by completed_at desc limit v_limit)) u) g
      join public.profiles p on p.id = g.user_id),
    '[]'::jsonb);
end
$$;


-- Analytics. Statuses, models, completion times and hours count generations by the UTC day they were
-- created; money counts ledger rows by the UTC day they were written (credits_spent: the gross
-- deductions, a generation counting at once; credits_refunded: refunds of failed/canceled ones and
-- goodwill refunds; credits_sold: purchases; credits_reversed: taken back by refunds and disputes,
-- net of disputes won; revenue: what those purchases were paid, per currency, in minor units).
-- Completion bins are seconds from create to finish of succeeded ones: [0,30) [30,60) [60,120)
-- [120,180) [180,300) [300,600) [600,1200) [1200,2700) [2700,inf).
create function public._analytics_day(p_day date) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare
  v_from timestamptz := p_day::timestamp at time zone 'UTC';
  v_to timestamptz := (p_day + 1)::timestamp at time zone 'UTC';
  v_gen jsonb;
  v_money jsonb;
  v_revenue jsonb;
begin
  with g as materialized (
    select status, model, resolution, kind, error_code, error,
           extract(hour from created_at at time zone 'UTC')::integer as hour,
           case when status = 'succeeded'
                then width_bucket(extract(epoch from completed_at - created_at)::float8,
                                  array[30, 60, 120, 180, 300, 600, 1200, 2700]::float8[]) end as bin,
           case when status = 'succeeded' then extract(epoch from completed_at - created_at)::float8 end as took
      from public.generations where created_at >= v_from and created_at < v_to)
  select jsonb_build_object(
    'generations', (select count(*) from g),
    'succeeded', (select count(*) from g where status = 'succeeded'),
    'failed', (select count(*) from g where status = 'failed'),
    'canceled', (select count(*) from g where status = 'canceled'),
    'in_flight', (select count(*) from g where status in ('queued', 'processing')),
    'completion_seconds_sum', (select coalesce(sum(took), 0) from g),
    'completion_bins', (select jsonb_agg(coalesce(n, 0) order by b) from generate_series(0, 8) b
                          left join (select bin, count(*) as n from g where bin is not null group by bin) c on c.bin = b),
    'hours', (select jsonb_agg(coalesce(n, 0) order by h) from generate_series(0, 23) h
                left join (select hour, count(*) as n from g group by hour) c on c.hour = h),
    'models', (select coalesce(jsonb_agg(to_jsonb(m) order by m.model, m.resolution, m.kind), '[]'::jsonb) from (
                 select model, resolution, kind, count(*) as generations,
                        count(*) filter (where status = 'succeeded') as succeeded,
                        count(*) filter (where status = 'failed') as failed,
                        count(*) filter (where status = 'canceled') as canceled
                   from g group by model, resolution, kind) m),
    'failure_reasons', (select coalesce(jsonb_agg(to_jsonb(f) order by f.count desc, f.error_code), '[]'::jsonb) from (
                          select coalesce(error_code, 'unknown') as error_code, count(*) as count, min(error) as example
                            from g where status = 'failed' group by 1) f))
    into v_gen;

  select jsonb_build_object(
    'credits_spent', coalesce(-sum(amount) filter (where type = 'deduction'), 0),
    'credits_refunded', coalesce(sum(amount) filter (where type = 'refund'
                                                     or (type = 'adjustment' and generation_id is not null)), 0),
    'credits_sold', coalesce(sum(amount) filter (where type = 'purchase'), 0),
    'credits_reversed', coalesce(-sum(amount) filter (where type = 'reversal'), 0),
    'credits_adjusted', coalesce(sum(amount) filter (where type = 'adjustment' and generation_id is null), 0))
    into v_money
    from public.credit_transactions where created_at >= v_from and created_at < v_to;

  select coalesce(jsonb_object_agg(currency, amount), '{}'::jsonb) into v_revenue from (
    select p.currency, sum(p.amount) as amount
      from public.credit_transactions t join public.purchases p on p.session_id = t.purchase_session_id
     where t.type = 'purchase' and t.created_at >= v_from and t.created_at < v_to
     group by p.currency) r;

  return jsonb_build_object('date', p_day) || v_gen || v_money || jsonb_build_object('revenue', v_revenue);
end
$$;

-- The rollups. A day is `final` once computed after every generation created on it had to end
-- (p_final_after_seconds after the day's end: the sweep's deadline and then some); until then the
-- sweep recomputes it. Its ledger figures are exact from the day's end on (rows are written at once).
create table public.analytics_days (
  day date primary key,
  data jsonb not null,
  computed_at timestamptz not null default clock_timestamp(),
  final boolean not null,
  took_ms integer not null
);
alter table public.analytics_days enable row level security;
revoke all on public.analytics_days from public, anon, authenticated, service_role;

-- refresh_analytics: the sweep's part. Up to p_max_days past days (newest first) in the last
-- p_backfill_days that are missing or not final, computed and stored; today is never stored (it is
-- live). Overlapping sweeps: one does it (an advisory lock), the other returns at once.
create function public.refresh_analytics(p_final_after_seconds integer, p_backfill_days integer default 90,
                                         p_max_days integer default 7) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_today date := (now() at time zone 'UTC')::date;
  v_day date;
  v_started timestamptz;
  v_done integer := 0;
  v_ms integer := 0;
begin
  if not pg_try_advisory_xact_lock(7262026) then
    return jsonb_build_object('refreshed', 0, 'took_ms', 0, 'skipped', true);
  end if;
  for v_day in
    select days.day from (select v_today - n as day from generate_series(1, p_backfill_days) n) days
     where not exists (select from public.analytics_days a where a.day = days.day and a.final)
       -- a day without generations or ledger rows needs no rollup (computed live, it reads nothing)
       and (exists (select from public.generations g
                     where g.created_at >= days.day::timestamp at time zone 'UTC'
                       and g.created_at < (days.day + 1)::timestamp at time zone 'UTC')
            or exists (select from public.credit_transactions t
                        where t.created_at >= days.day::timestamp at time zone 'UTC'
                          and t.created_at < (days.day + 1)::timestamp at time zone 'UTC'))
     order by days.day desc limit p_max_days
  loop
    v_started := clock_timestamp();
    insert into public.analytics_days (day, data, computed_at, final, took_ms)
      values (v_day, public._analytics_day(v_day), clock_timestamp(),
              clock_timestamp() >= (v_day + 1)::timestamp at time zone 'UTC' + make_interval(secs => p_final_after_seconds),
              (extract(epoch from clock_timestamp() - v_started) * 1000)::integer)
      on conflict (day) do update set data = excluded.data, computed_at = excluded.computed_at,
                                      final = excluded.final, took_ms = excluded.took_ms;
    v_done := v_done + 1;
    v_ms := v_ms + (extract(epoch from clock_timestamp() - v_started) * 1000)::integer;
  end loop;
  return jsonb_build_object('refreshed', v_done, 'took_ms', v_ms, 'skipped', false);
end
$$;

-- admin_analytics: the last p_days UTC days, oldest first: each day's rollup when one was computed after
-- the day ended, else that day computed live (today always; a past day only before the sweep got to it).
create function public.admin_analytics(p_days integer) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare
  v_today date := (now() at time zone 'UTC')::date;
begin
  if p_days is null or p_days < 1 or p_days > 366 then
    raise exception 'days must be between 1 and 366' using errcode = '22023';
  end if;
  return (
    select jsonb_agg(coalesce(a.data || jsonb_build_object('rolled_up', true),
                              public._analytics_day(days.day) || jsonb_build_object('rolled_up', false))
                     order by days.day)
      from (select v_today - n as day from generate_series(0, p_days - 1) n) days
      left join public.analytics_days a
        on a.day = days.day and a.computed_at >= (a.day + 1)::timestamp at time zone 'UTC');
end
$$;


revoke execute on function
  public.create_block_reason(uuid),
  public.assert_not_blocked(uuid),
  public._refuse_blocked(),
  public._audit_is_append_only(),
  public.record_admin_action(text, text, uuid, uuid, uuid, integer, text, jsonb),
  public._audit_json(public.admin_audit),
  public.admin_audit_list(integer, bigint, uuid),
  public.admin_adjust_credits(uuid, integer, text, text, uuid),
  public.admin_goodwill_refund(uuid, text, text, uuid),
  public.admin_block_user(uuid, text, text, uuid),
  public.admin_unblock_user(uuid, text, uuid, text),
  public.admin_users(text, integer),
  public._admin_user_summary(public.profiles),
  public.admin_user(uuid, integer),
  public.admin_generations(text, integer, integer),
  public._analytics_day(date),
  public.refresh_analytics(integer, integer, integer),
  public.admin_analytics(integer)
  from public, anon, authenticated, service_role;
grant execute on function
  public.create_block_reason(uuid),
  public.assert_not_blocked(uuid),
  public.record_admin_action(text, text, uuid, uuid, uuid, integer, text, jsonb),
  public.admin_audit_list(integer, bigint, uuid),
  public.admin_adjust_credits(uuid, integer, text, text, uuid),
  public.admin_goodwill_refund(uuid, text, text, uuid),
  public.admin_block_user(uuid, text, text, uuid),
  public.admin_unblock_user(uuid, text, uuid, text),
  public.admin_users(text, integer),
  public.admin_user(uuid, integer),
  public.admin_generations(text, integer, integer),
  public.refresh_analytics(integer, integer, integer),
  public.admin_analytics(integer)
  to service_role;
