-- The database schema as migrations/ leave it (schemas public, wan_private). GENERATED, do not edit:
-- change the schema with a new migration, then regenerate this file with
--   .venv/bin/python -m wan_local.schema_dump > docs/schema.sql
-- (tests/test_schema_dump.py fails while it is stale).

--
-- PostgreSQL database dump
--

--
-- Name: public; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA public;

--
-- Name: SCHEMA public; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON SCHEMA public IS 'standard public schema';

--
-- Name: wan_private; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA wan_private;

--
-- Name: profiles; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.profiles (
    id uuid NOT NULL,
    email text,
    credits integer DEFAULT 0 NOT NULL,
    active_generations integer DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    blocked_at timestamp with time zone,
    blocked_reason text,
    CONSTRAINT active_never_negative CHECK ((active_generations >= 0)),
    CONSTRAINT blocked_has_reason CHECK (((blocked_at IS NULL) = (blocked_reason IS NULL))),
    CONSTRAINT credits_never_negative CHECK ((credits >= 0))
);

--
-- Name: _admin_user_summary(public.profiles); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._admin_user_summary(p public.profiles) RETURNS jsonb
    LANGUAGE sql IMMUTABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select jsonb_build_object('user_id', p.id, 'email', p.email, 'balance', p.credits,
                            'blocked', p.blocked_at is not null, 'created_at', p.created_at)
$$;

--
-- Name: _analytics_day(date); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._analytics_day(p_day date) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: api_keys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.api_keys (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    user_id uuid NOT NULL,
    name text NOT NULL,
    prefix text NOT NULL,
    last_chars text NOT NULL,
    secret_hash text NOT NULL,
    salt text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    last_used_at timestamp with time zone,
    revoked_at timestamp with time zone,
    CONSTRAINT api_keys_last_chars_check CHECK ((length(last_chars) = 4)),
    CONSTRAINT api_keys_name_check CHECK (((length(name) >= 1) AND (length(name) <= 100))),
    CONSTRAINT api_keys_prefix_check CHECK ((prefix ~ '^[0-9a-f]{8}$'::text))
);

--
-- Name: _api_key_json(public.api_keys); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._api_key_json(p_key public.api_keys) RETURNS jsonb
    LANGUAGE sql IMMUTABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select jsonb_build_object(
    'id', p_key.id, 'name', p_key.name, 'prefix', p_key.prefix, 'last_chars', p_key.last_chars,
    'created_at', p_key.created_at, 'last_used_at', p_key.last_used_at, 'revoked_at', p_key.revoked_at,
    'status', case when p_key.revoked_at is null then 'active' else 'revoked' end)
$$;

--
-- Name: _audit_is_append_only(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._audit_is_append_only() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  raise exception 'the admin audit is append-only (% refused)', tg_op using errcode = 'PT409';
end
$$;

--
-- Name: admin_audit; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.admin_audit (
    id bigint NOT NULL,
    at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    actor text NOT NULL,
    actor_id uuid,
    action text NOT NULL,
    user_id uuid,
    generation_id uuid,
    amount integer,
    reason text,
    detail jsonb DEFAULT '{}'::jsonb NOT NULL,
    CONSTRAINT admin_audit_action_check CHECK ((action = ANY (ARRAY['credits.adjust'::text, 'generation.refund'::text, 'user.block'::text, 'user.unblock'::text, 'admin.grant'::text, 'admin.revoke'::text, 'generation.settle'::text]))),
    CONSTRAINT admin_audit_actor_check CHECK ((length(btrim(actor)) > 0))
);

--
-- Name: _audit_json(public.admin_audit); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._audit_json(a public.admin_audit) RETURNS jsonb
    LANGUAGE sql IMMUTABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select jsonb_build_object('id', a.id, 'at', a.at, 'actor', a.actor, 'actor_id', a.actor_id,
                            'action', a.action, 'user_id', a.user_id, 'generation_id', a.generation_id,
                            'amount', a.amount, 'reason', a.reason, 'detail', a.detail)
$$;

--
-- Name: _count_active_generations(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._count_active_generations() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: webhook_deliveries; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_deliveries (
    seq bigint NOT NULL,
    event_id text NOT NULL,
    generation_id uuid NOT NULL,
    user_id uuid NOT NULL,
    type text NOT NULL,
    url text NOT NULL,
    payload jsonb NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    last_status_code integer,
    last_error text,
    next_attempt_at timestamp with time zone DEFAULT now() NOT NULL,
    leased_until timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    delivered_at timestamp with time zone,
    CONSTRAINT webhook_deliveries_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'delivered'::text, 'failed'::text]))),
    CONSTRAINT webhook_deliveries_type_check CHECK ((type = ANY (ARRAY['generation.start'::text, 'generation.progress'::text, 'generation.completed'::text])))
);

--
-- Name: _delivery_json(public.webhook_deliveries); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._delivery_json(d public.webhook_deliveries) RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select jsonb_build_object('event_id', d.event_id, 'type', d.type, 'status', d.status,
    'attempts', d.attempts, 'last_status_code', d.last_status_code,
    'next_attempt_at', case when d.status = 'pending' then d.next_attempt_at end)
$$;

