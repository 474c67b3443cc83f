-- Push instead of polling (issue 23, contract section 3): the caller's webhook on a generation, the
-- user's signing secret, and an outbox of deliveries.
--
-- The outbox is written by a trigger on public.generations, so every function that changes a
-- generation's status or progress (record_prediction, mark_processing, _finish_generation,
-- fail_generation, cancel_generation, and any added later) writes its deliveries in its own
-- transaction without being redefined: a rollback writes none, a crash after the commit loses none
-- (the sweep sends what is due). The trigger is a deferred constraint trigger: it runs at commit,
-- after the refund of a failed generation is written, so the `completed` payload says `refunded`.

alter table public.generations
  add column webhook_url text check (char_length(webhook_url) <= 2048),
  add column webhook_events jsonb;

create table public.webhook_secrets (
  user_id uuid primary key references auth.users (id) on delete cascade,
  secret text not null,
  previous_secret text,
  rotated_at timestamptz
);

create table public.webhook_deliveries (
  seq bigint generated always as identity primary key,   -- the log's order
  event_id text not null unique,                          -- the webhook-id, the same on every retry
  generation_id uuid not null references public.generations (id) on delete cascade,
  user_id uuid not null,
  type text not null check (type in ('generation.start', 'generation.progress', 'generation.completed')),
  url text not null,
  payload jsonb not null,                                 -- _generation_json at the event
  status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
  attempts integer not null default 0,
  last_status_code integer,
  last_error text,
  next_attempt_at timestamptz not null default now(),
  leased_until timestamptz,                               -- a sender holds it until then (in flight)
  created_at timestamptz not null default now(),
  delivered_at timestamptz
);
create index webhook_deliveries_due on public.webhook_deliveries (next_attempt_at) where status = 'pending';
create index webhook_deliveries_generation on public.webhook_deliveries (generation_id);
create index webhook_deliveries_in_flight on public.webhook_deliveries (user_id) where status = 'pending';

alter table public.webhook_secrets enable row level security;
alter table public.webhook_deliveries enable row level security;
revoke all on public.webhook_secrets, public.webhook_deliveries from public, anon, authenticated, service_role;
grant select on public.webhook_deliveries to service_role;

