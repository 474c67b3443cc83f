-- The generation lifecycle: what happens after the charge. State only moves forward
-- (queued -> processing -> succeeded | failed | canceled); a terminal generation never changes again;
-- a generation that ends failed or canceled is refunded in the same transaction that ends it.

-- Webhook deliveries already applied, by their `webhook-id`: a repeated delivery changes nothing.
create table public.webhook_events (
  id text primary key,
  generation_id uuid references public.generations (id) on delete cascade,
  received_at timestamptz not null default now()
);
alter table public.webhook_events enable row level security;
revoke all on public.webhook_events from public, anon, authenticated, service_role;
grant select on public.webhook_events to service_role;

-- Internal: end a locked, unfinished generation in p_status and refund it when that is a failure.
create function public._finish_generation(
  p_gen public.generations, p_status text, p_error text, p_error_code text, p_output_url text
) returns public.generations
language plpgsql security definer set search_path = '' as $$
declare
  v_gen public.generations;
begin
  update public.generations
     set status = p_status,
         progress = case when p_status = 'succeeded' then 100 else progress end,
         output_url = coalesce(p_output_url, output_url),
         error = case when p_status = 'succeeded' then null else p_error end,
         error_code = case when p_status = 'succeeded' then null else p_error_code end,
         completed_at = now(), updated_at = now()
   where id = p_gen.id
   returning * into v_gen;
  if p_status in ('failed', 'canceled') then
    perform public.refund_credits(v_gen.id);
  end if;
  return v_gen;
end
$$;

-- mark_processing: the create path's last step, after Replicate accepted the job. Records the job id;
-- moves 'queued' to 'processing' (a webhook may already have moved it further: then only the id).
create function public.mark_processing(p_gen_id uuid, p_replicate_id text) returns jsonb
language plpgsql security definer set search_path = '' as $$
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

-- fail_generation: end an unfinished generation as failed (or canceled) and refund it, in one
-- transaction. A generation that already ended is returned unchanged.
create function public.fail_generation(
  p_gen_id uuid, p_error text, p_error_code text default null, p_status text default 'failed'
) returns jsonb
language plpgsql security definer set search_path = '' as $$
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
    v_gen := public._finish_generation(v_gen, p_status, p_error, p_error_code, null);
  end if;
  return public._generation_json(v_gen);
end
$$;

-- record_prediction: apply what Replicate says about a prediction (a webhook, a poll, a sweep), in
-- one transaction. Replicate's statuses: starting/processing -> processing; succeeded; failed and
-- aborted -> failed; canceled. p_event_id (the webhook-id) makes a repeated delivery a no-op.
-- Answers {"outcome": ...} with one of: applied, unchanged (nothing new, or the generation had
-- already ended), duplicate (event seen before), unknown_generation, job_mismatch; plus the generation.
create function public.record_prediction(
  p_gen_id uuid,
  p_replicate_id text,
  p_status text,
  p_progress integer default null,
  p_output_url text default null,
  p_error text default null,
  p_event_id text default null
) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_gen public.generations;
  v_status text;
  v_inserted integer;
begin
  v_status := case p_status
    when 'starting' then 'processing' when 'processing' then 'processing'
    when 'succeeded' then 'succeeded' when 'failed' then 'failed' when 'aborted' then 'failed'
    when 'canceled' then 'canceled' end;
  if v_status is null then
    raise exception 'unknown prediction status %', p_status using errcode = '22023';
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
      p_output_url);
  end if;
  return jsonb_build_object('outcome', 'applied', 'generation', public._generation_json(v_gen));
end
$$;

-- get_generation: one of the user's generations (PT404 for anyone else's). When it is unfinished,
-- has a job id and nothing was heard for p_quiet_seconds, it also claims the right to ask Replicate
-- (at most once per p_quiet_seconds, across every caller): then "should_poll" is true.
create function public.get_generation(p_user_id uuid, p_gen_id uuid, p_quiet_seconds integer default 10)
returns jsonb
language plpgsql security definer set search_path = '' as $$
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

-- list_generations: the user's history, newest first, p_limit at most, before a (created_at, id) cursor.
create function public.list_generations(
  p_user_id uuid, p_limit integer, p_before_created_at timestamptz default null, p_before_id uuid default null
) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
begin
  return (
    select coalesce(jsonb_agg(public._generation_json(g) order by g.created_at desc, g.id desc), '[]'::jsonb)
    from (select * from public.generations
          where user_id = p_user_id
            and (p_before_created_at is null or (created_at, id) < (p_before_created_at, p_before_id))
          order by created_at desc, id desc
          limit p_limit) g);
end
$$;

-- get_credits: the user's balance and newest ledger rows.
create function public.get_credits(p_user_id uuid, p_limit integer default 100) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
begin
  return jsonb_build_object(
    'balance', coalesce((select credits from public.profiles where id = p_user_id), 0),
    'transactions', coalesce((
      select jsonb_agg(jsonb_build_object(
               'id', t.id, 'amount', t.amount, 'type', t.type, 'generation_id', t.generation_id,
               'description', t.description, 'balance_after', t.balance_after,
               'created_at', t.created_at) order by t.id desc)
      from (select * from public.credit_transactions where user_id = p_user_id
            order by id desc limit p_limit) t), '[]'::jsonb));
end
$$;

revoke execute on function
  public._finish_generation(public.generations, text, text, text, text),
  public.mark_processing(uuid, text),
  public.fail_generation(uuid, text, text, text),
  public.record_prediction(uuid, text, text, integer, text, text, text),
  public.get_generation(uuid, uuid, integer),
  public.list_generations(uuid, integer, timestamptz, uuid),
  public.get_credits(uuid, integer)
  from public, anon, authenticated, service_role;
grant execute on function
  public.mark_processing(uuid, text),
  public.fail_generation(uuid, text, text, text),
  public.record_prediction(uuid, text, text, integer, text, text, text),
  public.get_generation(uuid, uuid, integer),
  public.list_generations(uuid, integer, timestamptz, uuid),
  public.get_credits(uuid, integer)
  to service_role;
