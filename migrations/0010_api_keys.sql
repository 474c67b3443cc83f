-- Issue 13: personal API keys, and per-minute rate limits kept in Postgres.
--
-- API keys: only a salted scrypt hash of the secret is stored (shared/api_keys.py makes and checks it);
-- the prefix finds the row, the last characters are for display. At most 10 active keys per user,
-- decided under a per-user advisory lock so that concurrent creates cannot pass it.
--
-- Rate limits: fixed one-minute windows, one row per (subject, bucket). A hit is one upsert whose
-- DO UPDATE has the limit in its WHERE: a refused hit changes nothing, so the count never passes the
-- limit, and the row lock makes concurrent hits exact at the boundary.

create table public.api_keys (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references public.profiles (id) on delete cascade,
  name text not null check (length(name) between 1 and 100),
  prefix text not null unique check (prefix ~ '^[0-9a-f]{8}$'),
  last_chars text not null check (length(last_chars) = 4),
  secret_hash text not null,     -- base64 of scrypt(secret, salt)
  salt text not null,            -- base64
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);
create index api_keys_by_user on public.api_keys (user_id);  -- the key's own columns (splinter 0001)

create table public.rate_counters (
  subject uuid not null,          -- a user, or the nil uuid for the whole service
  bucket text not null,           -- 'create', 'request', 'create_global'
  window_start timestamptz not null,
  hits integer not null check (hits >= 0),
  primary key (subject, bucket)
);

alter table public.api_keys enable row level security;
alter table public.rate_counters enable row level security;
-- Explicit grants: the service reads; every write goes through the functions below. Users reach
-- their keys through the API only (the secret hash is not theirs to read either).
revoke all on public.api_keys, public.rate_counters from public, anon, authenticated, service_role;
grant select on public.api_keys, public.rate_counters to service_role;


-- create_api_key: store a new key for a user, unless they already have p_max_active active ones.
create function public.create_api_key(
  p_user_id uuid, p_name text, p_prefix text, p_last_chars text, p_secret_hash text, p_salt text,
  p_max_active integer
) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_key public.api_keys;
  v_active integer;
begin
  if not exists (select from public.profiles where id = p_user_id) then
    raise exception 'no profile for user %', p_user_id using errcode = 'PT404';
  end if;
  -- One creator per user at a time: the count below and the insert cannot interleave.
  perform pg_advisory_xact_lock(hashtextextended('api_keys:' || p_user_id::text, 0));
  select count(*) into v_active from public.api_keys where user_id = p_user_id and revoked_at is null;
  if v_active >= p_max_active then
    raise exception 'you already have % active API keys, the most allowed; revoke one first', v_active
      using errcode = 'PT409';
  end if;
  insert into public.api_keys (user_id, name, prefix, last_chars, secret_hash, salt)
    values (p_user_id, p_name, p_prefix, p_last_chars, p_secret_hash, p_salt)
    returning * into v_key;
  return public._api_key_json(v_key);
end
$$;

create function public._api_key_json(p_key public.api_keys) returns jsonb
language sql immutable security definer set search_path = '' as $$
  select jsonb_build_object(
    'id', p_key.id, 'name', p_key.name, 'prefix', p_key.prefix, 'last_chars', p_key.last_chars,
    'created_at', p_key.created_at, 'last_used_at', p_key.last_used_at, 'revoked_at', p_key.revoked_at,
    'status', case when p_key.revoked_at is null then 'active' else 'revoked' end)
$$;

-- list_api_keys: the user's keys, newest first, without their hashes.
create function public.list_api_keys(p_user_id uuid) returns jsonb
language sql stable security definer set search_path = '' as $$
  select coalesce(jsonb_agg(public._api_key_json(k) order by k.created_at desc, k.id), '[]'::jsonb)
    from public.api_keys k where k.user_id = p_user_id
$$;

-- revoke_api_key: PT404 for a key that is not the user's; revoking twice keeps the first time.
create function public.revoke_api_key(p_user_id uuid, p_key_id uuid) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_key public.api_keys;
begin
  update public.api_keys set revoked_at = coalesce(revoked_at, now())
    where id = p_key_id and user_id = p_user_id returning * into v_key;
  if not found then
    raise exception 'no such API key' using errcode = 'PT404';
  end if;
  return public._api_key_json(v_key);
end
$$;

-- api_key_by_prefix: what verifying a key needs (the service checks the hash itself).
create function public.api_key_by_prefix(p_prefix text) returns jsonb
language sql stable security definer set search_path = '' as $$
  select jsonb_build_object('id', k.id, 'user_id', k.user_id, 'revoked', k.revoked_at is not null,
                            'secret_hash', k.secret_hash, 'salt', k.salt)
    from public.api_keys k where k.prefix = p_prefix
$$;


-- Internal: one hit on a fixed one-minute window, in the caller's transaction. Returns
-- {allowed, limit, remaining, reset} (reset: seconds until the window ends). A refused hit counts nothing.
create function public._hit_rate(p_subject uuid, p_bucket text, p_limit integer) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_window timestamptz := date_trunc('minute', now());
  v_hits integer;
  v_reset integer := greatest(1, ceil(extract(epoch from (v_window + interval '1 minute' - now())))::integer);
