-- The operator's view: how each generation was settled and when Replicate ran it (the metrics),
-- credit adjustments that name who and why, the goodwill refund of a lost video, retention of stored
-- files, and the user's delete (a soft delete: the ledger's rows keep pointing at the generation).

alter table public.generations
  add column settled_by text
    check (settled_by in ('webhook', 'status_poll', 'sweep', 'cancel', 'create')),
  add column started_at timestamptz,             -- Replicate's started_at (its queue ends here)
  add column provider_completed_at timestamptz,  -- Replicate's completed_at
  add column video_deleted_at timestamptz,       -- our copy of the video was deleted (retention/delete)
  add column image_deleted_at timestamptz,       -- the uploaded image was deleted, or released to a retry
  add column deleted_at timestamptz;             -- the user deleted it: gone from history, files deleted

-- Who made a ledger row by hand (`wan-api credits`, `wan-api refund`); null for the service's own rows.
alter table public.credit_transactions add column actor text;

-- The goodwill refund of a lost video is an `adjustment` tied to its generation (a `refund` row is
-- reserved for failed/canceled generations by the money rules): at most one per generation.
create unique index one_goodwill_refund_per_generation on public.credit_transactions (generation_id)
  where type = 'adjustment' and generation_id is not null;

-- Retention reads only generations whose files are still stored, ordered by when they finished: a
-- range scan below the cutoff touches the expired rows, not the table.
create index generations_files_stored on public.generations (completed_at)
  where completed_at is not null
    and ((video_path is not null and video_deleted_at is null)
         or (image_path is not null and image_deleted_at is null));
-- Deleted by their user but files not yet gone (the storage call failed): normally empty.
create index generations_deleted_files on public.generations (deleted_at)
  where deleted_at is not null
    and ((video_path is not null and video_deleted_at is null)
         or (image_path is not null and image_deleted_at is null));
-- A retry reuses its original's uploaded image: the last holder of a path deletes the file.
create index generations_image_path on public.generations (image_path) where image_path is not null;
create index profiles_email on public.profiles (lower(email));


