-- The credit ledger: profiles (balances), generations, the append-only ledger, and the money functions.
-- Valid on Supabase as it is. Money rules (DESIGN.md): balance = sum of the ledger and never negative;
-- at most one charge and one refund per generation, enforced by unique indexes, not by code paths.
--
-- Errors raised here carry stable SQLSTATEs that PostgREST turns into HTTP statuses and Python maps
-- to exceptions (shared/credits.py):
--   PT402 insufficient credits (DETAIL is JSON {"required", "balance"})
--   PT404 not found
--   PT409 invalid state (HINT names the contract code when it is not 'invalid_state')
--   PT429 too many active generations
--   22023 invalid argument

create table public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  email text,
  credits integer not null default 0 constraint credits_never_negative check (credits >= 0),
  -- queued + processing generations, kept by the count_active_generations trigger (and checked by
  -- ledger_discrepancies): the per-user limit is then checked in O(1), not by counting rows.
  active_generations integer not null default 0 constraint active_never_negative check (active_generations >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table public.generations (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  kind text not null check (kind in ('text-to-video', 'image-to-video')),
  model text not null,
  resolution text not null,
  prompt text not null,
  negative_prompt text,
  seed bigint check (seed >= 0),
  aspect_ratio text,
  image_path text,                     -- our storage path of the uploaded image (image-to-video)
  status text not null default 'queued'
    check (status in ('queued', 'processing', 'succeeded', 'failed', 'canceled')),
  progress smallint not null default 0 check (progress between 0 and 100),
  replicate_id text unique,            -- the Replicate prediction (job) id once it was created
  output_url text,                     -- Replicate's output URL (expires an hour after the run)
  video_path text,                     -- our storage path of the finished video
  error text,
  error_code text,
  cost integer not null check (cost > 0),
  idempotency_key text,
  request_hash text,
  retry_of uuid references public.generations (id) on delete set null,
  last_event_at timestamptz,           -- when Replicate last told us something (webhook or poll)
  polled_at timestamptz,               -- when we last asked Replicate ourselves (status fallback)
  video_copy_attempts integer not null default 0,
  video_copy_error text,
  video_lost boolean not null default false,  -- Replicate's copy expired before ours was made
  sweep_claimed_at timestamptz,        -- the sweep's lease, so overlapping sweeps take different rows
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  completed_at timestamptz,
  constraint idempotency_key_has_hash check (idempotency_key is null or request_hash is not null),
  constraint terminal_has_completed_at
    check ((status in ('succeeded', 'failed', 'canceled')) = (completed_at is not null))
);

create unique index generations_idempotency_key on public.generations (user_id, idempotency_key)
  where idempotency_key is not null;
create index generations_history on public.generations (user_id, created_at desc, id desc);

create table public.credit_transactions (
  id bigint generated always as identity primary key,
  user_id uuid not null references public.profiles (id) on delete cascade,
  amount integer not null check (amount <> 0),
  type text not null
    check (type in ('signup_bonus', 'purchase', 'deduction', 'refund', 'adjustment')),
  generation_id uuid references public.generations (id) on delete cascade,
  description text,
  balance_after integer not null check (balance_after >= 0),
  created_at timestamptz not null default now(),
  constraint sign_matches_type check (
    (type = 'deduction' and amount < 0)
    or (type in ('signup_bonus', 'purchase', 'refund') and amount > 0)
    or type = 'adjustment'
  ),
  constraint charge_and_refund_name_a_generation
    check (type not in ('deduction', 'refund') or generation_id is not null)
);

create unique index one_deduction_per_generation on public.credit_transactions (generation_id)
  where type = 'deduction';
create unique index one_refund_per_generation on public.credit_transactions (generation_id)
  where type = 'refund';
create unique index one_signup_bonus_per_user on public.credit_transactions (user_id)
  where type = 'signup_bonus';
create index credit_transactions_history on public.credit_transactions (user_id, id desc);

-- Row-level security: a user reads only their own rows and writes none. Every write goes through the
-- functions below, which run as their owner.
alter table public.profiles enable row level security;
alter table public.generations enable row level security;
alter table public.credit_transactions enable row level security;

create policy "own profile" on public.profiles for select to authenticated
  using (id = (select auth.uid()));
create policy "own generations" on public.generations for select to authenticated
  using (user_id = (select auth.uid()));
create policy "own transactions" on public.credit_transactions for select to authenticated
  using (user_id = (select auth.uid()));

-- Supabase grants all on new tables to its API roles: take back every write. The ledger is
-- append-only for everyone but the owner; balances change only through the money functions.
revoke insert, update, delete, truncate, references, trigger
  on public.profiles, public.generations, public.credit_transactions
  from public, anon, authenticated, service_role;
revoke all on public.profiles, public.generations, public.credit_transactions from anon;
grant select on public.profiles, public.generations, public.credit_transactions
  to authenticated, service_role;


-- Internal: move a user's balance by p_amount and write the ledger row, in the caller's transaction.
-- The caller holds the generation's row lock when there is one (lock order: generation, then profile).
create function public._post_ledger_entry(
  p_user_id uuid, p_amount integer, p_type text, p_gen_id uuid, p_description text
) returns integer
language plpgsql security definer set search_path = '' as $$
declare
  v_balance integer;
begin
  select credits into v_balance from public.profiles where id = p_user_id for update;
  if not found then
    raise exception 'no profile for user %', p_user_id using errcode = 'PT404';
  end if;
  if v_balance + p_amount < 0 then
    raise exception 'insufficient credits: % required, % available', -p_amount, v_balance
      using errcode = 'PT402',
            detail = json_build_object('required', -p_amount, 'balance', v_balance)::text;
  end if;
  update public.profiles set credits = credits + p_amount, updated_at = now()
    where id = p_user_id returning credits into v_balance;
  insert into public.credit_transactions (user_id, amount, type, generation_id, description, balance_after)
    values (p_user_id, p_amount, p_type, p_gen_id, p_description, v_balance);
  return v_balance;
end
$$;

-- add_credits: purchases, adjustments (signed) and the signup bonus. Returns the new balance.
create function public.add_credits(
  p_user_id uuid, p_amount integer, p_type text default 'purchase', p_description text default null
) returns integer
language plpgsql security definer set search_path = '' as $$
begin
  if p_type not in ('purchase', 'adjustment', 'signup_bonus') then
    raise exception 'add_credits cannot write a % entry', p_type using errcode = '22023';
  end if;
  if p_amount is null or p_amount = 0 or (p_type <> 'adjustment' and p_amount < 0) then
    raise exception 'amount must be positive (or a non-zero adjustment), got %', p_amount
      using errcode = '22023';
  end if;
  return public._post_ledger_entry(p_user_id, p_amount, p_type, null, p_description);
end
$$;

-- deduct_credits: charge an existing, not yet charged, unfinished generation. Returns the new balance.
create function public.deduct_credits(p_user_id uuid, p_amount integer, p_gen_id uuid)
returns integer
language plpgsql security definer set search_path = '' as $$
declare
  v_gen public.generations;
begin
  if p_amount is null or p_amount <= 0 then
    raise exception 'amount must be positive, got %', p_amount using errcode = '22023';
  end if;
  select * into v_gen from public.generations where id = p_gen_id for update;
  if not found or v_gen.user_id <> p_user_id then
    raise exception 'generation % not found for user %', p_gen_id, p_user_id using errcode = 'PT404';
  end if;
  if v_gen.status not in ('queued', 'processing') then
    raise exception 'generation % is already %', p_gen_id, v_gen.status using errcode = 'PT409';
  end if;
  if exists (select from public.credit_transactions
             where generation_id = p_gen_id and type = 'deduction') then
    raise exception 'generation % is already charged', p_gen_id using errcode = 'PT409';
  end if;
  return public._post_ledger_entry(p_user_id, -p_amount, 'deduction', p_gen_id,
                                   'charge for generation ' || p_gen_id);
end
$$;

-- refund_credits: give back a failed or canceled generation's charge, once. Changes nothing, and says
-- why, for a generation that is unknown, unfinished, succeeded, never charged or already refunded.
-- Returns one of: refunded, not_found, not_finished, succeeded, not_charged, already_refunded.
create function public.refund_credits(p_gen_id uuid) returns text
language plpgsql security definer set search_path = '' as $$
declare
  v_gen public.generations;
  v_charged integer;
begin
  select * into v_gen from public.generations where id = p_gen_id for update;
  if not found then
    return 'not_found';
  elsif v_gen.status = 'succeeded' then
    return 'succeeded';
  elsif v_gen.status not in ('failed', 'canceled') then
    return 'not_finished';
  end if;
  select -amount into v_charged from public.credit_transactions
    where generation_id = p_gen_id and type = 'deduction';
  if not found then
    return 'not_charged';
  end if;
  if exists (select from public.credit_transactions where generation_id = p_gen_id and type = 'refund') then
    return 'already_refunded';
  end if;
  perform public._post_ledger_entry(v_gen.user_id, v_charged, 'refund', p_gen_id,
                                    'refund for ' || v_gen.status || ' generation ' || p_gen_id);
  return 'refunded';
end
$$;

-- The read shape of one generation, as the API answers it (contract: "A generation").
-- Functions here are plpgsql, not `language sql`: a security definer SQL function is never inlined
-- and is planned again on every call (this one cost ~250 us as SQL, ~40 us as plpgsql).
create function public._generation_json(g public.generations) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
begin
  return jsonb_build_object(
    'generation_id', g.id, 'user_id', g.user_id, 'kind', g.kind, 'model', g.model,
    'resolution', g.resolution, 'prompt', g.prompt, 'negative_prompt', g.negative_prompt,
    'seed', g.seed, 'aspect_ratio', g.aspect_ratio, 'image_path', g.image_path,
    'status', g.status, 'progress', g.progress, 'replicate_id', g.replicate_id,
    'output_url', g.output_url, 'video_path', g.video_path, 'video_lost', g.video_lost,
    'video_copy_attempts', g.video_copy_attempts, 'error', g.error,
    'error_code', g.error_code, 'cost', g.cost, 'retry_of', g.retry_of,
    'refunded', g.status in ('failed', 'canceled') and exists (
      select from public.credit_transactions t where t.generation_id = g.id and t.type = 'refund'),
    'created_at', g.created_at, 'updated_at', g.updated_at, 'completed_at', g.completed_at);
end
$$;

-- create_generation: the create path's one transaction. Replays a known Idempotency-Key, enforces
-- the active limit, checks the balance, inserts the generation as 'queued' and charges it.
-- The balance lock is taken as late as possible: the generation is inserted first, then one guarded
-- UPDATE (balance and limit in its WHERE) charges it, so the lock covers only that UPDATE, the ledger
-- row and the commit. A refused charge raises, which rolls the inserted generation back. The key's
-- unique index decides idempotency: a second request with the same key waits for the first to
-- commit (ON CONFLICT) and then replays it.
-- Returns the generation (see _generation_json) plus 'credits_remaining' and 'replayed'.
create function public.create_generation(
  p_user_id uuid,
  p_kind text,
  p_model text,
  p_resolution text,
  p_prompt text,
  p_cost integer,
  p_max_active integer,
  p_negative_prompt text default null,
  p_seed bigint default null,
  p_aspect_ratio text default null,
  p_image_path text default null,
  p_idempotency_key text default null,
  p_request_hash text default null,
  p_retry_of uuid default null
) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_gen public.generations;
  v_id uuid := gen_random_uuid();
  v_profile public.profiles;
  v_balance integer;
begin
  if not exists (select from public.profiles where id = p_user_id) then
    raise exception 'no profile for user %', p_user_id using errcode = 'PT404';
  end if;

  perform set_config('wan.counting_in_create', v_id::text, true);
  insert into public.generations (id, user_id, kind, model, resolution, prompt, negative_prompt, seed,
                                  aspect_ratio, image_path, cost, idempotency_key, request_hash, retry_of)
    values (v_id, p_user_id, p_kind, p_model, p_resolution, p_prompt, p_negative_prompt, p_seed,
            p_aspect_ratio, p_image_path, p_cost, p_idempotency_key, p_request_hash, p_retry_of)
    on conflict (user_id, idempotency_key) where idempotency_key is not null do nothing
    returning * into v_gen;

  if not found then  -- the key was used before (and that request has committed): replay it
    select * into v_gen from public.generations
      where user_id = p_user_id and idempotency_key = p_idempotency_key;
    if v_gen.request_hash is distinct from p_request_hash then
      raise exception 'this Idempotency-Key was already used with a different request'
        using errcode = 'PT409', hint = 'idempotency_key_reused';
    end if;
    return public._generation_json(v_gen) || jsonb_build_object(
      'replayed', true,
      'credits_remaining', (select balance_after from public.credit_transactions
                            where generation_id = v_gen.id and type = 'deduction'));
  end if;

  -- The charge: balance and limit checked and moved in one guarded UPDATE, under the row lock.
  update public.profiles
     set credits = credits - p_cost, active_generations = active_generations + 1, updated_at = now()
   where id = p_user_id and credits >= p_cost and active_generations < p_max_active
  returning credits into v_balance;

  if not found then  -- say why; raising rolls the generation back
    select * into v_profile from public.profiles where id = p_user_id;
    if v_profile.active_generations >= p_max_active then
      raise exception 'you already have % generations in progress (the limit is %)',
        v_profile.active_generations, p_max_active
        using errcode = 'PT429',
              detail = json_build_object('active', v_profile.active_generations, 'limit', p_max_active)::text;
    end if;
    raise exception 'insufficient credits: % required, % available', p_cost, v_profile.credits
      using errcode = 'PT402', detail = json_build_object('required', p_cost, 'balance', v_profile.credits)::text;
  end if;

  insert into public.credit_transactions (user_id, amount, type, generation_id, description, balance_after)
    values (p_user_id, -p_cost, 'deduction', v_gen.id, 'charge for generation ' || v_gen.id, v_balance);
  return public._generation_json(v_gen)
    || jsonb_build_object('replayed', false, 'credits_remaining', v_balance);
end
$$;

-- ledger_discrepancies: every way the money rules can be broken, as rows; empty when all is well.
create function public.ledger_discrepancies()
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
$$;

-- Keeps profiles.active_generations equal to the user's queued + processing generations, whatever
-- inserts, updates or deletes them. create_generation counts its own insert in the UPDATE that charges
-- it, so the trigger skips exactly that row (a transaction-local setting names it).
create function public._count_active_generations() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  v_was integer := case when tg_op in ('UPDATE', 'DELETE') and old.status in ('queued', 'processing') then 1 else 0 end;
  v_is integer := case when tg_op in ('INSERT', 'UPDATE') and new.status in ('queued', 'processing') then 1 else 0 end;
begin
  if tg_op = 'INSERT' and current_setting('wan.counting_in_create', true) = new.id::text then
    return null;
  end if;
  if v_is <> v_was then
    update public.profiles set active_generations = active_generations + v_is - v_was
     where id = coalesce(new.user_id, old.user_id);
  end if;
  return null;
end
$$;


create trigger count_active_generations
  after insert or update of status or delete on public.generations
  for each row execute function public._count_active_generations();

-- Sign-up: every auth user gets a profile; a permanent (non-anonymous) one gets the 100-credit bonus
-- once, also when an anonymous user later becomes permanent. Never raises: a failing trigger would
-- block sign-ups, so a problem is logged as a warning instead.
create function public.handle_new_user() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  begin
    insert into public.profiles (id, email) values (new.id, new.email) on conflict (id) do nothing;
  exception when others then
    raise warning 'handle_new_user(%): no profile: % (%)', new.id, sqlerrm, sqlstate;
    return new;
  end;
  if not coalesce(new.is_anonymous, false) then
    begin
      if not exists (select from public.credit_transactions
                     where user_id = new.id and type = 'signup_bonus') then
        perform public._post_ledger_entry(new.id, 100, 'signup_bonus', null, 'welcome bonus');
      end if;
    exception when others then
      raise warning 'handle_new_user(%): no signup bonus: % (%)', new.id, sqlerrm, sqlstate;
    end;
  end if;
  return new;
end
$$;

create trigger on_auth_user_created after insert on auth.users
  for each row execute function public.handle_new_user();
create trigger on_auth_user_made_permanent after update of is_anonymous on auth.users
  for each row when (old.is_anonymous and not new.is_anonymous)
  execute function public.handle_new_user();

-- Only the service (service_role, or the owner over a direct connection) may move money.
revoke execute on function
  public._post_ledger_entry(uuid, integer, text, uuid, text),
  public.add_credits(uuid, integer, text, text),
  public.deduct_credits(uuid, integer, uuid),
  public.refund_credits(uuid),
  public._generation_json(public.generations),
  public.create_generation(uuid, text, text, text, text, integer, integer, text, bigint, text, text, text, text, uuid),
  public.ledger_discrepancies(),
  public.handle_new_user(),
  public._count_active_generations()
  from public, anon, authenticated, service_role;
grant execute on function
  public.add_credits(uuid, integer, text, text),
  public.deduct_credits(uuid, integer, uuid),
  public.refund_credits(uuid),
  public.create_generation(uuid, text, text, text, text, integer, integer, text, bigint, text, text, text, text, uuid),
  public.ledger_discrepancies()
  to service_role;