begin
  insert into public.rate_counters as c (subject, bucket, window_start, hits)
    values (p_subject, p_bucket, v_window, 1)
    on conflict (subject, bucket) do update
      set hits = case when c.window_start = excluded.window_start then c.hits + 1 else 1 end,
          window_start = excluded.window_start
      where c.window_start <> excluded.window_start or c.hits < p_limit
    returning hits into v_hits;
  if v_hits is null then
    return jsonb_build_object('allowed', false, 'limit', p_limit, 'remaining', 0, 'reset', v_reset);
  end if;
  return jsonb_build_object('allowed', true, 'limit', p_limit, 'remaining', greatest(0, p_limit - v_hits),
                            'reset', v_reset);
end
$$;

-- Internal: note that a key was used, at most once a minute per key (no write on most calls).
create function public._touch_api_key(p_key_id uuid) returns void
language sql security definer set search_path = '' as $$
  update public.api_keys set last_used_at = now()
    where id = p_key_id and (last_used_at is null or last_used_at < now() - interval '1 minute')
$$;

-- hit_request_rate: every user call but a create costs one hit of the user's 'request' bucket (and
-- notes the key's use). Not an error when refused: the service answers the 429 with the headers.
create function public.hit_request_rate(p_user_id uuid, p_limit integer, p_api_key_id uuid default null)
returns jsonb
language plpgsql security definer set search_path = '' as $$
begin
  if p_api_key_id is not null then
    perform public._touch_api_key(p_api_key_id);
  end if;
  return public._hit_rate(p_user_id, 'request', p_limit);
end
$$;

-- create_generation_limited: create_generation (0001) behind the create limits, in ONE transaction (the
-- create path keeps its 2 round trips). The generation is created first: a replayed Idempotency-Key
-- counts nothing, and a refused create (402, 409, 429 active) rolls its hits back with it. Then the
-- service-wide valve and the user's create bucket; a refusal raises PT429 (hint rate_limited), which
-- rolls the new generation and its charge back. Returns create_generation's answer plus 'rate'.
create function public.create_generation_limited(
  p_user_id uuid, p_kind text, p_model text, p_resolution text, p_prompt text, p_cost integer,
  p_max_active integer, p_rate_limit integer, p_global_limit integer,
  p_negative_prompt text default null, p_seed bigint default null, p_aspect_ratio text default null,
  p_image_path text default null, p_idempotency_key text default null, p_request_hash text default null,
  p_retry_of uuid default null, p_api_key_id uuid default null
) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_created jsonb;
  v_rate jsonb;
  v_global jsonb;
begin
  v_created := public.create_generation(p_user_id, p_kind, p_model, p_resolution, p_prompt, p_cost,
    p_max_active, p_negative_prompt, p_seed, p_aspect_ratio, p_image_path, p_idempotency_key,
    p_request_hash, p_retry_of);
  if p_api_key_id is not null then
    perform public._touch_api_key(p_api_key_id);
  end if;
  if (v_created ->> 'replayed')::boolean then
    return v_created;
  end if;
  -- The user's bucket first: a user at their own limit does not spend the service's.
  v_rate := public._hit_rate(p_user_id, 'create', p_rate_limit);
  if not (v_rate ->> 'allowed')::boolean then
    raise exception 'you have made % generations this minute, the most allowed', p_rate_limit
      using errcode = 'PT429', hint = 'rate_limited', detail = (v_rate || '{"scope": "user"}')::text;
  end if;
  v_global := public._hit_rate('00000000-0000-0000-0000-000000000000', 'create_global', p_global_limit);
  if not (v_global ->> 'allowed')::boolean then
    raise exception 'the service is taking no more new generations this minute'
      using errcode = 'PT429', hint = 'rate_limited', detail = (v_global || '{"scope": "service"}')::text;
  end if;
  return v_created || jsonb_build_object('rate', v_rate);
end
$$;

revoke execute on function
  public.create_api_key(uuid, text, text, text, text, text, integer),
  public._api_key_json(public.api_keys),
  public.list_api_keys(uuid),
  public.revoke_api_key(uuid, uuid),
  public.api_key_by_prefix(text),
  public._hit_rate(uuid, text, integer),
  public._touch_api_key(uuid),
  public.hit_request_rate(uuid, integer, uuid),
  public.create_generation_limited(uuid, text, text, text, text, integer, integer, integer, integer, text,
                                   bigint, text, text, text, text, uuid, uuid)
  from public, anon, authenticated, service_role;
grant execute on function
  public.create_api_key(uuid, text, text, text, text, text, integer),
  public.list_api_keys(uuid),
  public.revoke_api_key(uuid, uuid),
  public.api_key_by_prefix(text),
  public.hit_request_rate(uuid, integer, uuid),
  public.create_generation_limited(uuid, text, text, text, text, integer, integer, integer, integer, text,
                                   bigint, text, text, text, text, uuid, uuid)
  to service_role;