-- Retry delays after the 1st, 2nd, ... failed attempt (Standard Webhooks' suggested schedule):
-- 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over about 27 hours, then `failed`.
create function public._webhook_retry_delay(p_attempts integer) returns interval
language sql immutable security definer set search_path = '' as $$
  select make_interval(secs => (array[5, 300, 1800, 7200, 18000, 36000, 36000])[p_attempts])
$$;

-- A Standard Webhooks secret: whsec_ + base64 of 32 bytes, from two v4 UUIDs (pg_strong_random:
-- 244 random bits), so that no extension is needed.
create function public._new_webhook_secret() returns text
language sql volatile security definer set search_path = '' as $$
  select 'whsec_' || encode(decode(replace(gen_random_uuid()::text, '-', '')
                                   || replace(gen_random_uuid()::text, '-', ''), 'hex'), 'base64')
$$;

create function public._webhook_secret_json(s public.webhook_secrets) returns jsonb
language sql stable security definer set search_path = '' as $$
  select jsonb_build_object('secret', s.secret, 'previous_secret',
    case when s.rotated_at > now() - interval '24 hours' then s.previous_secret end)
$$;

-- webhook_secret: the user's signing secret, made on first use. {"secret", "previous_secret"}
-- (the old one for 24 h after a rotation, else null).
create function public.webhook_secret(p_user_id uuid) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v public.webhook_secrets;
begin
  insert into public.webhook_secrets (user_id, secret) values (p_user_id, public._new_webhook_secret())
    on conflict (user_id) do nothing;
  select * into v from public.webhook_secrets where user_id = p_user_id;
  return public._webhook_secret_json(v);
end
$$;

-- rotate_webhook_secret: a new secret; the current one keeps signing beside it for 24 h.
create function public.rotate_webhook_secret(p_user_id uuid) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v public.webhook_secrets;
begin
  perform public.webhook_secret(p_user_id);
  update public.webhook_secrets
     set previous_secret = secret, secret = public._new_webhook_secret(), rotated_at = now()
   where user_id = p_user_id
  returning * into v;
  return public._webhook_secret_json(v);
end
$$;

-- create_generation_pushed: create_generation_limited (unchanged, same parameters) plus the
-- caller's webhook, set in the same transaction (before any state change can queue a delivery).
create function public.create_generation_pushed(
  p_user_id uuid, p_kind text, p_model text, p_resolution text, p_prompt text, p_cost integer,
  p_max_active integer, p_rate_limit integer, p_global_limit integer,
  p_negative_prompt text default null, p_seed bigint default null, p_aspect_ratio text default null,
  p_image_path text default null, p_idempotency_key text default null, p_request_hash text default null,
  p_retry_of uuid default null, p_api_key_id uuid default null,
  p_webhook_url text default null, p_webhook_events jsonb default null
) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_created jsonb;
begin
  v_created := public.create_generation_limited(
    p_user_id => p_user_id, p_kind => p_kind, p_model => p_model, p_resolution => p_resolution,
    p_prompt => p_prompt, p_cost => p_cost, p_max_active => p_max_active, p_rate_limit => p_rate_limit,
    p_global_limit => p_global_limit, p_negative_prompt => p_negative_prompt, p_seed => p_seed,
    p_aspect_ratio => p_aspect_ratio, p_image_path => p_image_path, p_idempotency_key => p_idempotency_key,
    p_request_hash => p_request_hash, p_retry_of => p_retry_of, p_api_key_id => p_api_key_id);
  if p_webhook_url is not null and not (v_created ->> 'replayed')::boolean then
    update public.generations
       set webhook_url = p_webhook_url, webhook_events = coalesce(p_webhook_events, '["completed"]'::jsonb)
     where id = (v_created ->> 'generation_id')::uuid;
    perform public.webhook_secret(p_user_id);
  end if;
  return v_created;
end
$$;

-- The outbox: one delivery per subscribed event of a state change (see the header).
create function public._queue_webhook_deliveries() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  v_gen public.generations;
  v_events jsonb;
  v_data jsonb;
begin
  select * into v_gen from public.generations where id = new.id;  -- as it is at commit
  v_events := coalesce(v_gen.webhook_events, '["completed"]'::jsonb);
  if v_gen.webhook_url is null or v_gen.deleted_at is not null
     or old.status in ('succeeded', 'failed', 'canceled') then
    return null;
  end if;
  v_data := public._generation_json(v_gen);
  if old.status = 'queued' and new.status <> 'queued' and v_events ? 'start' then
    perform public._queue_delivery(v_gen, 'generation.start', v_data);
  end if;
  if new.status in ('succeeded', 'failed', 'canceled') then
    if v_events ? 'completed' then
      perform public._queue_delivery(v_gen, 'generation.completed', v_data);
    end if;
  elsif new.progress is distinct from old.progress and new.status = 'processing' and v_events ? 'progress' then
    -- A progress event not yet tried is brought up to date instead of queueing one more.
    update public.webhook_deliveries set payload = v_data
     where generation_id = v_gen.id and type = 'generation.progress' and status = 'pending'
       and attempts = 0 and leased_until is null;
    if not found then
      perform public._queue_delivery(v_gen, 'generation.progress', v_data);
    end if;
  end if;
  return null;
end
$$;

create function public._queue_delivery(g public.generations, p_type text, p_data jsonb) returns void
language sql security definer set search_path = '' as $$
  insert into public.webhook_deliveries (event_id, generation_id, user_id, type, url, payload)
  values ('msg_' || replace(gen_random_uuid()::text, '-', ''), g.id, g.user_id, p_type, g.webhook_url, p_data)
$$;

create constraint trigger queue_webhook_deliveries
  after update of status, progress on public.generations
  deferrable initially deferred
  for each row
  when (new.webhook_url is not null and (old.status is distinct from new.status
                                         or old.progress is distinct from new.progress))
  execute function public._queue_webhook_deliveries();

-- Deleting a generation stops its pending deliveries.
create function public._stop_webhook_deliveries() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  update public.webhook_deliveries
     set status = 'failed', last_error = 'the generation was deleted', leased_until = null
   where generation_id = new.id and status = 'pending';
  return null;
end
$$;

create trigger stop_webhook_deliveries
  after update of deleted_at on public.generations
  for each row when (old.deleted_at is null and new.deleted_at is not null)
  execute function public._stop_webhook_deliveries();

-- claim_webhook_deliveries: pending deliveries that are due (of one generation, or all), oldest
-- first, leased for p_lease_seconds, with the signing secrets. At most p_max_in_flight of one user
-- are leased at once (a per-user advisory lock makes the count exact against concurrent claims), so
-- one slow receiver cannot take every sender. A lease that ran out (a crashed sender) is due again.
create function public.claim_webhook_deliveries(
  p_generation_id uuid default null, p_limit integer default 50, p_max_in_flight integer default 4,
  p_lease_seconds integer default 30
) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_row public.webhook_deliveries;
  v_busy integer;
  v_out jsonb := '[]'::jsonb;
  v_secret jsonb;
begin
  for v_row in
    select * from public.webhook_deliveries
     where status = 'pending' and next_attempt_at <= now()
       and (leased_until is null or leased_until < now())
       and (p_generation_id is null or generation_id = p_generation_id)
     order by seq
     for update skip locked
     limit p_limit * 4
  loop
    exit when jsonb_array_length(v_out) >= p_limit;
    perform pg_advisory_xact_lock(hashtextextended('webhook_deliveries:' || v_row.user_id::text, 0));
    select count(*) into v_busy from public.webhook_deliveries
     where user_id = v_row.user_id and status = 'pending' and leased_until >= now();
    continue when v_busy >= p_max_in_flight;
    update public.webhook_deliveries
       set leased_until = now() + make_interval(secs => p_lease_seconds), attempts = attempts + 1
     where seq = v_row.seq
    returning * into v_row;
    v_secret := public.webhook_secret(v_row.user_id);
    v_out := v_out || jsonb_build_object(
      'event_id', v_row.event_id, 'generation_id', v_row.generation_id, 'type', v_row.type,
      'url', v_row.url, 'payload', v_row.payload, 'attempts', v_row.attempts,
      'created_at', v_row.created_at, 'secrets', jsonb_build_array(v_secret -> 'secret')
        || case when v_secret ->> 'previous_secret' is null then '[]'::jsonb
                else jsonb_build_array(v_secret -> 'previous_secret') end);
  end loop;
  return v_out;
end
$$;

-- record_webhook_attempt: what one attempt got. 2xx: delivered. Otherwise retried after the
-- schedule's delay, or failed once the schedule is used up. Only the sender holding the lease's
-- attempt counts (an attempt number that is not the row's changes nothing).
create function public.record_webhook_attempt(
  p_event_id text, p_attempt integer, p_status_code integer default null, p_error text default null
) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_row public.webhook_deliveries;
  v_delay interval;
begin
  select * into v_row from public.webhook_deliveries where event_id = p_event_id for update;
  if not found or v_row.status <> 'pending' or v_row.attempts <> p_attempt then
    return jsonb_build_object('outcome', 'stale');
  end if;
  if p_status_code between 200 and 299 then
    update public.webhook_deliveries
       set status = 'delivered', delivered_at = now(), last_status_code = p_status_code,
           last_error = null, leased_until = null
     where seq = v_row.seq;
    return jsonb_build_object('outcome', 'delivered');
  end if;
  v_delay := public._webhook_retry_delay(v_row.attempts);
  update public.webhook_deliveries
     set status = case when v_delay is null then 'failed' else 'pending' end,
         next_attempt_at = case when v_delay is null then next_attempt_at else now() + v_delay end,
         last_status_code = p_status_code, last_error = left(p_error, 500), leased_until = null
   where seq = v_row.seq;
  return jsonb_build_object('outcome', case when v_delay is null then 'failed' else 'retry' end);
end
$$;

create function public._delivery_json(d public.webhook_deliveries) returns jsonb
language sql stable security definer set search_path = '' as $$
  select jsonb_build_object('event_id', d.event_id, 'type', d.type, 'status', d.status,
    'attempts', d.attempts, 'last_status_code', d.last_status_code,
    'next_attempt_at', case when d.status = 'pending' then d.next_attempt_at end)
$$;

create function public._own_generation(p_user_id uuid, p_gen_id uuid) returns void
language plpgsql stable security definer set search_path = '' as $$
begin
  perform 1 from public.generations where id = p_gen_id and user_id = p_user_id and deleted_at is null;
  if not found then
    raise exception 'generation % not found', p_gen_id using errcode = 'PT404';
  end if;
end
$$;

-- list_webhook_deliveries: the log of one of the user's generations, in the order it was written.
create function public.list_webhook_deliveries(p_user_id uuid, p_gen_id uuid) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
begin
  perform public._own_generation(p_user_id, p_gen_id);
  return (select coalesce(jsonb_agg(public._delivery_json(d) order by d.seq), '[]'::jsonb)
            from public.webhook_deliveries d where d.generation_id = p_gen_id);
end
$$;

-- retry_webhook_delivery: send one delivery again now (same event id), whatever its status; a
-- failed one gets one more attempt.
create function public.retry_webhook_delivery(p_user_id uuid, p_gen_id uuid, p_event_id text) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_row public.webhook_deliveries;
begin
  perform public._own_generation(p_user_id, p_gen_id);
  update public.webhook_deliveries
     set status = 'pending', next_attempt_at = now(), leased_until = null,
         attempts = least(attempts, 7)  -- one more attempt before the schedule ends again
   where generation_id = p_gen_id and event_id = p_event_id
  returning * into v_row;
  if not found then
    raise exception 'delivery % not found', p_event_id using errcode = 'PT404';
  end if;
  return public._delivery_json(v_row);
end
$$;

-- _generation_json (last defined in 0009): unchanged, plus `webhook_url` and `webhook_events` (the
-- service's own view; GET /status does not show them), so that retry keeps them and the service
-- knows a state change has deliveries to send.
create or replace function public._generation_json(g public.generations) returns jsonb
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
    'settled_by', g.settled_by, 'started_at', g.started_at,
    'expired', g.video_deleted_at is not null, 'image_expired', g.image_deleted_at is not null,
    'deleted', g.deleted_at is not null,
    'created_at', g.created_at, 'updated_at', g.updated_at, 'completed_at', g.completed_at)
    || jsonb_build_object('webhook_url', g.webhook_url, 'webhook_events', g.webhook_events);
end
$$;

-- watch_generations: the status stream's one read per tick for every generation a process watches
-- (at most 500 ids): each generation's object, for the streams' owners only.
create function public.watch_generations(p_ids jsonb) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
begin
  return (select coalesce(jsonb_agg(public._generation_json(g)), '[]'::jsonb)
            from public.generations g
           where g.id = any (public._uuids(p_ids)) and g.deleted_at is null);
end
$$;

revoke execute on function
  public._webhook_retry_delay(integer), public._new_webhook_secret(),
  public._webhook_secret_json(public.webhook_secrets), public.webhook_secret(uuid),
  public.rotate_webhook_secret(uuid),
  public.create_generation_pushed(uuid, text, text, text, text, integer, integer, integer, integer, text,
                                  bigint, text, text, text, text, uuid, uuid, text, jsonb),
  public._queue_webhook_deliveries(), public._queue_delivery(public.generations, text, jsonb),
  public._stop_webhook_deliveries(), public.claim_webhook_deliveries(uuid, integer, integer, integer),
  public.record_webhook_attempt(text, integer, integer, text), public._delivery_json(public.webhook_deliveries),
  public._own_generation(uuid, uuid), public.list_webhook_deliveries(uuid, uuid),
  public.retry_webhook_delivery(uuid, uuid, text), public.watch_generations(jsonb)
  from public, anon, authenticated, service_role;
grant execute on function
  public.webhook_secret(uuid), public.rotate_webhook_secret(uuid),
  public.create_generation_pushed(uuid, text, text, text, text, integer, integer, integer, integer, text,
                                  bigint, text, text, text, text, uuid, uuid, text, jsonb),
  public.claim_webhook_deliveries(uuid, integer, integer, integer),
  public.record_webhook_attempt(text, integer, integer, text),
  public.list_webhook_deliveries(uuid, uuid), public.retry_webhook_delivery(uuid, uuid, text),
  public.watch_generations(jsonb)
  to service_role;