-- Internal: end a locked, unfinished generation in p_status, say how it was settled, and refund it
-- when that is a failure. (0002's body plus p_settled_by and Replicate's run times.)
drop function public._finish_generation(public.generations, text, text, text, text);
create function public._finish_generation(
  p_gen public.generations, p_status text, p_error text, p_error_code text, p_output_url text,
  p_settled_by text default null, p_started_at timestamptz default null,
  p_provider_completed_at timestamptz default null
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

-- fail_generation: as in 0002, plus p_settled_by (`create` when Replicate refused the create,
-- `sweep` for the sweeper's timeouts).
drop function public.fail_generation(uuid, text, text, text);
create function public.fail_generation(
  p_gen_id uuid, p_error text, p_error_code text default null, p_status text default 'failed',
  p_settled_by text default null
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
    v_gen := public._finish_generation(v_gen, p_status, p_error, p_error_code, null, p_settled_by);
  end if;
  return public._generation_json(v_gen);
end
$$;

-- record_prediction: as in 0002, plus who brought the news (p_source: webhook, status_poll, sweep;
-- by default `webhook` when there is an event id, else `status_poll`) and Replicate's started_at /
-- completed_at, kept from the first report that carries them.
drop function public.record_prediction(uuid, text, text, integer, text, text, text);
create function public.record_prediction(
  p_gen_id uuid,
  p_replicate_id text,
  p_status text,
  p_progress integer default null,
  p_output_url text default null,
  p_error text default null,
  p_event_id text default null,
  p_source text default null,
  p_started_at timestamptz default null,
  p_completed_at timestamptz default null
) returns jsonb
language plpgsql security definer set search_path = '' as $$
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

-- cancel_generation: as in 0004; settled by `cancel`; a generation its user deleted is not found.
create or replace function public.cancel_generation(p_user_id uuid, p_gen_id uuid) returns jsonb
language plpgsql security definer set search_path = '' as $$
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

-- The read shape of one generation: 0001's, plus how it was settled, whether its video expired
-- (retention or delete), and whether its user deleted it.
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
    'created_at', g.created_at, 'updated_at', g.updated_at, 'completed_at', g.completed_at);
end
$$;

-- list_generations: as in 0002, without the ones their user deleted.
create or replace function public.list_generations(
  p_user_id uuid, p_limit integer, p_before_created_at timestamptz default null, p_before_id uuid default null
) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
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

-- get_credits: as in 0002; each row also says whether its generation was deleted by the user.
create or replace function public.get_credits(p_user_id uuid, p_limit integer default 100) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
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

-- claim_for_sweep: 0004's rules, plus two for stored files (each a range scan of a partial index):
--   retention:      finished p_age_seconds ago with a video or image still stored
--   deleted_files:  deleted by its user p_age_seconds ago with files still stored (a failed delete)
-- Their rows carry `image_shared`: another generation outside this batch (a retry) still holds the
-- same uploaded image, so the file stays until its last holder lets it go.
create or replace function public.claim_for_sweep(
  p_rule text, p_age_seconds integer, p_batch integer, p_lease_seconds integer default 120
) returns jsonb
language plpgsql security definer set search_path = '' as $$
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

-- Internal: a JSON array of ids as uuid[] (22P02 for one that is not a uuid).
create function public._uuids(p_ids jsonb) returns uuid[]
language plpgsql immutable security definer set search_path = '' as $$
begin
  return array(select jsonb_array_elements_text(p_ids)::uuid);
end
$$;

-- Internal: the stored files of these generations, as retention and delete remove them:
-- {"generation_id", "video_path" (null once deleted), "image_path" (null once released),
--  "image_shared" (another generation outside p_ids still holds the same image)}.
create function public._files_json(p_ids uuid[]) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
begin
  return coalesce((
    select jsonb_agg(jsonb_build_object(
             'generation_id', g.id,
             'video_path', case when g.video_deleted_at is null then g.video_path end,
             'image_path', case when g.image_deleted_at is null then g.image_path end,
             'image_shared', g.image_path is not null and exists (
               select from public.generations o
                where o.image_path = g.image_path and o.image_deleted_at is null
                  and not (o.id = any (p_ids)))) order by g.id)
    from public.generations g where g.id = any (p_ids)), '[]'::jsonb);
end
$$;

-- record_files_deleted: the files of these generations (a JSON array of ids, as both the direct and
-- the PostgREST path send a list) are gone from storage (or, for an image still shared, released by
-- them). Returns the image paths that no generation holds any more, so the caller deletes those too
-- (a shared image whose other holders were released meanwhile).
create function public.record_files_deleted(p_gen_ids jsonb) returns jsonb
language plpgsql security definer set search_path = '' as $$
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

-- delete_generations: the user's delete of finished generations (soft: the ledger keeps pointing at
-- them). Answers per id: deleted (with its files, for the caller to remove), not_found (unknown,
-- someone else's, or already deleted) or unfinished (cancel first). Locks in id order (deadlocks).
create function public.delete_generations(p_user_id uuid, p_gen_ids jsonb) returns jsonb
language plpgsql security definer set search_path = '' as $$
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


-- adjust_credits: an operator's grant (p_amount > 0) or deduction (< 0), one `adjustment` row that
-- names who (p_actor) and why (p_reason, required). The balance never goes negative (PT402).
create function public.adjust_credits(p_user_id uuid, p_amount integer, p_reason text, p_actor text)
returns jsonb
language plpgsql security definer set search_path = '' as $$
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

-- goodwill_refund: give back the charge of a success whose video was lost (Replicate's copy expired
-- before ours was made), once: an `adjustment` row tied to the generation, unique per generation.
create function public.goodwill_refund(p_gen_id uuid, p_reason text, p_actor text) returns jsonb
language plpgsql security definer set search_path = '' as $$
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

-- find_user: an operator's look at one user by id or email: profile, balance, active generations,
-- the last generations (deleted ones included, marked) and the last ledger rows.
create function public.find_user(p_query text, p_limit integer default 10) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
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
$$;

-- operator_metrics: every figure of GET /metrics and `wan-api stats`, in six statements:
--   1. one pass over generations (created since p_since, all when null), grouped by model and
--      resolution: counts by status and by how they were settled, provider refusals, lost and
--      expired videos, the completion-time histogram (created -> finished, succeeded ones) and
--      queue time (created -> Replicate's started_at);
--   2. refunds and goodwill refunds (ledger rows, via their generation);
--   3. generations in flight (the partial index of unfinished ones);
--   4. ledger_discrepancies() (the credit-accuracy gauge; it reads the whole ledger);
--   5. the top failure reasons;
--   6. purchases by pack and currency: statuses, credits and amounts sold, reversals (each purchase's
--      rows through credit_transactions_by_session), credits taken back and left unrecovered.
-- Completion buckets are upper bounds in seconds (`le`), cumulative as Prometheus wants them.
create function public.operator_metrics(p_since timestamptz default null) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
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

-- Metrics snapshots: a scrape must cost a bounded number of indexed queries whatever the size of the
-- tables, and operator_metrics() reads whole tables (seconds at a million generations). So the sweep
-- (the cron) takes a snapshot of it at most once per p_min_age_seconds, and GET /metrics reads the
-- newest snapshot (one primary-key lookup) plus the live in-flight count (a partial index).
create table public.metrics_snapshots (
  id bigint generated always as identity primary key,
  taken_at timestamptz not null default clock_timestamp(),
  took_ms integer not null,
  data jsonb not null
);
alter table public.metrics_snapshots enable row level security;  -- no policy: only the functions read it
revoke all on public.metrics_snapshots from public, anon, authenticated, service_role;

-- take_metrics_snapshot: a new snapshot unless the newest is younger than p_min_age_seconds, or
-- another session is taking one right now (overlapping sweeps compute it once); keeps the last 10.
-- Returns {"taken": bool, "taken_at", "took_ms"}.
create function public.take_metrics_snapshot(p_min_age_seconds integer default 60) returns jsonb
language plpgsql security definer set search_path = '' as $$
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

-- metrics_for_scrape: the newest snapshot's figures, with the live in-flight count and the snapshot's
-- time; null when no snapshot was ever taken. Two indexed statements.
create function public.metrics_for_scrape() returns jsonb
language plpgsql stable security definer set search_path = '' as $$
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

revoke execute on function public.take_metrics_snapshot(integer), public.metrics_for_scrape()
  from public, anon, authenticated, service_role;
grant execute on function public.take_metrics_snapshot(integer), public.metrics_for_scrape() to service_role;

revoke execute on function
  public._finish_generation(public.generations, text, text, text, text, text, timestamptz, timestamptz),
  public.fail_generation(uuid, text, text, text, text),
  public.record_prediction(uuid, text, text, integer, text, text, text, text, timestamptz, timestamptz),
  public._files_json(uuid[]),
  public._uuids(jsonb),
  public.record_files_deleted(jsonb),
  public.delete_generations(uuid, jsonb),
  public.adjust_credits(uuid, integer, text, text),
  public.goodwill_refund(uuid, text, text),
  public.find_user(text, integer),
  public.operator_metrics(timestamptz)
  from public, anon, authenticated, service_role;
grant execute on function
  public.fail_generation(uuid, text, text, text, text),
  public.record_prediction(uuid, text, text, integer, text, text, text, text, timestamptz, timestamptz),
  public.record_files_deleted(jsonb),
  public.delete_generations(uuid, jsonb),
  public.adjust_credits(uuid, integer, text, text),
  public.goodwill_refund(uuid, text, text),
  public.find_user(text, integer),
  public.operator_metrics(timestamptz)
  to service_role;