--
-- Name: _dispute_rank(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._dispute_rank(p_status text) RETURNS integer
    LANGUAGE sql IMMUTABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select case p_status when 'open' then 0 when 'lost' then 1 when 'won' then 2 end
$$;

--
-- Name: _files_json(uuid[]); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._files_json(p_ids uuid[]) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  return coalesce((
    select jsonb_agg(jsonb_build_object(
             'generation_id', g.id,
             'video_path', case when g.video_deleted_at is null then g.video_path end,
             'image_path', case when g.image_deleted_at is null then g.image_path end,
             'image_shared', g.image_path is not null and exists (
               select from public.generations o
                where (o.image_path = g.image_path or o.last_image_path = g.image_path)      -- 0019
                  and o.image_deleted_at is null
                  and not (o.id = any (p_ids))),
             'last_image_path', case when g.image_deleted_at is null then g.last_image_path end,  -- 0019
             'last_image_shared', g.last_image_path is not null and exists (                      -- 0019
               select from public.generations o
                where (o.image_path = g.last_image_path or o.last_image_path = g.last_image_path)
                  and o.image_deleted_at is null
                  and not (o.id = any (p_ids)))) order by g.id)
    from public.generations g where g.id = any (p_ids)), '[]'::jsonb);
end
$$;

--
-- Name: generations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.generations (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    user_id uuid NOT NULL,
    kind text NOT NULL,
    model text NOT NULL,
    resolution text NOT NULL,
    prompt text NOT NULL,
    negative_prompt text,
    seed bigint,
    aspect_ratio text,
    image_path text,
    status text DEFAULT 'queued'::text NOT NULL,
    progress smallint DEFAULT 0 NOT NULL,
    replicate_id text,
    output_url text,
    video_path text,
    error text,
    error_code text,
    cost integer NOT NULL,
    idempotency_key text,
    request_hash text,
    retry_of uuid,
    last_event_at timestamp with time zone,
    polled_at timestamp with time zone,
    video_copy_attempts integer DEFAULT 0 NOT NULL,
    video_copy_error text,
    video_lost boolean DEFAULT false NOT NULL,
    sweep_claimed_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    completed_at timestamp with time zone,
    settled_by text,
    started_at timestamp with time zone,
    provider_completed_at timestamp with time zone,
    video_deleted_at timestamp with time zone,
    image_deleted_at timestamp with time zone,
    deleted_at timestamp with time zone,
    webhook_url text,
    webhook_events jsonb,
    favorite boolean DEFAULT false NOT NULL,
    extends uuid,
    last_image_path text,
    duration smallint,
    CONSTRAINT generations_cost_check CHECK ((cost > 0)),
    CONSTRAINT generations_duration_check CHECK ((duration > 0)),
    CONSTRAINT generations_kind_check CHECK ((kind = ANY (ARRAY['text-to-video'::text, 'image-to-video'::text]))),
    CONSTRAINT generations_progress_check CHECK (((progress >= 0) AND (progress <= 100))),
    CONSTRAINT generations_seed_check CHECK ((seed >= 0)),
    CONSTRAINT generations_settled_by_check CHECK ((settled_by = ANY (ARRAY['webhook'::text, 'status_poll'::text, 'sweep'::text, 'cancel'::text, 'create'::text]))),
    CONSTRAINT generations_status_check CHECK ((status = ANY (ARRAY['queued'::text, 'processing'::text, 'succeeded'::text, 'failed'::text, 'canceled'::text]))),
    CONSTRAINT generations_webhook_url_check CHECK ((char_length(webhook_url) <= 2048)),
    CONSTRAINT idempotency_key_has_hash CHECK (((idempotency_key IS NULL) OR (request_hash IS NOT NULL))),
    CONSTRAINT terminal_has_completed_at CHECK (((status = ANY (ARRAY['succeeded'::text, 'failed'::text, 'canceled'::text])) = (completed_at IS NOT NULL)))
);

--
-- Name: _finish_generation(public.generations, text, text, text, text, text, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._finish_generation(p_gen public.generations, p_status text, p_error text, p_error_code text, p_output_url text, p_settled_by text DEFAULT NULL::text, p_started_at timestamp with time zone DEFAULT NULL::timestamp with time zone, p_provider_completed_at timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS public.generations
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_gen public.generations;
begin
  update public.generations
     set status = p_status,
         progress = case when p_status = 'succeeded' then 100 else progress end,
         output_url = coalesce(p_output_url, output_url),
         error = case when p_status = 'succeeded' then null else p_error end,
         error_code = case when p_status = 'succeeded' then null else p_error_code end,
         settled_by = p_settled_by,
         started_at = coalesce(started_at, p_started_at),
         provider_completed_at = coalesce(provider_completed_at, p_provider_completed_at),
         completed_at = now(), updated_at = now()
   where id = p_gen.id
   returning * into v_gen;
  if p_status in ('failed', 'canceled') then
    perform public.refund_credits(v_gen.id);
  end if;
  return v_gen;
end
$$;

--
-- Name: _generation_json(public.generations); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._generation_json(g public.generations) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
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
    'extends', g.extends,                  -- 0019
    'last_image_path', g.last_image_path,  -- 0019
    'duration', g.duration,                -- 0019
    'created_at', g.created_at, 'updated_at', g.updated_at, 'completed_at', g.completed_at,
    'webhook_url', g.webhook_url, 'webhook_events', g.webhook_events,   -- 0015's
    'favorite', g.favorite,                                              -- 0016's, and its live link:
    'share_id', case when public._video_kept(g) then
                  (select s.id from public.shares s where s.generation_id = g.id) end);
end
$$;

--
-- Name: _hit_rate(uuid, text, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._hit_rate(p_subject uuid, p_bucket text, p_limit integer) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: _iso(timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._iso(p_time timestamp with time zone) RETURNS text
    LANGUAGE sql IMMUTABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select to_char(p_time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

--
-- Name: _lock_payment(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._lock_payment(p_payment_intent text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if p_payment_intent is not null then
    perform pg_advisory_xact_lock(hashtextextended('stripe_payment:' || p_payment_intent, 0));
  end if;
end
$$;

--
-- Name: _new_webhook_secret(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._new_webhook_secret() RETURNS text
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select 'whsec_' || encode(decode(replace(gen_random_uuid()::text, '-', '')
                                   || replace(gen_random_uuid()::text, '-', ''), 'hex'), 'base64')
$$;

--
-- Name: _note_stripe_event(text, text, text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._note_stripe_event(p_event_id text, p_type text, p_outcome text, p_session_id text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: _own_generation(uuid, uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._own_generation(p_user_id uuid, p_gen_id uuid) RETURNS void
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  perform 1 from public.generations where id = p_gen_id and user_id = p_user_id and deleted_at is null;
  if not found then
    raise exception 'generation % not found', p_gen_id using errcode = 'PT404';
  end if;
end
$$;

--
-- Name: _post_ledger_entry(uuid, integer, text, uuid, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._post_ledger_entry(p_user_id uuid, p_amount integer, p_type text, p_gen_id uuid, p_description text) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: _post_purchase_entry(uuid, integer, text, text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._post_purchase_entry(p_user_id uuid, p_amount integer, p_type text, p_session_id text, p_description text) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: purchases; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.purchases (
    session_id text NOT NULL,
    user_id uuid NOT NULL,
    pack_id text NOT NULL,
    credits integer NOT NULL,
    amount integer NOT NULL,
    currency text NOT NULL,
    status text DEFAULT 'open'::text NOT NULL,
    payment_intent text,
    unrecovered_credits integer DEFAULT 0 NOT NULL,
    mismatch text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    credited_at timestamp with time zone,
    CONSTRAINT purchases_amount_check CHECK ((amount > 0)),
    CONSTRAINT purchases_credits_check CHECK ((credits > 0)),
    CONSTRAINT purchases_currency_check CHECK ((currency = lower(currency))),
    CONSTRAINT purchases_status_check CHECK ((status = ANY (ARRAY['open'::text, 'paid'::text, 'credited'::text, 'expired'::text, 'failed'::text, 'reversed'::text]))),
    CONSTRAINT purchases_unrecovered_credits_check CHECK ((unrecovered_credits >= 0))
);

--
-- Name: _purchase_json(public.purchases); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._purchase_json(p public.purchases) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  return jsonb_build_object(
    'session_id', p.session_id, 'status', p.status, 'pack_id', p.pack_id, 'credits', p.credits,
    'amount', p.amount, 'currency', p.currency, 'unrecovered_credits', p.unrecovered_credits,
    'balance', (select credits from public.profiles where id = p.user_id));
end
$$;

--
-- Name: _queue_delivery(public.generations, text, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._queue_delivery(g public.generations, p_type text, p_data jsonb) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO ''
    AS $$
  insert into public.webhook_deliveries (event_id, generation_id, user_id, type, url, payload)
  values ('msg_' || replace(gen_random_uuid()::text, '-', ''), g.id, g.user_id, p_type, g.webhook_url, p_data)
$$;

--
-- Name: _queue_webhook_deliveries(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._queue_webhook_deliveries() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: _refuse_blocked(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._refuse_blocked() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  perform public.assert_not_blocked(new.user_id);
  return new;
end
$$;

--
-- Name: _refuse_moderation_blocked(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._refuse_moderation_blocked() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_until timestamptz := public.moderation_blocked_until(new.user_id);
begin
  if v_until is not null then
    raise exception 'this account cannot start new generations until %', public._iso(v_until)
      using errcode = 'PT403', hint = 'moderation_block',
            detail = json_build_object('blocked_until', public._iso(v_until))::text;
  end if;
  return new;
end
$$;

--
-- Name: _search_generations_sql(boolean, boolean, boolean, boolean, boolean); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._search_generations_sql(p_paged boolean, p_favorite boolean, p_status boolean, p_kind boolean, p_q boolean) RETURNS text
    LANGUAGE plpgsql IMMUTABLE SECURITY DEFINER
    SET search_path TO ''
    AS $_$
declare
  v_where text := 'user_id = $1 and deleted_at is null';
begin
  if p_paged then
    v_where := v_where || ' and (created_at, id) < ($3, $4)';
  end if;
  if p_favorite is true then
    v_where := v_where || ' and favorite';
  elsif p_favorite is false then
    v_where := v_where || ' and not favorite';
  end if;
  if p_status then
    v_where := v_where || ' and status = $5';
  end if;
  if p_kind then
    v_where := v_where || ' and kind = $6';
  end if;
  if p_q then
    v_where := v_where || ' and public.prompt_words(user_id, prompt) @@ '
      '(pg_catalog.plainto_tsquery(''simple''::regconfig, $7) && (''U'' || $1::text)::pg_catalog.tsquery)';
  end if;
  return 'select * from public.generations where ' || v_where || ' order by created_at desc, id desc limit $2';
end
$_$;

--
-- Name: _settle_reversals(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._settle_reversals(p_session_id text) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: _stop_webhook_deliveries(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._stop_webhook_deliveries() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  update public.webhook_deliveries
     set status = 'failed', last_error = 'the generation was deleted', leased_until = null
   where generation_id = new.id and status = 'pending';
  return null;
end
$$;

--
-- Name: _touch_api_key(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._touch_api_key(p_key_id uuid) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO ''
    AS $$
  update public.api_keys set last_used_at = now()
    where id = p_key_id and (last_used_at is null or last_used_at < now() - interval '1 minute')
$$;

--
-- Name: _type_provider_safety_refusal(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._type_provider_safety_refusal() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if new.error_code in ('provider_failed', 'provider_aborted') and public.is_provider_safety_refusal(new.error) then
    new.error_code := 'content_policy';
    new.error := 'The video provider''s safety checker refused this video; your credits were refunded. ('
                 || left(new.error, 300) || ')';
  end if;
  return new;
end
$$;

--
-- Name: _uuids(jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._uuids(p_ids jsonb) RETURNS uuid[]
    LANGUAGE plpgsql IMMUTABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  return array(select jsonb_array_elements_text(p_ids)::uuid);
end
$$;

--
-- Name: _video_kept(public.generations); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._video_kept(g public.generations) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select g.status = 'succeeded' and g.deleted_at is null and g.video_path is not null
         and g.video_deleted_at is null and not g.video_lost
$$;

--
-- Name: _webhook_retry_delay(integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._webhook_retry_delay(p_attempts integer) RETURNS interval
    LANGUAGE sql IMMUTABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select make_interval(secs => (array[5, 300, 1800, 7200, 18000, 36000, 36000])[p_attempts])
$$;

--
-- Name: webhook_secrets; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_secrets (
    user_id uuid NOT NULL,
    secret text NOT NULL,
    previous_secret text,
    rotated_at timestamp with time zone
);

--
-- Name: _webhook_secret_json(public.webhook_secrets); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public._webhook_secret_json(s public.webhook_secrets) RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select jsonb_build_object('secret', s.secret, 'previous_secret',
    case when s.rotated_at > now() - interval '24 hours' then s.previous_secret end)
$$;

--
-- Name: add_credits(uuid, integer, text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.add_credits(p_user_id uuid, p_amount integer, p_type text DEFAULT 'purchase'::text, p_description text DEFAULT NULL::text) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: add_share_views(jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.add_share_views(p_counts jsonb) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_updated integer;
begin
  update public.shares s set views = s.views + c.value::bigint
    from jsonb_each_text(p_counts) c
   where s.id = c.key and c.value::bigint > 0;
  get diagnostics v_updated = row_count;
  return v_updated;
end
$$;

--
-- Name: adjust_credits(uuid, integer, text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.adjust_credits(p_user_id uuid, p_amount integer, p_reason text, p_actor text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_balance integer;
  v_row public.credit_transactions;
begin
  if p_amount is null or p_amount = 0 then
    raise exception 'the amount must not be zero' using errcode = '22023';
  end if;
  if nullif(btrim(p_reason), '') is null or nullif(btrim(p_actor), '') is null then
    raise exception 'an adjustment needs a reason and who made it' using errcode = '22023';
  end if;
  update public.profiles set credits = credits + p_amount, updated_at = now()
   where id = p_user_id and credits + p_amount >= 0
  returning credits into v_balance;
  if not found then
    select credits into v_balance from public.profiles where id = p_user_id;
    if not found then
      raise exception 'no user %', p_user_id using errcode = 'PT404';
    end if;
    raise exception 'cannot deduct % credits: the balance is %', -p_amount, v_balance
      using errcode = 'PT402', detail = json_build_object('required', -p_amount, 'balance', v_balance)::text;
  end if;
  insert into public.credit_transactions (user_id, amount, type, description, balance_after, actor)
    values (p_user_id, p_amount, 'adjustment', btrim(p_reason), v_balance, btrim(p_actor))
  returning * into v_row;
  return jsonb_build_object('id', v_row.id, 'user_id', p_user_id, 'amount', p_amount,
                            'balance_after', v_balance, 'description', v_row.description, 'actor', v_row.actor);
end
$$;

--
-- Name: admin_adjust_credits(uuid, integer, text, text, uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.admin_adjust_credits(p_user_id uuid, p_amount integer, p_reason text, p_actor text, p_actor_id uuid DEFAULT NULL::uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: admin_analytics(integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.admin_analytics(p_days integer) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: admin_audit_list(integer, bigint, uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.admin_audit_list(p_limit integer DEFAULT 100, p_before bigint DEFAULT NULL::bigint, p_user_id uuid DEFAULT NULL::uuid) RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select coalesce(jsonb_agg(public._audit_json(a) order by a.id desc), '[]'::jsonb)
    from (select * from public.admin_audit
           where (p_before is null or id < p_before) and (p_user_id is null or user_id = p_user_id)
           order by id desc limit least(greatest(p_limit, 1), 10000)) a
$$;

--
-- Name: admin_block_user(uuid, text, text, uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.admin_block_user(p_user_id uuid, p_reason text, p_actor text, p_actor_id uuid DEFAULT NULL::uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: admin_generations(text, integer, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.admin_generations(p_list text, p_quiet_seconds integer DEFAULT 600, p_limit integer DEFAULT 100) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: admin_goodwill_refund(uuid, text, text, uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.admin_goodwill_refund(p_gen_id uuid, p_reason text, p_actor text, p_actor_id uuid DEFAULT NULL::uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_row jsonb := public.goodwill_refund(p_gen_id, p_reason, p_actor);
begin
  perform public.record_admin_action('generation.refund', p_actor, p_actor_id, (v_row ->> 'user_id')::uuid,
                                     p_gen_id, (v_row ->> 'amount')::integer, p_reason,
                                     jsonb_build_object('ledger_id', v_row -> 'id', 'balance_after', v_row -> 'balance_after'));
  return v_row;
end
$$;

--
-- Name: admin_unblock_user(uuid, text, uuid, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.admin_unblock_user(p_user_id uuid, p_actor text, p_actor_id uuid DEFAULT NULL::uuid, p_reason text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  update public.profiles set blocked_at = null, blocked_reason = null, updated_at = now() where id = p_user_id;
  if not found then
    raise exception 'no user %', p_user_id using errcode = 'PT404';
  end if;
  perform public.record_admin_action('user.unblock', p_actor, p_actor_id, p_user_id, null, null, p_reason);
  return jsonb_build_object('user_id', p_user_id, 'blocked', false, 'blocked_at', null, 'blocked_reason', null);
end
$$;

--
-- Name: admin_user(uuid, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.admin_user(p_user_id uuid, p_limit integer DEFAULT 50) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: admin_users(text, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.admin_users(p_query text, p_limit integer DEFAULT 50) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $_$
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
$_$;

--
-- Name: api_key_by_prefix(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.api_key_by_prefix(p_prefix text) RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select jsonb_build_object('id', k.id, 'user_id', k.user_id, 'revoked', k.revoked_at is not null,
                            'secret_hash', k.secret_hash, 'salt', k.salt)
    from public.api_keys k where k.prefix = p_prefix
$$;

--
-- Name: assert_not_blocked(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.assert_not_blocked(p_user_id uuid) RETURNS void
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if public.create_block_reason(p_user_id) is not null then
    raise exception 'this account is blocked: it cannot start generations or buy credits; contact support'
      using errcode = 'PT403', hint = 'account_blocked';
  end if;
end
$$;

--
-- Name: cancel_generation(uuid, uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.cancel_generation(p_user_id uuid, p_gen_id uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_gen public.generations;
begin
  select * into v_gen from public.generations
   where id = p_gen_id and user_id = p_user_id and deleted_at is null for update;
  if not found then
    raise exception 'generation % not found', p_gen_id using errcode = 'PT404';
  end if;
  if v_gen.status not in ('queued', 'processing') then
    raise exception 'this generation already %; only unfinished ones can be canceled', v_gen.status
      using errcode = 'PT409';
  end if;
  v_gen := public._finish_generation(v_gen, 'canceled', 'Canceled at your request.', 'canceled_by_user',
                                     null, 'cancel');
  return public._generation_json(v_gen);
end
$$;

--
-- Name: claim_for_retention(integer, integer, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.claim_for_retention(p_age_seconds integer, p_batch integer, p_lease_seconds integer DEFAULT 120) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_before timestamptz := now() - make_interval(secs => p_age_seconds);
  v_lease timestamptz := now() - make_interval(secs => p_lease_seconds);
  v_ids uuid[];
begin
  select array_agg(id) into v_ids from (
    select id from public.generations
     where completed_at is not null and completed_at < v_before and not favorite
       and ((video_path is not null and video_deleted_at is null)
            or (image_path is not null and image_deleted_at is null))
       and (sweep_claimed_at is null or sweep_claimed_at < v_lease)
     order by completed_at limit p_batch for update skip locked) c;
  if v_ids is null then
    return '[]'::jsonb;
  end if;
  update public.generations set sweep_claimed_at = now() where id = any (v_ids);
  return public._files_json(v_ids);
end
$$;

--
-- Name: claim_for_sweep(text, integer, integer, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.claim_for_sweep(p_rule text, p_age_seconds integer, p_batch integer, p_lease_seconds integer DEFAULT 120) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_before timestamptz := now() - make_interval(secs => p_age_seconds);
  v_lease timestamptz := now() - make_interval(secs => p_lease_seconds);
  v_ids uuid[];
begin
  if p_rule = 'queued_timeout' then
    select array_agg(id) into v_ids from (
      select id from public.generations
       where status = 'queued' and created_at < v_before
         and (sweep_claimed_at is null or sweep_claimed_at < v_lease)
       order by created_at limit p_batch for update skip locked) c;
  elsif p_rule = 'deadline' then
    select array_agg(id) into v_ids from (
      select id from public.generations
       where status in ('queued', 'processing') and created_at < v_before
         and (sweep_claimed_at is null or sweep_claimed_at < v_lease)
       order by created_at limit p_batch for update skip locked) c;
  elsif p_rule = 'stuck' then
    select array_agg(id) into v_ids from (
      select id from public.generations
       where status = 'processing' and coalesce(last_event_at, created_at) < v_before
         and (sweep_claimed_at is null or sweep_claimed_at < v_lease)
       order by coalesce(last_event_at, created_at) limit p_batch for update skip locked) c;
  elsif p_rule = 'video_copy' then
    select array_agg(id) into v_ids from (
      select id from public.generations
       where status = 'succeeded' and video_path is null and not video_lost and completed_at < v_before
         and (sweep_claimed_at is null or sweep_claimed_at < v_lease)
       order by completed_at limit p_batch for update skip locked) c;
  elsif p_rule = 'retention' then
    select array_agg(id) into v_ids from (
      select id from public.generations
       where completed_at is not null and completed_at < v_before
         and ((video_path is not null and video_deleted_at is null)
              or (image_path is not null and image_deleted_at is null))
         and (sweep_claimed_at is null or sweep_claimed_at < v_lease)
       order by completed_at limit p_batch for update skip locked) c;
  elsif p_rule = 'deleted_files' then
    select array_agg(id) into v_ids from (
      select id from public.generations
       where deleted_at is not null and deleted_at < v_before
         and ((video_path is not null and video_deleted_at is null)
              or (image_path is not null and image_deleted_at is null))
         and (sweep_claimed_at is null or sweep_claimed_at < v_lease)
       order by deleted_at limit p_batch for update skip locked) c;
  else
    raise exception 'unknown sweep rule %', p_rule using errcode = '22023';
  end if;

  if v_ids is null then
    return '[]'::jsonb;
  end if;
  update public.generations set sweep_claimed_at = now() where id = any (v_ids);
  if p_rule in ('retention', 'deleted_files') then
    return public._files_json(v_ids);
  end if;
  return (select jsonb_agg(public._generation_json(g) order by g.created_at)
          from public.generations g where g.id = any (v_ids));
end
$$;

--
-- Name: claim_webhook_deliveries(uuid, integer, integer, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.claim_webhook_deliveries(p_generation_id uuid DEFAULT NULL::uuid, p_limit integer DEFAULT 50, p_max_in_flight integer DEFAULT 4, p_lease_seconds integer DEFAULT 30) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: create_api_key(uuid, text, text, text, text, text, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.create_api_key(p_user_id uuid, p_name text, p_prefix text, p_last_chars text, p_secret_hash text, p_salt text, p_max_active integer) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: create_block_reason(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.create_block_reason(p_user_id uuid) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select p.blocked_reason from public.profiles p where p.id = p_user_id and p.blocked_at is not null
$$;

--
-- Name: create_generation(uuid, text, text, text, text, integer, integer, text, bigint, text, text, text, text, uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.create_generation(p_user_id uuid, p_kind text, p_model text, p_resolution text, p_prompt text, p_cost integer, p_max_active integer, p_negative_prompt text DEFAULT NULL::text, p_seed bigint DEFAULT NULL::bigint, p_aspect_ratio text DEFAULT NULL::text, p_image_path text DEFAULT NULL::text, p_idempotency_key text DEFAULT NULL::text, p_request_hash text DEFAULT NULL::text, p_retry_of uuid DEFAULT NULL::uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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
  return jsonb_build_object('generation_id', v_gen.id, 'status', v_gen.status, 'cost', v_gen.cost,
                            'replayed', false, 'credits_remaining', v_balance);
end
$$;

--
-- Name: create_generation_edit(uuid, text, text, text, text, integer, integer, integer, integer, text, bigint, text, text, text, text, uuid, uuid, text, jsonb, uuid, text, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.create_generation_edit(p_user_id uuid, p_kind text, p_model text, p_resolution text, p_prompt text, p_cost integer, p_max_active integer, p_rate_limit integer, p_global_limit integer, p_negative_prompt text DEFAULT NULL::text, p_seed bigint DEFAULT NULL::bigint, p_aspect_ratio text DEFAULT NULL::text, p_image_path text DEFAULT NULL::text, p_idempotency_key text DEFAULT NULL::text, p_request_hash text DEFAULT NULL::text, p_retry_of uuid DEFAULT NULL::uuid, p_api_key_id uuid DEFAULT NULL::uuid, p_webhook_url text DEFAULT NULL::text, p_webhook_events jsonb DEFAULT NULL::jsonb, p_extends uuid DEFAULT NULL::uuid, p_last_image_path text DEFAULT NULL::text, p_duration integer DEFAULT NULL::integer) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_created jsonb;
begin
  -- The source must be the caller's own (a second guard: the service checked it before charging).
  if p_extends is not null and not exists (
      select from public.generations where id = p_extends and user_id = p_user_id) then
    raise exception 'no generation % for user %', p_extends, p_user_id using errcode = 'PT404';
  end if;
  -- 0015's create with its webhook, then the editing columns, all in this one transaction.
  v_created := public.create_generation_pushed(
    p_user_id => p_user_id, p_kind => p_kind, p_model => p_model, p_resolution => p_resolution,
    p_prompt => p_prompt, p_cost => p_cost, p_max_active => p_max_active, p_rate_limit => p_rate_limit,
    p_global_limit => p_global_limit, p_negative_prompt => p_negative_prompt, p_seed => p_seed,
    p_aspect_ratio => p_aspect_ratio, p_image_path => p_image_path, p_idempotency_key => p_idempotency_key,
    p_request_hash => p_request_hash, p_retry_of => p_retry_of, p_api_key_id => p_api_key_id,
    p_webhook_url => p_webhook_url, p_webhook_events => p_webhook_events);
  if (v_created ->> 'replayed')::boolean then
    return v_created;
  end if;
  update public.generations
     set extends = p_extends, last_image_path = p_last_image_path, duration = p_duration
   where id = (v_created ->> 'generation_id')::uuid;
  return v_created;
end
$$;

--
-- Name: create_generation_limited(uuid, text, text, text, text, integer, integer, integer, integer, text, bigint, text, text, text, text, uuid, uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.create_generation_limited(p_user_id uuid, p_kind text, p_model text, p_resolution text, p_prompt text, p_cost integer, p_max_active integer, p_rate_limit integer, p_global_limit integer, p_negative_prompt text DEFAULT NULL::text, p_seed bigint DEFAULT NULL::bigint, p_aspect_ratio text DEFAULT NULL::text, p_image_path text DEFAULT NULL::text, p_idempotency_key text DEFAULT NULL::text, p_request_hash text DEFAULT NULL::text, p_retry_of uuid DEFAULT NULL::uuid, p_api_key_id uuid DEFAULT NULL::uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: create_generation_pushed(uuid, text, text, text, text, integer, integer, integer, integer, text, bigint, text, text, text, text, uuid, uuid, text, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.create_generation_pushed(p_user_id uuid, p_kind text, p_model text, p_resolution text, p_prompt text, p_cost integer, p_max_active integer, p_rate_limit integer, p_global_limit integer, p_negative_prompt text DEFAULT NULL::text, p_seed bigint DEFAULT NULL::bigint, p_aspect_ratio text DEFAULT NULL::text, p_image_path text DEFAULT NULL::text, p_idempotency_key text DEFAULT NULL::text, p_request_hash text DEFAULT NULL::text, p_retry_of uuid DEFAULT NULL::uuid, p_api_key_id uuid DEFAULT NULL::uuid, p_webhook_url text DEFAULT NULL::text, p_webhook_events jsonb DEFAULT NULL::jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: create_share(uuid, uuid, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.create_share(p_user_id uuid, p_gen_id uuid, p_share_id text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_gen public.generations;
  v_id text;
begin
  select * into v_gen from public.generations
   where id = p_gen_id and user_id = p_user_id and deleted_at is null for update;
  if not found then
    raise exception 'generation % not found', p_gen_id using errcode = 'PT404';
  end if;
  if v_gen.status <> 'succeeded' then
    raise exception 'only a succeeded generation can be shared; this one is %', v_gen.status
      using errcode = 'PT409';
  end if;
  if not public._video_kept(v_gen) then
    raise exception 'this generation''s video is not stored (expired, lost, or not copied yet)'
      using errcode = 'PT409';
  end if;
  select id into v_id from public.shares where generation_id = p_gen_id;
  if v_id is not null then
    return jsonb_build_object('share_id', v_id, 'created', false, 'video_path', v_gen.video_path);
  end if;
  insert into public.shares (id, generation_id) values (p_share_id, p_gen_id);
  return jsonb_build_object('share_id', p_share_id, 'created', true, 'video_path', v_gen.video_path);
end
$$;

--
-- Name: deduct_credits(uuid, integer, uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.deduct_credits(p_user_id uuid, p_amount integer, p_gen_id uuid) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: delete_generations(uuid, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.delete_generations(p_user_id uuid, p_gen_ids jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_ids uuid[] := public._uuids(p_gen_ids);
  v_deleted uuid[];
  v_unfinished uuid[];
begin
  perform 1 from public.generations
   where id = any (v_ids) and user_id = p_user_id and deleted_at is null
   order by id for update;
  with d as (
    update public.generations set deleted_at = now(), updated_at = now()
     where id = any (v_ids) and user_id = p_user_id and deleted_at is null
       and status in ('succeeded', 'failed', 'canceled')
    returning id)
  select array_agg(id) into v_deleted from d;
  select array_agg(id) into v_unfinished from public.generations
   where id = any (v_ids) and user_id = p_user_id and deleted_at is null
     and status in ('queued', 'processing');
  return jsonb_build_object(
    'deleted', coalesce(to_jsonb(v_deleted), '[]'::jsonb),
    'unfinished', coalesce(to_jsonb(v_unfinished), '[]'::jsonb),
    'files', case when v_deleted is null then '[]'::jsonb else public._files_json(v_deleted) end);
end
$$;

--
-- Name: delete_share(uuid, uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.delete_share(p_user_id uuid, p_gen_id uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_id text;
begin
  perform 1 from public.generations where id = p_gen_id and user_id = p_user_id and deleted_at is null;
  if not found then
    raise exception 'generation % not found', p_gen_id using errcode = 'PT404';
  end if;
  delete from public.shares where generation_id = p_gen_id returning id into v_id;
  return jsonb_build_object('generation_id', p_gen_id, 'share_id', v_id);
end
$$;

--
-- Name: download_list(uuid, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.download_list(p_user_id uuid, p_gen_ids jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  return coalesce((
    select jsonb_agg(jsonb_build_object(
             'generation_id', a.id,
             'included', g.id is not null and public._video_kept(g),
             'reason', case when g.id is null then 'not_found'
                            when g.status <> 'succeeded' then 'not_succeeded'
                            when not public._video_kept(g) then 'expired' end,
             'video_path', case when public._video_kept(g) then g.video_path end,
             'completed_at', g.completed_at) order by a.n)
    from unnest(public._uuids(p_gen_ids)) with ordinality a(id, n)
    left join public.generations g on g.id = a.id and g.user_id = p_user_id and g.deleted_at is null),
    '[]'::jsonb);
end
$$;

--
-- Name: end_checkout(text, text, text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.end_checkout(p_session_id text, p_status text, p_event_id text, p_event_type text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: fail_generation(uuid, text, text, text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.fail_generation(p_gen_id uuid, p_error text, p_error_code text DEFAULT NULL::text, p_status text DEFAULT 'failed'::text, p_settled_by text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_gen public.generations;
begin
  if p_status not in ('failed', 'canceled') then
    raise exception 'fail_generation ends in failed or canceled, not %', p_status using errcode = '22023';
  end if;
  select * into v_gen from public.generations where id = p_gen_id for update;
  if not found then
    raise exception 'generation % not found', p_gen_id using errcode = 'PT404';
  end if;
  if v_gen.status in ('queued', 'processing') then
    v_gen := public._finish_generation(v_gen, p_status, p_error, p_error_code, null, p_settled_by);
  end if;
  return public._generation_json(v_gen);
end
$$;

--
-- Name: find_user(text, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.find_user(p_query text, p_limit integer DEFAULT 10) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $_$
declare
  v_profile public.profiles;
begin
  if p_query ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    select * into v_profile from public.profiles where id = p_query::uuid;
  else
    select * into v_profile from public.profiles where lower(email) = lower(btrim(p_query))
     order by created_at limit 1;
  end if;
  if v_profile.id is null then
    raise exception 'no user %', p_query using errcode = 'PT404';
  end if;
  return jsonb_build_object(
    'user_id', v_profile.id, 'email', v_profile.email, 'balance', v_profile.credits,
    'active_generations', v_profile.active_generations, 'created_at', v_profile.created_at,
    'generations', coalesce((
      select jsonb_agg(public._generation_json(g) order by g.created_at desc, g.id desc)
      from (select * from public.generations where user_id = v_profile.id
            order by created_at desc, id desc limit p_limit) g), '[]'::jsonb),
    'transactions', coalesce((
      select jsonb_agg(jsonb_build_object(
               'id', t.id, 'amount', t.amount, 'type', t.type, 'generation_id', t.generation_id,
               'description', t.description, 'balance_after', t.balance_after, 'actor', t.actor,
               'created_at', t.created_at) order by t.id desc)
      from (select * from public.credit_transactions where user_id = v_profile.id
            order by id desc limit p_limit) t), '[]'::jsonb));
end
$_$;

--
-- Name: fulfil_purchase(text, text, integer, text, text, text, text, text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.fulfil_purchase(p_session_id text, p_payment_status text, p_amount_total integer, p_currency text, p_client_reference_id text, p_pack_id text, p_payment_intent text DEFAULT NULL::text, p_event_id text DEFAULT NULL::text, p_event_type text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: generation_by_id(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.generation_by_id(p_gen_id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  return (select public._generation_json(g) from public.generations g where g.id = p_gen_id);
end
$$;

--
-- Name: get_credits(uuid, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.get_credits(p_user_id uuid, p_limit integer DEFAULT 100) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  return jsonb_build_object(
    'balance', coalesce((select credits from public.profiles where id = p_user_id), 0),
    'transactions', coalesce((
      select jsonb_agg(jsonb_build_object(
               'id', t.id, 'amount', t.amount, 'type', t.type, 'generation_id', t.generation_id,
               'generation_deleted', g.deleted_at is not null,
               'description', t.description, 'balance_after', t.balance_after,
               'created_at', t.created_at) order by t.id desc)
      from (select * from public.credit_transactions where user_id = p_user_id
            order by id desc limit p_limit) t
      left join public.generations g on g.id = t.generation_id), '[]'::jsonb));
end
$$;

--
-- Name: get_generation(uuid, uuid, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.get_generation(p_user_id uuid, p_gen_id uuid, p_quiet_seconds integer DEFAULT 10) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_gen public.generations;
  v_poll boolean := false;
begin
  update public.generations
     set polled_at = now()
   where id = p_gen_id and user_id = p_user_id
     and status in ('queued', 'processing') and replicate_id is not null
     and coalesce(last_event_at, created_at) < now() - make_interval(secs => p_quiet_seconds)
     and (polled_at is null or polled_at < now() - make_interval(secs => p_quiet_seconds))
  returning * into v_gen;
  v_poll := found;
  if not v_poll then
    select * into v_gen from public.generations where id = p_gen_id and user_id = p_user_id;
    if not found then
      raise exception 'generation % not found', p_gen_id using errcode = 'PT404';
    end if;
  end if;
  return public._generation_json(v_gen) || jsonb_build_object('should_poll', v_poll);
end
$$;

--
-- Name: get_generation_counted(uuid, uuid, integer, uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.get_generation_counted(p_user_id uuid, p_gen_id uuid, p_rate_limit integer, p_api_key_id uuid DEFAULT NULL::uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_rate jsonb := public._hit_rate(p_user_id, 'request', p_rate_limit);
  v_gen jsonb;
begin
  if (v_rate ->> 'allowed')::boolean
     and exists (select from public.generations where id = p_gen_id and user_id = p_user_id) then
    v_gen := public.get_generation(p_user_id, p_gen_id);
  end if;
  if p_api_key_id is not null then
    perform public._touch_api_key(p_api_key_id);
  end if;
  -- Refused: no 'generation' key (nothing was read); unknown: generation null.
  return case when (v_rate ->> 'allowed')::boolean
              then jsonb_build_object('rate', v_rate, 'generation', v_gen)
              else jsonb_build_object('rate', v_rate) end;
end
$$;

--
-- Name: get_share(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.get_share(p_share_id text) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_share public.shares;
  v_gen public.generations;
begin
  select * into v_share from public.shares where id = p_share_id;
  if not found then
    return null;
  end if;
  select * into v_gen from public.generations where id = v_share.generation_id;
  if not public._video_kept(v_gen) then
    return null;
  end if;
  return jsonb_build_object(
    'share_id', v_share.id, 'kind', v_gen.kind, 'model', v_gen.model, 'resolution', v_gen.resolution,
    'aspect_ratio', v_gen.aspect_ratio, 'prompt', v_gen.prompt,
    'created_at', v_gen.created_at, 'views', v_share.views);
end
$$;

--
-- Name: goodwill_refund(uuid, text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.goodwill_refund(p_gen_id uuid, p_reason text, p_actor text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_gen public.generations;
  v_charged integer;
  v_balance integer;
  v_row public.credit_transactions;
begin
  if nullif(btrim(p_reason), '') is null or nullif(btrim(p_actor), '') is null then
    raise exception 'a goodwill refund needs a reason and who made it' using errcode = '22023';
  end if;
  select * into v_gen from public.generations where id = p_gen_id for update;
  if not found then
    raise exception 'no generation %', p_gen_id using errcode = 'PT404';
  end if;
  if v_gen.status <> 'succeeded' or not v_gen.video_lost then
    raise exception 'generation % is % and its video was not lost: only a lost video gets a goodwill refund',
      p_gen_id, v_gen.status using errcode = 'PT409';
  end if;
  if exists (select from public.credit_transactions
              where generation_id = p_gen_id and type = 'adjustment') then
    raise exception 'generation % already had its goodwill refund', p_gen_id using errcode = 'PT409';
  end if;
  select -amount into v_charged from public.credit_transactions
   where generation_id = p_gen_id and type = 'deduction';
  if not found then
    raise exception 'generation % was never charged', p_gen_id using errcode = 'PT409';
  end if;
  update public.profiles set credits = credits + v_charged, updated_at = now()
   where id = v_gen.user_id returning credits into v_balance;
  insert into public.credit_transactions (user_id, amount, type, generation_id, description, balance_after, actor)
    values (v_gen.user_id, v_charged, 'adjustment', p_gen_id,
            'goodwill refund (video lost): ' || btrim(p_reason), v_balance, btrim(p_actor))
  returning * into v_row;
  return jsonb_build_object('id', v_row.id, 'user_id', v_gen.user_id, 'generation_id', p_gen_id,
                            'amount', v_charged, 'balance_after', v_balance,
                            'description', v_row.description, 'actor', v_row.actor);
end
$$;

--
-- Name: handle_new_user(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.handle_new_user() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: hit_request_rate(uuid, integer, uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.hit_request_rate(p_user_id uuid, p_limit integer, p_api_key_id uuid DEFAULT NULL::uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if p_api_key_id is not null then
    perform public._touch_api_key(p_api_key_id);
  end if;
  return public._hit_rate(p_user_id, 'request', p_limit);
end
$$;

--
-- Name: is_provider_safety_refusal(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.is_provider_safety_refusal(p_error text) RETURNS boolean
    LANGUAGE sql IMMUTABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select coalesce(p_error ~* '(flagged as sensitive|\(E005\)|\mnsfw content\M|safety checker|flagged by the safety system)', false)
$$;

--
-- Name: ledger_discrepancies(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.ledger_discrepancies() RETURNS TABLE(problem text, user_id uuid, generation_id uuid, detail text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
#variable_conflict use_column
begin
  return query
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
  union all
  -- a failed or canceled generation (refunded) whose video we copied: the credits back and the video kept
  select 'refunded_with_video', g.user_id, g.id, format('status %s with the copy %s', g.status, g.video_path)
  from public.generations g
  where g.status in ('failed', 'canceled') and g.video_path is not null;
end
$$;

--
-- Name: lift_moderation_block(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.lift_moderation_block(p_user_id uuid) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_lifted integer;
begin
  update public.moderation_blocks set blocked_until = greatest(blocked_at + interval '1 microsecond', now())
   where user_id = p_user_id and blocked_until > now();
  get diagnostics v_lifted = row_count;
  return v_lifted > 0;
end
$$;

--
-- Name: list_api_keys(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.list_api_keys(p_user_id uuid) RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select coalesce(jsonb_agg(public._api_key_json(k) order by k.created_at desc, k.id), '[]'::jsonb)
    from public.api_keys k where k.user_id = p_user_id
$$;

--
-- Name: list_generations(uuid, integer, timestamp with time zone, uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.list_generations(p_user_id uuid, p_limit integer, p_before_created_at timestamp with time zone DEFAULT NULL::timestamp with time zone, p_before_id uuid DEFAULT NULL::uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  return (
    select coalesce(jsonb_agg(public._generation_json(g) order by g.created_at desc, g.id desc), '[]'::jsonb)
    from (select * from public.generations
          where user_id = p_user_id and deleted_at is null
            and (p_before_created_at is null or (created_at, id) < (p_before_created_at, p_before_id))
          order by created_at desc, id desc
          limit p_limit) g);
end
$$;

--
-- Name: list_webhook_deliveries(uuid, uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.list_webhook_deliveries(p_user_id uuid, p_gen_id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  perform public._own_generation(p_user_id, p_gen_id);
  return (select coalesce(jsonb_agg(public._delivery_json(d) order by d.seq), '[]'::jsonb)
            from public.webhook_deliveries d where d.generation_id = p_gen_id);
end
$$;

--
-- Name: mark_processing(uuid, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.mark_processing(p_gen_id uuid, p_replicate_id text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_gen public.generations;
begin
  update public.generations
     set replicate_id = coalesce(replicate_id, p_replicate_id),
         status = case when status = 'queued' then 'processing' else status end,
         updated_at = now()
   where id = p_gen_id
   returning * into v_gen;
  if not found then
    raise exception 'generation % not found', p_gen_id using errcode = 'PT404';
  end if;
  return public._generation_json(v_gen);
end
$$;

--
-- Name: metrics_for_scrape(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.metrics_for_scrape() RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_last public.metrics_snapshots;
begin
  select * into v_last from public.metrics_snapshots order by id desc limit 1;
  if not found then
    return null;
  end if;
  return v_last.data || jsonb_build_object(
    'snapshot_taken_at', v_last.taken_at, 'snapshot_took_ms', v_last.took_ms,
    'snapshot_age_seconds', extract(epoch from now() - v_last.taken_at)::float8,
    'active', (select coalesce(jsonb_agg(to_jsonb(a)), '[]'::jsonb) from (
                 select model, resolution, count(*) as active
                   from public.generations where status in ('queued', 'processing')
                  group by model, resolution order by model, resolution) a));
end
$$;

--
-- Name: moderation_blocked_until(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.moderation_blocked_until(p_user_id uuid) RETURNS timestamp with time zone
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select blocked_until from public.moderation_blocks where user_id = p_user_id and blocked_until > now()
$$;

--
-- Name: moderation_metrics(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.moderation_metrics() RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select jsonb_build_object(
    'refusals', (select coalesce(jsonb_agg(to_jsonb(r) order by r.field, r.category, r.source), '[]'::jsonb) from (
                   select field, category, source, count(*) as count
                     from public.content_refusals group by field, category, source) r),
    'refusals_24h', (select count(*) from public.content_refusals where refused_at > now() - interval '24 hours'),
    'blocked_users', (select count(*) from public.moderation_blocks where blocked_until > now()),
    'flagged', (select coalesce(jsonb_agg(to_jsonb(f) order by f.refusals_24h desc, f.user_id), '[]'::jsonb) from (
                  select c.user_id, count(*) as refusals_24h,
                         (select public._iso(b.blocked_until) from public.moderation_blocks b
                           where b.user_id = c.user_id and b.blocked_until > now()) as blocked_until
                    from public.content_refusals c
                   where c.refused_at > now() - interval '24 hours'
                   group by c.user_id order by count(*) desc, c.user_id limit 20) f))
$$;

--
-- Name: note_stripe_event(text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.note_stripe_event(p_event_id text, p_type text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  return case when public._note_stripe_event(p_event_id, p_type, 'ignored', null)
              then 'ignored' else 'duplicate_event' end;
end
$$;

--
-- Name: operator_metrics(timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.operator_metrics(p_since timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_groups jsonb;
  v_refunds jsonb;
  v_active jsonb;
  v_discrepancies integer;
  v_failures jsonb;
  v_purchases jsonb;
begin
  select coalesce(jsonb_agg(to_jsonb(s)), '[]'::jsonb) into v_groups from (
    select model, resolution,
           count(*) filter (where status = 'queued') as queued,
           count(*) filter (where status = 'processing') as processing,
           count(*) filter (where status = 'succeeded') as succeeded,
           count(*) filter (where status = 'failed') as failed,
           count(*) filter (where status = 'canceled') as canceled,
           count(*) filter (where settled_by = 'webhook') as settled_webhook,
           count(*) filter (where settled_by = 'status_poll') as settled_status_poll,
           count(*) filter (where settled_by = 'sweep') as settled_sweep,
           count(*) filter (where settled_by = 'cancel') as settled_cancel,
           count(*) filter (where settled_by = 'create') as settled_create,
           count(*) filter (where error_code = 'provider_unavailable') as provider_refusals,
           count(*) filter (where video_lost) as videos_lost,
           count(*) filter (where video_deleted_at is not null) as videos_expired,
           count(*) filter (where deleted_at is not null) as deleted,
           coalesce(sum(took) filter (where status = 'succeeded'), 0) as completion_seconds_sum,
           array[count(*) filter (where status = 'succeeded' and took <= 30),
                 count(*) filter (where status = 'succeeded' and took <= 60),
                 count(*) filter (where status = 'succeeded' and took <= 120),
                 count(*) filter (where status = 'succeeded' and took <= 180),
                 count(*) filter (where status = 'succeeded' and took <= 300),
                 count(*) filter (where status = 'succeeded' and took <= 600),
                 count(*) filter (where status = 'succeeded' and took <= 1200),
                 count(*) filter (where status = 'succeeded' and took <= 2700)] as completion_buckets,
           coalesce(sum(queued_for), 0) as queue_seconds_sum,
           count(queued_for) as queue_count
      from (select model, resolution, status, settled_by, error_code, video_lost, video_deleted_at,
                   deleted_at, extract(epoch from completed_at - created_at)::float8 as took,
                   extract(epoch from started_at - created_at)::float8 as queued_for
              from public.generations
             where p_since is null or created_at >= p_since) g
     group by model, resolution
     order by model, resolution) s;

  select coalesce(jsonb_agg(to_jsonb(r)), '[]'::jsonb) into v_refunds from (
    select g.model, g.resolution,
           count(*) filter (where t.type = 'refund') as refunds,
           coalesce(sum(t.amount) filter (where t.type = 'refund'), 0) as refunded_credits,
           count(*) filter (where t.type = 'adjustment') as goodwill_refunds,
           coalesce(sum(t.amount) filter (where t.type = 'adjustment'), 0) as goodwill_credits
      from public.credit_transactions t
      join public.generations g on g.id = t.generation_id
     where t.type in ('refund', 'adjustment') and t.generation_id is not null
       and (p_since is null or g.created_at >= p_since)
     group by g.model, g.resolution
     order by g.model, g.resolution) r;

  select coalesce(jsonb_agg(to_jsonb(a)), '[]'::jsonb) into v_active from (
    select model, resolution, count(*) as active
      from public.generations where status in ('queued', 'processing')
     group by model, resolution order by model, resolution) a;

  select count(*) into v_discrepancies from public.ledger_discrepancies();

  select coalesce(jsonb_agg(to_jsonb(f)), '[]'::jsonb) into v_failures from (
    select coalesce(error_code, 'unknown') as error_code, min(error) as example, count(*) as count
      from public.generations
     where status = 'failed' and (p_since is null or created_at >= p_since)
     group by 1 order by count(*) desc, 1 limit 5) f;

  -- Purchases (0008) by pack: the cost follows the purchases (each one's reversal rows through
  -- credit_transactions_by_session), not the ledger. "Taken back" is net of what a won dispute gave back.
  select coalesce(jsonb_agg(to_jsonb(b)), '[]'::jsonb) into v_purchases from (
    select p.pack_id, p.currency,
           count(*) filter (where p.status = 'open') as open,
           count(*) filter (where p.status = 'paid') as paid,
           count(*) filter (where p.status = 'credited') as credited,
           count(*) filter (where p.status = 'expired') as expired,
           count(*) filter (where p.status = 'failed') as failed,
           count(*) filter (where p.status = 'reversed') as reversed,
           coalesce(sum(p.credits) filter (where p.status in ('credited', 'reversed')), 0) as credits_sold,
           coalesce(sum(p.amount) filter (where p.status in ('credited', 'reversed')), 0) as amount_sold,
           coalesce(sum(r.rows), 0) as reversals,
           coalesce(-sum(r.total), 0) as credits_taken_back,
           coalesce(sum(p.unrecovered_credits), 0) as unrecovered_credits
      from public.purchases p
      left join lateral (select count(*) as rows, sum(t.amount) as total from public.credit_transactions t
                          where t.purchase_session_id = p.session_id and t.type = 'reversal') r on true
     where p_since is null or p.created_at >= p_since
     group by p.pack_id, p.currency
     order by p.pack_id, p.currency) b;

  return jsonb_build_object(
    'since', p_since, 'completion_buckets', to_jsonb(array[30, 60, 120, 180, 300, 600, 1200, 2700]),
    'groups', v_groups, 'refunds', v_refunds, 'active', v_active,
    'ledger_discrepancies', v_discrepancies, 'top_failures', v_failures, 'purchases', v_purchases);
end
$$;

--
-- Name: prompt_words(uuid, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.prompt_words(p_user_id uuid, p_prompt text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path TO ''
    AS $$
  select pg_catalog.to_tsvector('simple'::regconfig, p_prompt)
         || pg_catalog.array_to_tsvector(array['U' || p_user_id::text])
$$;

--
-- Name: purchase_status(text, uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.purchase_status(p_session_id text, p_user_id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: record_admin_action(text, text, uuid, uuid, uuid, integer, text, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.record_admin_action(p_action text, p_actor text, p_actor_id uuid DEFAULT NULL::uuid, p_user_id uuid DEFAULT NULL::uuid, p_generation_id uuid DEFAULT NULL::uuid, p_amount integer DEFAULT NULL::integer, p_reason text DEFAULT NULL::text, p_detail jsonb DEFAULT '{}'::jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: record_checkout(text, uuid, text, integer, integer, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.record_checkout(p_session_id text, p_user_id uuid, p_pack_id text, p_credits integer, p_amount integer, p_currency text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: record_content_refusal(uuid, text, text, text, text, integer, integer, integer, uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.record_content_refusal(p_user_id uuid, p_field text, p_category text, p_source text, p_prompt text, p_rate_limit integer, p_strikes integer, p_block_seconds integer, p_api_key_id uuid DEFAULT NULL::uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_rate jsonb := public._hit_rate(p_user_id, 'create', p_rate_limit);
  v_block public.moderation_blocks;
  v_strikes integer;
begin
  insert into public.content_refusals (user_id, field, category, source, prompt)
    values (p_user_id, p_field, left(p_category, 100), p_source, p_prompt);
  select * into v_block from public.moderation_blocks where user_id = p_user_id for update;
  -- A block uses up the refusals that led to it: the next one needs fresh strikes.
  select count(*) into v_strikes from public.content_refusals
   where user_id = p_user_id and refused_at > now() - interval '24 hours'
     and (v_block.blocked_at is null or refused_at > v_block.blocked_at);
  if v_strikes > p_strikes and (v_block.user_id is null or v_block.blocked_until <= now()) then
    insert into public.moderation_blocks as b (user_id, blocked_at, blocked_until, strikes)
      values (p_user_id, now(), now() + make_interval(secs => p_block_seconds), v_strikes)
      on conflict (user_id) do update
        set blocked_at = excluded.blocked_at, blocked_until = excluded.blocked_until, strikes = excluded.strikes
      returning * into v_block;
  end if;
  if p_api_key_id is not null then
    perform public._touch_api_key(p_api_key_id);
  end if;
  return jsonb_build_object(
    'rate', v_rate, 'strikes', v_strikes,
    'blocked_until', case when v_block.blocked_until > now() then public._iso(v_block.blocked_until) end);
end
$$;

--
-- Name: record_files_deleted(jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.record_files_deleted(p_gen_ids jsonb) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_ids uuid[] := public._uuids(p_gen_ids);
  v_paths text[];
begin
  with marked as (
    update public.generations
       set video_deleted_at = case when video_path is not null then coalesce(video_deleted_at, now()) end,
           image_deleted_at = case when image_path is not null then coalesce(image_deleted_at, now()) end,
           sweep_claimed_at = null
     where id = any (v_ids)
    returning image_path)
  select array_agg(distinct m.image_path) into v_paths from marked m
   where m.image_path is not null
     and not exists (select from public.generations o
                      where o.image_path = m.image_path and o.image_deleted_at is null);
  return to_jsonb(coalesce(v_paths, '{}'::text[]));
end
$$;

--
-- Name: record_prediction(uuid, text, text, integer, text, text, text, text, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.record_prediction(p_gen_id uuid, p_replicate_id text, p_status text, p_progress integer DEFAULT NULL::integer, p_output_url text DEFAULT NULL::text, p_error text DEFAULT NULL::text, p_event_id text DEFAULT NULL::text, p_source text DEFAULT NULL::text, p_started_at timestamp with time zone DEFAULT NULL::timestamp with time zone, p_completed_at timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_gen public.generations;
  v_status text;
  v_inserted integer;
  v_source text := coalesce(p_source, case when p_event_id is null then 'status_poll' else 'webhook' end);
begin
  v_status := case p_status
    when 'starting' then 'processing' when 'processing' then 'processing'
    when 'succeeded' then 'succeeded' when 'failed' then 'failed' when 'aborted' then 'failed'
    when 'canceled' then 'canceled' end;
  if v_status is null then
    raise exception 'unknown prediction status %', p_status using errcode = '22023';
  end if;
  if v_source not in ('webhook', 'status_poll', 'sweep') then
    raise exception 'unknown prediction source %', p_source using errcode = '22023';
  end if;

  select * into v_gen from public.generations where id = p_gen_id for update;
  if not found then
    return jsonb_build_object('outcome', 'unknown_generation');
  end if;
  if v_gen.replicate_id is not null and v_gen.replicate_id <> p_replicate_id then
    return jsonb_build_object('outcome', 'job_mismatch', 'generation', public._generation_json(v_gen));
  end if;

  -- Under the generation's lock, so two deliveries of one event cannot both pass.
  if p_event_id is not null then
    insert into public.webhook_events (id, generation_id) values (p_event_id, p_gen_id)
      on conflict (id) do nothing;
    get diagnostics v_inserted = row_count;
    if v_inserted = 0 then
      return jsonb_build_object('outcome', 'duplicate', 'generation', public._generation_json(v_gen));
    end if;
  end if;

  if v_gen.status in ('succeeded', 'failed', 'canceled') then
    return jsonb_build_object('outcome', 'unchanged', 'generation', public._generation_json(v_gen));
  end if;

  update public.generations
     set replicate_id = coalesce(replicate_id, p_replicate_id),
         progress = greatest(progress, least(coalesce(p_progress, 0), 99)),
         status = case when status = 'queued' then 'processing' else status end,
         started_at = coalesce(started_at, p_started_at),
         last_event_at = now(), updated_at = now()
   where id = p_gen_id
   returning * into v_gen;

  if v_status in ('succeeded', 'failed', 'canceled') then
    v_gen := public._finish_generation(
      v_gen, v_status,
      coalesce(nullif(p_error, ''), case v_status when 'canceled' then 'The generation was canceled.'
                                                  else 'The video provider could not make this video.' end),
      case p_status when 'aborted' then 'provider_aborted' when 'canceled' then 'canceled'
                    else 'provider_failed' end,
      p_output_url, v_source, p_started_at, p_completed_at);
  end if;
  return jsonb_build_object('outcome', 'applied', 'generation', public._generation_json(v_gen));
end
$$;

--
-- Name: record_video_copy(uuid, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.record_video_copy(p_gen_id uuid, p_video_path text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_gen public.generations;
begin
  update public.generations
     set video_path = coalesce(video_path, p_video_path), video_lost = false,
         video_copy_error = null, updated_at = now()
   where id = p_gen_id and status = 'succeeded'
  returning * into v_gen;
  return case when found then public._generation_json(v_gen) end;
end
$$;

--
-- Name: record_video_copy_failure(uuid, text, boolean); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.record_video_copy_failure(p_gen_id uuid, p_error text, p_give_up boolean) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_gen public.generations;
begin
  update public.generations
     set video_copy_attempts = video_copy_attempts + 1, video_copy_error = p_error,
         video_lost = p_give_up and video_path is null, updated_at = now()
   where id = p_gen_id and status = 'succeeded'
  returning * into v_gen;
  return case when found then public._generation_json(v_gen) end;
end
$$;

--
-- Name: record_webhook_attempt(text, integer, integer, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.record_webhook_attempt(p_event_id text, p_attempt integer, p_status_code integer DEFAULT NULL::integer, p_error text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: refresh_analytics(integer, integer, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.refresh_analytics(p_final_after_seconds integer, p_backfill_days integer DEFAULT 90, p_max_days integer DEFAULT 7) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: refund_credits(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.refund_credits(p_gen_id uuid) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: release_shares(jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.release_shares(p_share_ids jsonb) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_deleted integer;
begin
  delete from public.shares where id in (select jsonb_array_elements_text(p_share_ids));
  get diagnostics v_deleted = row_count;
  return v_deleted;
end
$$;

--
-- Name: require_profile(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.require_profile(p_user_id uuid) RETURNS void
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if not exists (select from public.profiles where id = p_user_id) then
    raise exception 'no account for this user; sign up again' using errcode = 'PT404';
  end if;
end
$$;

--
-- Name: retry_webhook_delivery(uuid, uuid, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.retry_webhook_delivery(p_user_id uuid, p_gen_id uuid, p_event_id text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: reverse_purchase(text, text, text, integer, jsonb, text, integer, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.reverse_purchase(p_event_id text, p_event_type text, p_payment_intent text, p_refunded_amount integer DEFAULT NULL::integer, p_refunds jsonb DEFAULT NULL::jsonb, p_dispute_id text DEFAULT NULL::text, p_dispute_amount integer DEFAULT NULL::integer, p_dispute_status text DEFAULT NULL::text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: revoke_api_key(uuid, uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.revoke_api_key(p_user_id uuid, p_key_id uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: rotate_webhook_secret(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.rotate_webhook_secret(p_user_id uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

--
-- Name: search_generations(uuid, integer, timestamp with time zone, uuid, boolean, text, text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.search_generations(p_user_id uuid, p_limit integer, p_before_created_at timestamp with time zone DEFAULT NULL::timestamp with time zone, p_before_id uuid DEFAULT NULL::uuid, p_favorite boolean DEFAULT NULL::boolean, p_status text DEFAULT NULL::text, p_kind text DEFAULT NULL::text, p_q text DEFAULT NULL::text) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_result jsonb;
begin
  execute 'select coalesce(jsonb_agg(public._generation_json(g) order by g.created_at desc, g.id desc), '
          '''[]''::jsonb) from (' || public._search_generations_sql(
            p_before_created_at is not null, p_favorite, p_status is not null, p_kind is not null,
            p_q is not null) || ') g'
    into v_result
    using p_user_id, p_limit, p_before_created_at, p_before_id, p_status, p_kind, p_q;
  return v_result;
end
$$;

--
-- Name: set_favorite(uuid, uuid, boolean); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.set_favorite(p_user_id uuid, p_gen_id uuid, p_favorite boolean) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_id uuid;
begin
  update public.generations set favorite = p_favorite
   where id = p_gen_id and user_id = p_user_id and deleted_at is null
  returning id into v_id;
  if v_id is null then
    raise exception 'generation % not found', p_gen_id using errcode = 'PT404';
  end if;
  return jsonb_build_object('generation_id', v_id, 'favorite', p_favorite);
end
$$;

--
-- Name: shares_of(jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.shares_of(p_gen_ids jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  return coalesce((select jsonb_agg(id order by id) from public.shares
                    where generation_id = any (public._uuids(p_gen_ids))), '[]'::jsonb);
end
$$;

--
-- Name: take_metrics_snapshot(integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.take_metrics_snapshot(p_min_age_seconds integer DEFAULT 60) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_last public.metrics_snapshots;
  v_started timestamptz := clock_timestamp();
  v_data jsonb;
  v_took integer;
begin
  -- The lock first, the age second: a session that gets the lock after another one committed its
  -- snapshot then sees that snapshot (each statement reads what is committed) and stops.
  if pg_try_advisory_xact_lock(7262009) then
    select * into v_last from public.metrics_snapshots order by id desc limit 1;
    if v_last.id is null or v_last.taken_at <= clock_timestamp() - make_interval(secs => p_min_age_seconds) then
      v_data := public.operator_metrics(null);
    end if;
  end if;
  if v_data is null then  -- fresh enough, or being taken by another session right now
    select * into v_last from public.metrics_snapshots order by id desc limit 1;
    return jsonb_build_object('taken', false, 'taken_at', v_last.taken_at, 'took_ms', v_last.took_ms);
  end if;
  v_took := (extract(epoch from clock_timestamp() - v_started) * 1000)::integer;
  insert into public.metrics_snapshots (took_ms, data) values (v_took, v_data) returning * into v_last;
  delete from public.metrics_snapshots where id <= v_last.id - 10;
  return jsonb_build_object('taken', true, 'taken_at', v_last.taken_at, 'took_ms', v_took);
end
$$;

--
-- Name: upgrade_api_key_hash(uuid, text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.upgrade_api_key_hash(p_key_id uuid, p_old_hash text, p_new_hash text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $_$
begin
  if p_new_hash not like 'hmac-sha256$%' then
    raise exception 'an upgraded API key hash is hmac-sha256' using errcode = '22023';
  end if;
  update public.api_keys set secret_hash = p_new_hash where id = p_key_id and secret_hash = p_old_hash;
  return found;
end
$_$;

--
-- Name: watch_generations(jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.watch_generations(p_ids jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  return (select coalesce(jsonb_agg(public._generation_json(g)), '[]'::jsonb)
            from public.generations g
           where g.id = any (public._uuids(p_ids)) and g.deleted_at is null);
end
$$;

--
-- Name: webhook_secret(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.webhook_secret(p_user_id uuid) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v public.webhook_secrets;
begin
  insert into public.webhook_secrets (user_id, secret) values (p_user_id, public._new_webhook_secret())
    on conflict (user_id) do nothing;
  select * into v from public.webhook_secrets where user_id = p_user_id;
  return public._webhook_secret_json(v);
end
$$;

--
-- Name: admin_audit_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.admin_audit ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.admin_audit_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: analytics_days; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.analytics_days (
    day date NOT NULL,
    data jsonb NOT NULL,
    computed_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    final boolean NOT NULL,
    took_ms integer NOT NULL
);

--
-- Name: content_refusals; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.content_refusals (
    id bigint NOT NULL,
    user_id uuid NOT NULL,
    field text NOT NULL,
    category text NOT NULL,
    source text NOT NULL,
    prompt text,
    refused_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT content_refusals_category_check CHECK (((length(category) >= 1) AND (length(category) <= 100))),
    CONSTRAINT content_refusals_field_check CHECK ((field = ANY (ARRAY['prompt'::text, 'negative_prompt'::text, 'image'::text]))),
    CONSTRAINT content_refusals_source_check CHECK ((source = ANY (ARRAY['local'::text, 'classifier'::text])))
);

--
-- Name: content_refusals_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.content_refusals ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.content_refusals_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: credit_transactions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.credit_transactions (
    id bigint NOT NULL,
    user_id uuid NOT NULL,
    amount integer NOT NULL,
    type text NOT NULL,
    generation_id uuid,
    description text,
    balance_after integer NOT NULL,
    created_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    purchase_session_id text,
    actor text,
    CONSTRAINT charge_and_refund_name_a_generation CHECK (((type <> ALL (ARRAY['deduction'::text, 'refund'::text])) OR (generation_id IS NOT NULL))),
    CONSTRAINT credit_transactions_amount_check CHECK ((amount <> 0)),
    CONSTRAINT credit_transactions_balance_after_check CHECK ((balance_after >= 0)),
    CONSTRAINT credit_transactions_type_check CHECK ((type = ANY (ARRAY['signup_bonus'::text, 'purchase'::text, 'deduction'::text, 'refund'::text, 'adjustment'::text, 'reversal'::text]))),
    CONSTRAINT reversal_names_a_purchase CHECK (((type <> 'reversal'::text) OR (purchase_session_id IS NOT NULL))),
    CONSTRAINT session_only_on_purchase_rows CHECK (((purchase_session_id IS NULL) OR (type = ANY (ARRAY['purchase'::text, 'reversal'::text])))),
    CONSTRAINT sign_matches_type CHECK ((((type = 'deduction'::text) AND (amount < 0)) OR ((type = ANY (ARRAY['signup_bonus'::text, 'purchase'::text, 'refund'::text])) AND (amount > 0)) OR (type = ANY (ARRAY['adjustment'::text, 'reversal'::text]))))
);

--
-- Name: credit_transactions_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.credit_transactions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.credit_transactions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: metrics_snapshots; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.metrics_snapshots (
    id bigint NOT NULL,
    taken_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    took_ms integer NOT NULL,
    data jsonb NOT NULL
);

--
-- Name: metrics_snapshots_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.metrics_snapshots ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.metrics_snapshots_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: moderation_blocks; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.moderation_blocks (
    user_id uuid NOT NULL,
    blocked_at timestamp with time zone NOT NULL,
    blocked_until timestamp with time zone NOT NULL,
    strikes integer NOT NULL,
    CONSTRAINT moderation_blocks_check CHECK ((blocked_until > blocked_at)),
    CONSTRAINT moderation_blocks_strikes_check CHECK ((strikes > 0))
);

--
-- Name: payment_refunds; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.payment_refunds (
    payment_intent text NOT NULL,
    amount_refunded integer NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT payment_refunds_amount_refunded_check CHECK ((amount_refunded >= 0))
);

--
-- Name: purchase_disputes; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.purchase_disputes (
    dispute_id text NOT NULL,
    payment_intent text NOT NULL,
    amount integer NOT NULL,
    status text DEFAULT 'open'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT purchase_disputes_amount_check CHECK ((amount > 0)),
    CONSTRAINT purchase_disputes_status_check CHECK ((status = ANY (ARRAY['open'::text, 'won'::text, 'lost'::text])))
);

--
-- Name: purchase_refunds; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.purchase_refunds (
    refund_id text NOT NULL,
    payment_intent text NOT NULL,
    amount integer NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    status text DEFAULT 'succeeded'::text NOT NULL,
    CONSTRAINT purchase_refunds_amount_check CHECK ((amount > 0)),
    CONSTRAINT purchase_refunds_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'requires_action'::text, 'succeeded'::text, 'failed'::text, 'canceled'::text])))
);

--
-- Name: rate_counters; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.rate_counters (
    subject uuid NOT NULL,
    bucket text NOT NULL,
    window_start timestamp with time zone NOT NULL,
    hits integer NOT NULL,
    CONSTRAINT rate_counters_hits_check CHECK ((hits >= 0))
);

--
-- Name: shares; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.shares (
    id text NOT NULL,
    generation_id uuid NOT NULL,
    views bigint DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT shares_id_check CHECK ((id ~ '^[A-Za-z0-9_-]{22,64}$'::text)),
    CONSTRAINT shares_views_check CHECK ((views >= 0))
);

--
-- Name: stripe_events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.stripe_events (
    event_id text NOT NULL,
    type text NOT NULL,
    outcome text NOT NULL,
    session_id text,
    received_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: webhook_deliveries_seq_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.webhook_deliveries ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.webhook_deliveries_seq_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

--
-- Name: webhook_events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_events (
    id text NOT NULL,
    generation_id uuid,
    received_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: schema_migrations; Type: TABLE; Schema: wan_private; Owner: -
--

CREATE TABLE wan_private.schema_migrations (
    filename text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: admin_audit admin_audit_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.admin_audit
    ADD CONSTRAINT admin_audit_pkey PRIMARY KEY (id);

--
-- Name: analytics_days analytics_days_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.analytics_days
    ADD CONSTRAINT analytics_days_pkey PRIMARY KEY (day);

--
-- Name: api_keys api_keys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_pkey PRIMARY KEY (id);

--
-- Name: api_keys api_keys_prefix_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_prefix_key UNIQUE (prefix);

--
-- Name: content_refusals content_refusals_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.content_refusals
    ADD CONSTRAINT content_refusals_pkey PRIMARY KEY (id);

--
-- Name: credit_transactions credit_transactions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.credit_transactions
    ADD CONSTRAINT credit_transactions_pkey PRIMARY KEY (id);

--
-- Name: generations generations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.generations
    ADD CONSTRAINT generations_pkey PRIMARY KEY (id);

--
-- Name: generations generations_replicate_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.generations
    ADD CONSTRAINT generations_replicate_id_key UNIQUE (replicate_id);

--
-- Name: metrics_snapshots metrics_snapshots_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.metrics_snapshots
    ADD CONSTRAINT metrics_snapshots_pkey PRIMARY KEY (id);

--
-- Name: moderation_blocks moderation_blocks_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.moderation_blocks
    ADD CONSTRAINT moderation_blocks_pkey PRIMARY KEY (user_id);

--
-- Name: payment_refunds payment_refunds_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.payment_refunds
    ADD CONSTRAINT payment_refunds_pkey PRIMARY KEY (payment_intent);

--
-- Name: profiles profiles_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.profiles
    ADD CONSTRAINT profiles_pkey PRIMARY KEY (id);

--
-- Name: purchase_disputes purchase_disputes_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.purchase_disputes
    ADD CONSTRAINT purchase_disputes_pkey PRIMARY KEY (dispute_id);

--
-- Name: purchase_refunds purchase_refunds_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.purchase_refunds
    ADD CONSTRAINT purchase_refunds_pkey PRIMARY KEY (refund_id);

--
-- Name: purchases purchases_payment_intent_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.purchases
    ADD CONSTRAINT purchases_payment_intent_key UNIQUE (payment_intent);

--
-- Name: purchases purchases_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.purchases
    ADD CONSTRAINT purchases_pkey PRIMARY KEY (session_id);

--
-- Name: rate_counters rate_counters_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.rate_counters
    ADD CONSTRAINT rate_counters_pkey PRIMARY KEY (subject, bucket);

--
-- Name: shares shares_generation_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.shares
    ADD CONSTRAINT shares_generation_id_key UNIQUE (generation_id);

--
-- Name: shares shares_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.shares
    ADD CONSTRAINT shares_pkey PRIMARY KEY (id);

--
-- Name: stripe_events stripe_events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.stripe_events
    ADD CONSTRAINT stripe_events_pkey PRIMARY KEY (event_id);

--
-- Name: webhook_deliveries webhook_deliveries_event_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_event_id_key UNIQUE (event_id);

--
-- Name: webhook_deliveries webhook_deliveries_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (seq);

--
-- Name: webhook_events webhook_events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_events
    ADD CONSTRAINT webhook_events_pkey PRIMARY KEY (id);

--
-- Name: webhook_secrets webhook_secrets_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_secrets
    ADD CONSTRAINT webhook_secrets_pkey PRIMARY KEY (user_id);

--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: wan_private; Owner: -
--

ALTER TABLE ONLY wan_private.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (filename);

--
-- Name: admin_audit_by_user; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX admin_audit_by_user ON public.admin_audit USING btree (user_id, id DESC);

--
-- Name: api_keys_by_user; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX api_keys_by_user ON public.api_keys USING btree (user_id);

--
-- Name: content_refusals_by_time; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX content_refusals_by_time ON public.content_refusals USING btree (refused_at);

--
-- Name: content_refusals_by_user; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX content_refusals_by_user ON public.content_refusals USING btree (user_id, refused_at);

--
-- Name: credit_transactions_by_session; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX credit_transactions_by_session ON public.credit_transactions USING btree (purchase_session_id) WHERE (purchase_session_id IS NOT NULL);

--
-- Name: credit_transactions_created_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX credit_transactions_created_at ON public.credit_transactions USING btree (created_at);

--
-- Name: credit_transactions_history; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX credit_transactions_history ON public.credit_transactions USING btree (user_id, id DESC);

--
-- Name: generations_by_kind; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX generations_by_kind ON public.generations USING btree (user_id, kind, created_at DESC, id DESC) WHERE (deleted_at IS NULL);

--
-- Name: generations_by_status; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX generations_by_status ON public.generations USING btree (user_id, status, created_at DESC, id DESC) WHERE (deleted_at IS NULL);

--
-- Name: generations_created_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX generations_created_at ON public.generations USING btree (created_at);

--
-- Name: generations_deleted_files; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX generations_deleted_files ON public.generations USING btree (deleted_at) WHERE ((deleted_at IS NOT NULL) AND (((video_path IS NOT NULL) AND (video_deleted_at IS NULL)) OR ((image_path IS NOT NULL) AND (image_deleted_at IS NULL))));

--
-- Name: generations_extends; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX generations_extends ON public.generations USING btree (extends) WHERE (extends IS NOT NULL);

--
-- Name: generations_failed_recent; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX generations_failed_recent ON public.generations USING btree (completed_at DESC) WHERE (status = 'failed'::text);

--
-- Name: generations_favorites; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX generations_favorites ON public.generations USING btree (user_id, created_at DESC, id DESC) WHERE (favorite AND (deleted_at IS NULL));

--
-- Name: generations_files_stored; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX generations_files_stored ON public.generations USING btree (completed_at) WHERE ((completed_at IS NOT NULL) AND (((video_path IS NOT NULL) AND (video_deleted_at IS NULL)) OR ((image_path IS NOT NULL) AND (image_deleted_at IS NULL))));

--
-- Name: generations_files_stored_not_favorite; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX generations_files_stored_not_favorite ON public.generations USING btree (completed_at) WHERE ((completed_at IS NOT NULL) AND (NOT favorite) AND (((video_path IS NOT NULL) AND (video_deleted_at IS NULL)) OR ((image_path IS NOT NULL) AND (image_deleted_at IS NULL))));

--
-- Name: generations_history; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX generations_history ON public.generations USING btree (user_id, created_at DESC, id DESC);

--
-- Name: generations_idempotency_key; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX generations_idempotency_key ON public.generations USING btree (user_id, idempotency_key) WHERE (idempotency_key IS NOT NULL);

--
-- Name: generations_image_path; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX generations_image_path ON public.generations USING btree (image_path) WHERE (image_path IS NOT NULL);

--
-- Name: generations_processing_quiet; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX generations_processing_quiet ON public.generations USING btree (COALESCE(last_event_at, created_at)) WHERE (status = 'processing'::text);

--
-- Name: generations_prompt_words; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX generations_prompt_words ON public.generations USING gin (public.prompt_words(user_id, prompt)) WHERE (deleted_at IS NULL);

--
-- Name: generations_retry_of; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX generations_retry_of ON public.generations USING btree (retry_of) WHERE (retry_of IS NOT NULL);

--
-- Name: generations_unfinished_since; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX generations_unfinished_since ON public.generations USING btree (created_at) WHERE (status = ANY (ARRAY['queued'::text, 'processing'::text]));

--
-- Name: generations_video_pending; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX generations_video_pending ON public.generations USING btree (completed_at) WHERE ((status = 'succeeded'::text) AND (video_path IS NULL) AND (NOT video_lost));

--
-- Name: one_deduction_per_generation; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX one_deduction_per_generation ON public.credit_transactions USING btree (generation_id) WHERE (type = 'deduction'::text);

--
-- Name: one_goodwill_refund_per_generation; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX one_goodwill_refund_per_generation ON public.credit_transactions USING btree (generation_id) WHERE ((type = 'adjustment'::text) AND (generation_id IS NOT NULL));

--
-- Name: one_purchase_per_session; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX one_purchase_per_session ON public.credit_transactions USING btree (purchase_session_id) WHERE (type = 'purchase'::text);

--
-- Name: one_refund_per_generation; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX one_refund_per_generation ON public.credit_transactions USING btree (generation_id) WHERE (type = 'refund'::text);

--
-- Name: one_signup_bonus_per_user; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX one_signup_bonus_per_user ON public.credit_transactions USING btree (user_id) WHERE (type = 'signup_bonus'::text);

--
-- Name: profiles_email; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX profiles_email ON public.profiles USING btree (lower(email));

--
-- Name: profiles_email_prefix; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX profiles_email_prefix ON public.profiles USING btree (lower(email) text_pattern_ops);

--
-- Name: profiles_newest; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX profiles_newest ON public.profiles USING btree (created_at DESC);

--
-- Name: purchase_disputes_by_payment; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX purchase_disputes_by_payment ON public.purchase_disputes USING btree (payment_intent);

--
-- Name: purchase_refunds_by_payment; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX purchase_refunds_by_payment ON public.purchase_refunds USING btree (payment_intent);

--
-- Name: purchases_by_user; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX purchases_by_user ON public.purchases USING btree (user_id, created_at DESC);

--
-- Name: webhook_deliveries_due; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_deliveries_due ON public.webhook_deliveries USING btree (next_attempt_at) WHERE (status = 'pending'::text);

--
-- Name: webhook_deliveries_generation; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_deliveries_generation ON public.webhook_deliveries USING btree (generation_id);

--
-- Name: webhook_deliveries_in_flight; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_deliveries_in_flight ON public.webhook_deliveries USING btree (user_id) WHERE (status = 'pending'::text);

--
-- Name: webhook_events_generation; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_events_generation ON public.webhook_events USING btree (generation_id);

--
-- Name: admin_audit admin_audit_append_only; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER admin_audit_append_only BEFORE DELETE OR UPDATE ON public.admin_audit FOR EACH ROW EXECUTE FUNCTION public._audit_is_append_only();

--
-- Name: admin_audit admin_audit_no_truncate; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER admin_audit_no_truncate BEFORE TRUNCATE ON public.admin_audit FOR EACH STATEMENT EXECUTE FUNCTION public._audit_is_append_only();

--
-- Name: generations count_active_generations; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER count_active_generations AFTER INSERT OR DELETE OR UPDATE OF status ON public.generations FOR EACH ROW EXECUTE FUNCTION public._count_active_generations();

--
-- Name: generations generations_moderation_block; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER generations_moderation_block BEFORE INSERT ON public.generations FOR EACH ROW EXECUTE FUNCTION public._refuse_moderation_blocked();

--
-- Name: generations generations_provider_safety_refusal; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER generations_provider_safety_refusal BEFORE UPDATE OF status ON public.generations FOR EACH ROW WHEN (((new.status = 'failed'::text) AND (old.status = ANY (ARRAY['queued'::text, 'processing'::text])))) EXECUTE FUNCTION public._type_provider_safety_refusal();

--
-- Name: generations queue_webhook_deliveries; Type: TRIGGER; Schema: public; Owner: -
--

CREATE CONSTRAINT TRIGGER queue_webhook_deliveries AFTER UPDATE OF status, progress ON public.generations DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (((new.webhook_url IS NOT NULL) AND ((old.status IS DISTINCT FROM new.status) OR (old.progress IS DISTINCT FROM new.progress)))) EXECUTE FUNCTION public._queue_webhook_deliveries();

--
-- Name: purchases refuse_blocked_checkouts; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER refuse_blocked_checkouts BEFORE INSERT ON public.purchases FOR EACH ROW EXECUTE FUNCTION public._refuse_blocked();

--
-- Name: generations refuse_blocked_generations; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER refuse_blocked_generations BEFORE INSERT ON public.generations FOR EACH ROW EXECUTE FUNCTION public._refuse_blocked();

--
-- Name: generations stop_webhook_deliveries; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER stop_webhook_deliveries AFTER UPDATE OF deleted_at ON public.generations FOR EACH ROW WHEN (((old.deleted_at IS NULL) AND (new.deleted_at IS NOT NULL))) EXECUTE FUNCTION public._stop_webhook_deliveries();

--
-- Name: api_keys api_keys_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.profiles(id) ON DELETE CASCADE;

--
-- Name: content_refusals content_refusals_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.content_refusals
    ADD CONSTRAINT content_refusals_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.profiles(id) ON DELETE CASCADE;

--
-- Name: credit_transactions credit_transactions_generation_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.credit_transactions
    ADD CONSTRAINT credit_transactions_generation_id_fkey FOREIGN KEY (generation_id) REFERENCES public.generations(id) ON DELETE CASCADE;

--
-- Name: credit_transactions credit_transactions_purchase_session_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.credit_transactions
    ADD CONSTRAINT credit_transactions_purchase_session_id_fkey FOREIGN KEY (purchase_session_id) REFERENCES public.purchases(session_id) ON DELETE CASCADE;

--
-- Name: credit_transactions credit_transactions_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.credit_transactions
    ADD CONSTRAINT credit_transactions_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.profiles(id) ON DELETE CASCADE;

--
-- Name: generations generations_extends_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.generations
    ADD CONSTRAINT generations_extends_fkey FOREIGN KEY (extends) REFERENCES public.generations(id) ON DELETE SET NULL;

--
-- Name: generations generations_retry_of_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.generations
    ADD CONSTRAINT generations_retry_of_fkey FOREIGN KEY (retry_of) REFERENCES public.generations(id) ON DELETE SET NULL;

--
-- Name: generations generations_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.generations
    ADD CONSTRAINT generations_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.profiles(id) ON DELETE CASCADE;

--
-- Name: moderation_blocks moderation_blocks_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.moderation_blocks
    ADD CONSTRAINT moderation_blocks_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.profiles(id) ON DELETE CASCADE;

--
-- Name: profiles profiles_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.profiles
    ADD CONSTRAINT profiles_id_fkey FOREIGN KEY (id) REFERENCES auth.users(id) ON DELETE CASCADE;

--
-- Name: purchases purchases_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.purchases
    ADD CONSTRAINT purchases_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.profiles(id) ON DELETE CASCADE;

--
-- Name: shares shares_generation_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.shares
    ADD CONSTRAINT shares_generation_id_fkey FOREIGN KEY (generation_id) REFERENCES public.generations(id) ON DELETE CASCADE;

--
-- Name: webhook_deliveries webhook_deliveries_generation_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_generation_id_fkey FOREIGN KEY (generation_id) REFERENCES public.generations(id) ON DELETE CASCADE;

--
-- Name: webhook_events webhook_events_generation_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_events
    ADD CONSTRAINT webhook_events_generation_id_fkey FOREIGN KEY (generation_id) REFERENCES public.generations(id) ON DELETE CASCADE;

--
-- Name: webhook_secrets webhook_secrets_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_secrets
    ADD CONSTRAINT webhook_secrets_user_id_fkey FOREIGN KEY (user_id) REFERENCES auth.users(id) ON DELETE CASCADE;

--
-- Name: admin_audit; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.admin_audit ENABLE ROW LEVEL SECURITY;

--
-- Name: analytics_days; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.analytics_days ENABLE ROW LEVEL SECURITY;

--
-- Name: api_keys; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.api_keys ENABLE ROW LEVEL SECURITY;

--
-- Name: content_refusals; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.content_refusals ENABLE ROW LEVEL SECURITY;

--
-- Name: credit_transactions; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.credit_transactions ENABLE ROW LEVEL SECURITY;

--
-- Name: generations; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.generations ENABLE ROW LEVEL SECURITY;

--
-- Name: metrics_snapshots; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.metrics_snapshots ENABLE ROW LEVEL SECURITY;

--
-- Name: moderation_blocks; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.moderation_blocks ENABLE ROW LEVEL SECURITY;

--
-- Name: generations own generations; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "own generations" ON public.generations FOR SELECT TO authenticated USING ((user_id = ( SELECT auth.uid() AS uid)));

--
-- Name: profiles own profile; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "own profile" ON public.profiles FOR SELECT TO authenticated USING ((id = ( SELECT auth.uid() AS uid)));

--
-- Name: purchases own purchases; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "own purchases" ON public.purchases FOR SELECT TO authenticated USING ((user_id = ( SELECT auth.uid() AS uid)));

--
-- Name: credit_transactions own transactions; Type: POLICY; Schema: public; Owner: -
--

CREATE POLICY "own transactions" ON public.credit_transactions FOR SELECT TO authenticated USING ((user_id = ( SELECT auth.uid() AS uid)));

--
-- Name: payment_refunds; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.payment_refunds ENABLE ROW LEVEL SECURITY;

--
-- Name: profiles; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;

--
-- Name: purchase_disputes; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.purchase_disputes ENABLE ROW LEVEL SECURITY;

--
-- Name: purchase_refunds; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.purchase_refunds ENABLE ROW LEVEL SECURITY;

--
-- Name: purchases; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.purchases ENABLE ROW LEVEL SECURITY;

--
-- Name: rate_counters; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.rate_counters ENABLE ROW LEVEL SECURITY;

--
-- Name: shares; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.shares ENABLE ROW LEVEL SECURITY;

--
-- Name: stripe_events; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.stripe_events ENABLE ROW LEVEL SECURITY;

--
-- Name: webhook_deliveries; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.webhook_deliveries ENABLE ROW LEVEL SECURITY;

--
-- Name: webhook_events; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.webhook_events ENABLE ROW LEVEL SECURITY;

--
-- Name: webhook_secrets; Type: ROW SECURITY; Schema: public; Owner: -
--

ALTER TABLE public.webhook_secrets ENABLE ROW LEVEL SECURITY;

--
-- Name: SCHEMA public; Type: ACL; Schema: -; Owner: -
--

GRANT USAGE ON SCHEMA public TO anon;
GRANT USAGE ON SCHEMA public TO authenticated;
GRANT USAGE ON SCHEMA public TO service_role;

--
-- Name: TABLE profiles; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT ON TABLE public.profiles TO authenticated;
GRANT SELECT ON TABLE public.profiles TO service_role;

--
-- Name: FUNCTION _admin_user_summary(p public.profiles); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._admin_user_summary(p public.profiles) FROM PUBLIC;

--
-- Name: FUNCTION _analytics_day(p_day date); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._analytics_day(p_day date) FROM PUBLIC;

--
-- Name: TABLE api_keys; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT ON TABLE public.api_keys TO service_role;

--
-- Name: FUNCTION _api_key_json(p_key public.api_keys); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._api_key_json(p_key public.api_keys) FROM PUBLIC;

--
-- Name: FUNCTION _audit_is_append_only(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._audit_is_append_only() FROM PUBLIC;

--
-- Name: FUNCTION _audit_json(a public.admin_audit); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._audit_json(a public.admin_audit) FROM PUBLIC;

--
-- Name: FUNCTION _count_active_generations(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._count_active_generations() FROM PUBLIC;

--
-- Name: TABLE webhook_deliveries; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT ON TABLE public.webhook_deliveries TO service_role;

--
-- Name: FUNCTION _delivery_json(d public.webhook_deliveries); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._delivery_json(d public.webhook_deliveries) FROM PUBLIC;

--
-- Name: FUNCTION _dispute_rank(p_status text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._dispute_rank(p_status text) FROM PUBLIC;

--
-- Name: FUNCTION _files_json(p_ids uuid[]); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._files_json(p_ids uuid[]) FROM PUBLIC;

--
-- Name: TABLE generations; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT ON TABLE public.generations TO authenticated;
GRANT SELECT ON TABLE public.generations TO service_role;

--
-- Name: FUNCTION _finish_generation(p_gen public.generations, p_status text, p_error text, p_error_code text, p_output_url text, p_settled_by text, p_started_at timestamp with time zone, p_provider_completed_at timestamp with time zone); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._finish_generation(p_gen public.generations, p_status text, p_error text, p_error_code text, p_output_url text, p_settled_by text, p_started_at timestamp with time zone, p_provider_completed_at timestamp with time zone) FROM PUBLIC;

--
-- Name: FUNCTION _generation_json(g public.generations); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._generation_json(g public.generations) FROM PUBLIC;

--
-- Name: FUNCTION _hit_rate(p_subject uuid, p_bucket text, p_limit integer); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._hit_rate(p_subject uuid, p_bucket text, p_limit integer) FROM PUBLIC;

--
-- Name: FUNCTION _iso(p_time timestamp with time zone); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._iso(p_time timestamp with time zone) FROM PUBLIC;

--
-- Name: FUNCTION _lock_payment(p_payment_intent text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._lock_payment(p_payment_intent text) FROM PUBLIC;

--
-- Name: FUNCTION _new_webhook_secret(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._new_webhook_secret() FROM PUBLIC;

--
-- Name: FUNCTION _note_stripe_event(p_event_id text, p_type text, p_outcome text, p_session_id text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._note_stripe_event(p_event_id text, p_type text, p_outcome text, p_session_id text) FROM PUBLIC;

--
-- Name: FUNCTION _own_generation(p_user_id uuid, p_gen_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._own_generation(p_user_id uuid, p_gen_id uuid) FROM PUBLIC;

--
-- Name: FUNCTION _post_ledger_entry(p_user_id uuid, p_amount integer, p_type text, p_gen_id uuid, p_description text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._post_ledger_entry(p_user_id uuid, p_amount integer, p_type text, p_gen_id uuid, p_description text) FROM PUBLIC;

--
-- Name: FUNCTION _post_purchase_entry(p_user_id uuid, p_amount integer, p_type text, p_session_id text, p_description text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._post_purchase_entry(p_user_id uuid, p_amount integer, p_type text, p_session_id text, p_description text) FROM PUBLIC;

--
-- Name: TABLE purchases; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT ON TABLE public.purchases TO authenticated;
GRANT SELECT ON TABLE public.purchases TO service_role;

--
-- Name: FUNCTION _purchase_json(p public.purchases); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._purchase_json(p public.purchases) FROM PUBLIC;

--
-- Name: FUNCTION _queue_delivery(g public.generations, p_type text, p_data jsonb); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._queue_delivery(g public.generations, p_type text, p_data jsonb) FROM PUBLIC;

--
-- Name: FUNCTION _queue_webhook_deliveries(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._queue_webhook_deliveries() FROM PUBLIC;

--
-- Name: FUNCTION _refuse_blocked(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._refuse_blocked() FROM PUBLIC;

--
-- Name: FUNCTION _refuse_moderation_blocked(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._refuse_moderation_blocked() FROM PUBLIC;

--
-- Name: FUNCTION _search_generations_sql(p_paged boolean, p_favorite boolean, p_status boolean, p_kind boolean, p_q boolean); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._search_generations_sql(p_paged boolean, p_favorite boolean, p_status boolean, p_kind boolean, p_q boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION public._search_generations_sql(p_paged boolean, p_favorite boolean, p_status boolean, p_kind boolean, p_q boolean) TO service_role;

--
-- Name: FUNCTION _settle_reversals(p_session_id text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._settle_reversals(p_session_id text) FROM PUBLIC;

--
-- Name: FUNCTION _stop_webhook_deliveries(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._stop_webhook_deliveries() FROM PUBLIC;

--
-- Name: FUNCTION _touch_api_key(p_key_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._touch_api_key(p_key_id uuid) FROM PUBLIC;

--
-- Name: FUNCTION _type_provider_safety_refusal(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._type_provider_safety_refusal() FROM PUBLIC;

--
-- Name: FUNCTION _uuids(p_ids jsonb); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._uuids(p_ids jsonb) FROM PUBLIC;

--
-- Name: FUNCTION _video_kept(g public.generations); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._video_kept(g public.generations) FROM PUBLIC;
GRANT ALL ON FUNCTION public._video_kept(g public.generations) TO service_role;

--
-- Name: FUNCTION _webhook_retry_delay(p_attempts integer); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._webhook_retry_delay(p_attempts integer) FROM PUBLIC;

--
-- Name: FUNCTION _webhook_secret_json(s public.webhook_secrets); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public._webhook_secret_json(s public.webhook_secrets) FROM PUBLIC;

--
-- Name: FUNCTION add_credits(p_user_id uuid, p_amount integer, p_type text, p_description text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.add_credits(p_user_id uuid, p_amount integer, p_type text, p_description text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.add_credits(p_user_id uuid, p_amount integer, p_type text, p_description text) TO service_role;

--
-- Name: FUNCTION add_share_views(p_counts jsonb); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.add_share_views(p_counts jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.add_share_views(p_counts jsonb) TO service_role;

--
-- Name: FUNCTION adjust_credits(p_user_id uuid, p_amount integer, p_reason text, p_actor text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.adjust_credits(p_user_id uuid, p_amount integer, p_reason text, p_actor text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.adjust_credits(p_user_id uuid, p_amount integer, p_reason text, p_actor text) TO service_role;

--
-- Name: FUNCTION admin_adjust_credits(p_user_id uuid, p_amount integer, p_reason text, p_actor text, p_actor_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.admin_adjust_credits(p_user_id uuid, p_amount integer, p_reason text, p_actor text, p_actor_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.admin_adjust_credits(p_user_id uuid, p_amount integer, p_reason text, p_actor text, p_actor_id uuid) TO service_role;

--
-- Name: FUNCTION admin_analytics(p_days integer); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.admin_analytics(p_days integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.admin_analytics(p_days integer) TO service_role;

--
-- Name: FUNCTION admin_audit_list(p_limit integer, p_before bigint, p_user_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.admin_audit_list(p_limit integer, p_before bigint, p_user_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.admin_audit_list(p_limit integer, p_before bigint, p_user_id uuid) TO service_role;

--
-- Name: FUNCTION admin_block_user(p_user_id uuid, p_reason text, p_actor text, p_actor_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.admin_block_user(p_user_id uuid, p_reason text, p_actor text, p_actor_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.admin_block_user(p_user_id uuid, p_reason text, p_actor text, p_actor_id uuid) TO service_role;

--
-- Name: FUNCTION admin_generations(p_list text, p_quiet_seconds integer, p_limit integer); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.admin_generations(p_list text, p_quiet_seconds integer, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.admin_generations(p_list text, p_quiet_seconds integer, p_limit integer) TO service_role;

--
-- Name: FUNCTION admin_goodwill_refund(p_gen_id uuid, p_reason text, p_actor text, p_actor_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.admin_goodwill_refund(p_gen_id uuid, p_reason text, p_actor text, p_actor_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.admin_goodwill_refund(p_gen_id uuid, p_reason text, p_actor text, p_actor_id uuid) TO service_role;

--
-- Name: FUNCTION admin_unblock_user(p_user_id uuid, p_actor text, p_actor_id uuid, p_reason text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.admin_unblock_user(p_user_id uuid, p_actor text, p_actor_id uuid, p_reason text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.admin_unblock_user(p_user_id uuid, p_actor text, p_actor_id uuid, p_reason text) TO service_role;

--
-- Name: FUNCTION admin_user(p_user_id uuid, p_limit integer); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.admin_user(p_user_id uuid, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.admin_user(p_user_id uuid, p_limit integer) TO service_role;

--
-- Name: FUNCTION admin_users(p_query text, p_limit integer); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.admin_users(p_query text, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.admin_users(p_query text, p_limit integer) TO service_role;

--
-- Name: FUNCTION api_key_by_prefix(p_prefix text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.api_key_by_prefix(p_prefix text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.api_key_by_prefix(p_prefix text) TO service_role;

--
-- Name: FUNCTION assert_not_blocked(p_user_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.assert_not_blocked(p_user_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.assert_not_blocked(p_user_id uuid) TO service_role;

--
-- Name: FUNCTION cancel_generation(p_user_id uuid, p_gen_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.cancel_generation(p_user_id uuid, p_gen_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.cancel_generation(p_user_id uuid, p_gen_id uuid) TO service_role;

--
-- Name: FUNCTION claim_for_retention(p_age_seconds integer, p_batch integer, p_lease_seconds integer); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.claim_for_retention(p_age_seconds integer, p_batch integer, p_lease_seconds integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.claim_for_retention(p_age_seconds integer, p_batch integer, p_lease_seconds integer) TO service_role;

--
-- Name: FUNCTION claim_for_sweep(p_rule text, p_age_seconds integer, p_batch integer, p_lease_seconds integer); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.claim_for_sweep(p_rule text, p_age_seconds integer, p_batch integer, p_lease_seconds integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.claim_for_sweep(p_rule text, p_age_seconds integer, p_batch integer, p_lease_seconds integer) TO service_role;

--
-- Name: FUNCTION claim_webhook_deliveries(p_generation_id uuid, p_limit integer, p_max_in_flight integer, p_lease_seconds integer); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.claim_webhook_deliveries(p_generation_id uuid, p_limit integer, p_max_in_flight integer, p_lease_seconds integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.claim_webhook_deliveries(p_generation_id uuid, p_limit integer, p_max_in_flight integer, p_lease_seconds integer) TO service_role;

--
-- Name: FUNCTION create_api_key(p_user_id uuid, p_name text, p_prefix text, p_last_chars text, p_secret_hash text, p_salt text, p_max_active integer); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.create_api_key(p_user_id uuid, p_name text, p_prefix text, p_last_chars text, p_secret_hash text, p_salt text, p_max_active integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.create_api_key(p_user_id uuid, p_name text, p_prefix text, p_last_chars text, p_secret_hash text, p_salt text, p_max_active integer) TO service_role;

--
-- Name: FUNCTION create_block_reason(p_user_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.create_block_reason(p_user_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.create_block_reason(p_user_id uuid) TO service_role;

--
-- Name: FUNCTION create_generation(p_user_id uuid, p_kind text, p_model text, p_resolution text, p_prompt text, p_cost integer, p_max_active integer, p_negative_prompt text, p_seed bigint, p_aspect_ratio text, p_image_path text, p_idempotency_key text, p_request_hash text, p_retry_of uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.create_generation(p_user_id uuid, p_kind text, p_model text, p_resolution text, p_prompt text, p_cost integer, p_max_active integer, p_negative_prompt text, p_seed bigint, p_aspect_ratio text, p_image_path text, p_idempotency_key text, p_request_hash text, p_retry_of uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.create_generation(p_user_id uuid, p_kind text, p_model text, p_resolution text, p_prompt text, p_cost integer, p_max_active integer, p_negative_prompt text, p_seed bigint, p_aspect_ratio text, p_image_path text, p_idempotency_key text, p_request_hash text, p_retry_of uuid) TO service_role;

--
-- Name: FUNCTION create_generation_edit(p_user_id uuid, p_kind text, p_model text, p_resolution text, p_prompt text, p_cost integer, p_max_active integer, p_rate_limit integer, p_global_limit integer, p_negative_prompt text, p_seed bigint, p_aspect_ratio text, p_image_path text, p_idempotency_key text, p_request_hash text, p_retry_of uuid, p_api_key_id uuid, p_webhook_url text, p_webhook_events jsonb, p_extends uuid, p_last_image_path text, p_duration integer); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.create_generation_edit(p_user_id uuid, p_kind text, p_model text, p_resolution text, p_prompt text, p_cost integer, p_max_active integer, p_rate_limit integer, p_global_limit integer, p_negative_prompt text, p_seed bigint, p_aspect_ratio text, p_image_path text, p_idempotency_key text, p_request_hash text, p_retry_of uuid, p_api_key_id uuid, p_webhook_url text, p_webhook_events jsonb, p_extends uuid, p_last_image_path text, p_duration integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.create_generation_edit(p_user_id uuid, p_kind text, p_model text, p_resolution text, p_prompt text, p_cost integer, p_max_active integer, p_rate_limit integer, p_global_limit integer, p_negative_prompt text, p_seed bigint, p_aspect_ratio text, p_image_path text, p_idempotency_key text, p_request_hash text, p_retry_of uuid, p_api_key_id uuid, p_webhook_url text, p_webhook_events jsonb, p_extends uuid, p_last_image_path text, p_duration integer) TO service_role;

--
-- Name: FUNCTION create_generation_limited(p_user_id uuid, p_kind text, p_model text, p_resolution text, p_prompt text, p_cost integer, p_max_active integer, p_rate_limit integer, p_global_limit integer, p_negative_prompt text, p_seed bigint, p_aspect_ratio text, p_image_path text, p_idempotency_key text, p_request_hash text, p_retry_of uuid, p_api_key_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.create_generation_limited(p_user_id uuid, p_kind text, p_model text, p_resolution text, p_prompt text, p_cost integer, p_max_active integer, p_rate_limit integer, p_global_limit integer, p_negative_prompt text, p_seed bigint, p_aspect_ratio text, p_image_path text, p_idempotency_key text, p_request_hash text, p_retry_of uuid, p_api_key_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.create_generation_limited(p_user_id uuid, p_kind text, p_model text, p_resolution text, p_prompt text, p_cost integer, p_max_active integer, p_rate_limit integer, p_global_limit integer, p_negative_prompt text, p_seed bigint, p_aspect_ratio text, p_image_path text, p_idempotency_key text, p_request_hash text, p_retry_of uuid, p_api_key_id uuid) TO service_role;

--
-- Name: FUNCTION create_generation_pushed(p_user_id uuid, p_kind text, p_model text, p_resolution text, p_prompt text, p_cost integer, p_max_active integer, p_rate_limit integer, p_global_limit integer, p_negative_prompt text, p_seed bigint, p_aspect_ratio text, p_image_path text, p_idempotency_key text, p_request_hash text, p_retry_of uuid, p_api_key_id uuid, p_webhook_url text, p_webhook_events jsonb); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.create_generation_pushed(p_user_id uuid, p_kind text, p_model text, p_resolution text, p_prompt text, p_cost integer, p_max_active integer, p_rate_limit integer, p_global_limit integer, p_negative_prompt text, p_seed bigint, p_aspect_ratio text, p_image_path text, p_idempotency_key text, p_request_hash text, p_retry_of uuid, p_api_key_id uuid, p_webhook_url text, p_webhook_events jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.create_generation_pushed(p_user_id uuid, p_kind text, p_model text, p_resolution text, p_prompt text, p_cost integer, p_max_active integer, p_rate_limit integer, p_global_limit integer, p_negative_prompt text, p_seed bigint, p_aspect_ratio text, p_image_path text, p_idempotency_key text, p_request_hash text, p_retry_of uuid, p_api_key_id uuid, p_webhook_url text, p_webhook_events jsonb) TO service_role;

--
-- Name: FUNCTION create_share(p_user_id uuid, p_gen_id uuid, p_share_id text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.create_share(p_user_id uuid, p_gen_id uuid, p_share_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.create_share(p_user_id uuid, p_gen_id uuid, p_share_id text) TO service_role;

--
-- Name: FUNCTION deduct_credits(p_user_id uuid, p_amount integer, p_gen_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.deduct_credits(p_user_id uuid, p_amount integer, p_gen_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.deduct_credits(p_user_id uuid, p_amount integer, p_gen_id uuid) TO service_role;

--
-- Name: FUNCTION delete_generations(p_user_id uuid, p_gen_ids jsonb); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.delete_generations(p_user_id uuid, p_gen_ids jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.delete_generations(p_user_id uuid, p_gen_ids jsonb) TO service_role;

--
-- Name: FUNCTION delete_share(p_user_id uuid, p_gen_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.delete_share(p_user_id uuid, p_gen_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.delete_share(p_user_id uuid, p_gen_id uuid) TO service_role;

--
-- Name: FUNCTION download_list(p_user_id uuid, p_gen_ids jsonb); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.download_list(p_user_id uuid, p_gen_ids jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.download_list(p_user_id uuid, p_gen_ids jsonb) TO service_role;

--
-- Name: FUNCTION end_checkout(p_session_id text, p_status text, p_event_id text, p_event_type text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.end_checkout(p_session_id text, p_status text, p_event_id text, p_event_type text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.end_checkout(p_session_id text, p_status text, p_event_id text, p_event_type text) TO service_role;

--
-- Name: FUNCTION fail_generation(p_gen_id uuid, p_error text, p_error_code text, p_status text, p_settled_by text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.fail_generation(p_gen_id uuid, p_error text, p_error_code text, p_status text, p_settled_by text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.fail_generation(p_gen_id uuid, p_error text, p_error_code text, p_status text, p_settled_by text) TO service_role;

--
-- Name: FUNCTION find_user(p_query text, p_limit integer); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.find_user(p_query text, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.find_user(p_query text, p_limit integer) TO service_role;

--
-- Name: FUNCTION fulfil_purchase(p_session_id text, p_payment_status text, p_amount_total integer, p_currency text, p_client_reference_id text, p_pack_id text, p_payment_intent text, p_event_id text, p_event_type text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.fulfil_purchase(p_session_id text, p_payment_status text, p_amount_total integer, p_currency text, p_client_reference_id text, p_pack_id text, p_payment_intent text, p_event_id text, p_event_type text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.fulfil_purchase(p_session_id text, p_payment_status text, p_amount_total integer, p_currency text, p_client_reference_id text, p_pack_id text, p_payment_intent text, p_event_id text, p_event_type text) TO service_role;

--
-- Name: FUNCTION generation_by_id(p_gen_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.generation_by_id(p_gen_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.generation_by_id(p_gen_id uuid) TO service_role;

--
-- Name: FUNCTION get_credits(p_user_id uuid, p_limit integer); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.get_credits(p_user_id uuid, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.get_credits(p_user_id uuid, p_limit integer) TO service_role;

--
-- Name: FUNCTION get_generation(p_user_id uuid, p_gen_id uuid, p_quiet_seconds integer); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.get_generation(p_user_id uuid, p_gen_id uuid, p_quiet_seconds integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.get_generation(p_user_id uuid, p_gen_id uuid, p_quiet_seconds integer) TO service_role;

--
-- Name: FUNCTION get_generation_counted(p_user_id uuid, p_gen_id uuid, p_rate_limit integer, p_api_key_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.get_generation_counted(p_user_id uuid, p_gen_id uuid, p_rate_limit integer, p_api_key_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.get_generation_counted(p_user_id uuid, p_gen_id uuid, p_rate_limit integer, p_api_key_id uuid) TO service_role;

--
-- Name: FUNCTION get_share(p_share_id text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.get_share(p_share_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.get_share(p_share_id text) TO service_role;

--
-- Name: FUNCTION goodwill_refund(p_gen_id uuid, p_reason text, p_actor text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.goodwill_refund(p_gen_id uuid, p_reason text, p_actor text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.goodwill_refund(p_gen_id uuid, p_reason text, p_actor text) TO service_role;

--
-- Name: FUNCTION handle_new_user(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.handle_new_user() FROM PUBLIC;

--
-- Name: FUNCTION hit_request_rate(p_user_id uuid, p_limit integer, p_api_key_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.hit_request_rate(p_user_id uuid, p_limit integer, p_api_key_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.hit_request_rate(p_user_id uuid, p_limit integer, p_api_key_id uuid) TO service_role;

--
-- Name: FUNCTION is_provider_safety_refusal(p_error text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.is_provider_safety_refusal(p_error text) FROM PUBLIC;

--
-- Name: FUNCTION ledger_discrepancies(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.ledger_discrepancies() FROM PUBLIC;
GRANT ALL ON FUNCTION public.ledger_discrepancies() TO service_role;

--
-- Name: FUNCTION lift_moderation_block(p_user_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.lift_moderation_block(p_user_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.lift_moderation_block(p_user_id uuid) TO service_role;

--
-- Name: FUNCTION list_api_keys(p_user_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.list_api_keys(p_user_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.list_api_keys(p_user_id uuid) TO service_role;

--
-- Name: FUNCTION list_generations(p_user_id uuid, p_limit integer, p_before_created_at timestamp with time zone, p_before_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.list_generations(p_user_id uuid, p_limit integer, p_before_created_at timestamp with time zone, p_before_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.list_generations(p_user_id uuid, p_limit integer, p_before_created_at timestamp with time zone, p_before_id uuid) TO service_role;

--
-- Name: FUNCTION list_webhook_deliveries(p_user_id uuid, p_gen_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.list_webhook_deliveries(p_user_id uuid, p_gen_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.list_webhook_deliveries(p_user_id uuid, p_gen_id uuid) TO service_role;

--
-- Name: FUNCTION mark_processing(p_gen_id uuid, p_replicate_id text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.mark_processing(p_gen_id uuid, p_replicate_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.mark_processing(p_gen_id uuid, p_replicate_id text) TO service_role;

--
-- Name: FUNCTION metrics_for_scrape(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.metrics_for_scrape() FROM PUBLIC;
GRANT ALL ON FUNCTION public.metrics_for_scrape() TO service_role;

--
-- Name: FUNCTION moderation_blocked_until(p_user_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.moderation_blocked_until(p_user_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.moderation_blocked_until(p_user_id uuid) TO service_role;

--
-- Name: FUNCTION moderation_metrics(); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.moderation_metrics() FROM PUBLIC;
GRANT ALL ON FUNCTION public.moderation_metrics() TO service_role;

--
-- Name: FUNCTION note_stripe_event(p_event_id text, p_type text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.note_stripe_event(p_event_id text, p_type text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.note_stripe_event(p_event_id text, p_type text) TO service_role;

--
-- Name: FUNCTION operator_metrics(p_since timestamp with time zone); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.operator_metrics(p_since timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION public.operator_metrics(p_since timestamp with time zone) TO service_role;

--
-- Name: FUNCTION prompt_words(p_user_id uuid, p_prompt text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.prompt_words(p_user_id uuid, p_prompt text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.prompt_words(p_user_id uuid, p_prompt text) TO service_role;

--
-- Name: FUNCTION purchase_status(p_session_id text, p_user_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.purchase_status(p_session_id text, p_user_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.purchase_status(p_session_id text, p_user_id uuid) TO service_role;

--
-- Name: FUNCTION record_admin_action(p_action text, p_actor text, p_actor_id uuid, p_user_id uuid, p_generation_id uuid, p_amount integer, p_reason text, p_detail jsonb); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.record_admin_action(p_action text, p_actor text, p_actor_id uuid, p_user_id uuid, p_generation_id uuid, p_amount integer, p_reason text, p_detail jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.record_admin_action(p_action text, p_actor text, p_actor_id uuid, p_user_id uuid, p_generation_id uuid, p_amount integer, p_reason text, p_detail jsonb) TO service_role;

--
-- Name: FUNCTION record_checkout(p_session_id text, p_user_id uuid, p_pack_id text, p_credits integer, p_amount integer, p_currency text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.record_checkout(p_session_id text, p_user_id uuid, p_pack_id text, p_credits integer, p_amount integer, p_currency text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.record_checkout(p_session_id text, p_user_id uuid, p_pack_id text, p_credits integer, p_amount integer, p_currency text) TO service_role;

--
-- Name: FUNCTION record_content_refusal(p_user_id uuid, p_field text, p_category text, p_source text, p_prompt text, p_rate_limit integer, p_strikes integer, p_block_seconds integer, p_api_key_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.record_content_refusal(p_user_id uuid, p_field text, p_category text, p_source text, p_prompt text, p_rate_limit integer, p_strikes integer, p_block_seconds integer, p_api_key_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.record_content_refusal(p_user_id uuid, p_field text, p_category text, p_source text, p_prompt text, p_rate_limit integer, p_strikes integer, p_block_seconds integer, p_api_key_id uuid) TO service_role;

--
-- Name: FUNCTION record_files_deleted(p_gen_ids jsonb); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.record_files_deleted(p_gen_ids jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.record_files_deleted(p_gen_ids jsonb) TO service_role;

--
-- Name: FUNCTION record_prediction(p_gen_id uuid, p_replicate_id text, p_status text, p_progress integer, p_output_url text, p_error text, p_event_id text, p_source text, p_started_at timestamp with time zone, p_completed_at timestamp with time zone); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.record_prediction(p_gen_id uuid, p_replicate_id text, p_status text, p_progress integer, p_output_url text, p_error text, p_event_id text, p_source text, p_started_at timestamp with time zone, p_completed_at timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION public.record_prediction(p_gen_id uuid, p_replicate_id text, p_status text, p_progress integer, p_output_url text, p_error text, p_event_id text, p_source text, p_started_at timestamp with time zone, p_completed_at timestamp with time zone) TO service_role;

--
-- Name: FUNCTION record_video_copy(p_gen_id uuid, p_video_path text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.record_video_copy(p_gen_id uuid, p_video_path text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.record_video_copy(p_gen_id uuid, p_video_path text) TO service_role;

--
-- Name: FUNCTION record_video_copy_failure(p_gen_id uuid, p_error text, p_give_up boolean); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.record_video_copy_failure(p_gen_id uuid, p_error text, p_give_up boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION public.record_video_copy_failure(p_gen_id uuid, p_error text, p_give_up boolean) TO service_role;

--
-- Name: FUNCTION record_webhook_attempt(p_event_id text, p_attempt integer, p_status_code integer, p_error text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.record_webhook_attempt(p_event_id text, p_attempt integer, p_status_code integer, p_error text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.record_webhook_attempt(p_event_id text, p_attempt integer, p_status_code integer, p_error text) TO service_role;

--
-- Name: FUNCTION refresh_analytics(p_final_after_seconds integer, p_backfill_days integer, p_max_days integer); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.refresh_analytics(p_final_after_seconds integer, p_backfill_days integer, p_max_days integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.refresh_analytics(p_final_after_seconds integer, p_backfill_days integer, p_max_days integer) TO service_role;

--
-- Name: FUNCTION refund_credits(p_gen_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.refund_credits(p_gen_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.refund_credits(p_gen_id uuid) TO service_role;

--
-- Name: FUNCTION release_shares(p_share_ids jsonb); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.release_shares(p_share_ids jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.release_shares(p_share_ids jsonb) TO service_role;

--
-- Name: FUNCTION require_profile(p_user_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.require_profile(p_user_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.require_profile(p_user_id uuid) TO service_role;

--
-- Name: FUNCTION retry_webhook_delivery(p_user_id uuid, p_gen_id uuid, p_event_id text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.retry_webhook_delivery(p_user_id uuid, p_gen_id uuid, p_event_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.retry_webhook_delivery(p_user_id uuid, p_gen_id uuid, p_event_id text) TO service_role;

--
-- Name: FUNCTION reverse_purchase(p_event_id text, p_event_type text, p_payment_intent text, p_refunded_amount integer, p_refunds jsonb, p_dispute_id text, p_dispute_amount integer, p_dispute_status text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.reverse_purchase(p_event_id text, p_event_type text, p_payment_intent text, p_refunded_amount integer, p_refunds jsonb, p_dispute_id text, p_dispute_amount integer, p_dispute_status text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.reverse_purchase(p_event_id text, p_event_type text, p_payment_intent text, p_refunded_amount integer, p_refunds jsonb, p_dispute_id text, p_dispute_amount integer, p_dispute_status text) TO service_role;

--
-- Name: FUNCTION revoke_api_key(p_user_id uuid, p_key_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.revoke_api_key(p_user_id uuid, p_key_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.revoke_api_key(p_user_id uuid, p_key_id uuid) TO service_role;

--
-- Name: FUNCTION rotate_webhook_secret(p_user_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.rotate_webhook_secret(p_user_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.rotate_webhook_secret(p_user_id uuid) TO service_role;

--
-- Name: FUNCTION search_generations(p_user_id uuid, p_limit integer, p_before_created_at timestamp with time zone, p_before_id uuid, p_favorite boolean, p_status text, p_kind text, p_q text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.search_generations(p_user_id uuid, p_limit integer, p_before_created_at timestamp with time zone, p_before_id uuid, p_favorite boolean, p_status text, p_kind text, p_q text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.search_generations(p_user_id uuid, p_limit integer, p_before_created_at timestamp with time zone, p_before_id uuid, p_favorite boolean, p_status text, p_kind text, p_q text) TO service_role;

--
-- Name: FUNCTION set_favorite(p_user_id uuid, p_gen_id uuid, p_favorite boolean); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.set_favorite(p_user_id uuid, p_gen_id uuid, p_favorite boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION public.set_favorite(p_user_id uuid, p_gen_id uuid, p_favorite boolean) TO service_role;

--
-- Name: FUNCTION shares_of(p_gen_ids jsonb); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.shares_of(p_gen_ids jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.shares_of(p_gen_ids jsonb) TO service_role;

--
-- Name: FUNCTION take_metrics_snapshot(p_min_age_seconds integer); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.take_metrics_snapshot(p_min_age_seconds integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.take_metrics_snapshot(p_min_age_seconds integer) TO service_role;

--
-- Name: FUNCTION upgrade_api_key_hash(p_key_id uuid, p_old_hash text, p_new_hash text); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.upgrade_api_key_hash(p_key_id uuid, p_old_hash text, p_new_hash text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.upgrade_api_key_hash(p_key_id uuid, p_old_hash text, p_new_hash text) TO service_role;

--
-- Name: FUNCTION watch_generations(p_ids jsonb); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.watch_generations(p_ids jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.watch_generations(p_ids jsonb) TO service_role;

--
-- Name: FUNCTION webhook_secret(p_user_id uuid); Type: ACL; Schema: public; Owner: -
--

REVOKE ALL ON FUNCTION public.webhook_secret(p_user_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.webhook_secret(p_user_id uuid) TO service_role;

--
-- Name: TABLE content_refusals; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT ON TABLE public.content_refusals TO service_role;

--
-- Name: TABLE credit_transactions; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT ON TABLE public.credit_transactions TO authenticated;
GRANT SELECT ON TABLE public.credit_transactions TO service_role;

--
-- Name: TABLE moderation_blocks; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT ON TABLE public.moderation_blocks TO service_role;

--
-- Name: TABLE payment_refunds; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT ON TABLE public.payment_refunds TO service_role;

--
-- Name: TABLE purchase_disputes; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT ON TABLE public.purchase_disputes TO service_role;

--
-- Name: TABLE purchase_refunds; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT ON TABLE public.purchase_refunds TO service_role;

--
-- Name: TABLE rate_counters; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT ON TABLE public.rate_counters TO service_role;

--
-- Name: TABLE shares; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.shares TO service_role;

--
-- Name: TABLE stripe_events; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT ON TABLE public.stripe_events TO service_role;

--
-- Name: TABLE webhook_events; Type: ACL; Schema: public; Owner: -
--

GRANT SELECT ON TABLE public.webhook_events TO service_role;

--
-- PostgreSQL database dump complete
--
