-- Advanced editing (contract section 8): extend a video, first-and-last-frame, durations.
--
-- A generation may start from another one's last frame (`extends`), carry a second uploaded image
-- (`last_image_path`, for the models whose schema has `last_image`), and ask for a length
-- (`duration`, seconds, for the Wan 2.5 models). All three are written in the create's own
-- transaction, by create_generation_edit below, so no crash can leave a charged generation without
-- them. The charge itself is create_generation_limited's, unchanged: the money rules are the same.

alter table public.generations
  add column extends uuid references public.generations (id) on delete set null,
  add column last_image_path text,     -- our storage path of the uploaded last frame (first-and-last)
  add column duration smallint check (duration > 0);

-- The chains of one source (history shows a video with its extensions).
create index generations_extends on public.generations (extends) where extends is not null;

-- create_generation_edit: create_generation_limited (balance, limit, rate windows, idempotency
-- replay: all its rules) plus the editing columns, in one transaction. A replay returns the first
-- generation as it was (its editing columns included) and writes nothing.
-- A new function rather than a redefinition of create_generation(_limited), so that branches adding
-- their own parameters to those do not collide with this one.
create function public.create_generation_edit(
  p_user_id uuid, p_kind text, p_model text, p_resolution text, p_prompt text, p_cost integer,
  p_max_active integer, p_rate_limit integer, p_global_limit integer,
  p_negative_prompt text default null, p_seed bigint default null, p_aspect_ratio text default null,
  p_image_path text default null, p_idempotency_key text default null, p_request_hash text default null,
  p_retry_of uuid default null, p_api_key_id uuid default null,
  p_webhook_url text default null, p_webhook_events jsonb default null,
  p_extends uuid default null, p_last_image_path text default null, p_duration integer default null
) returns jsonb
language plpgsql security definer set search_path = '' as $$
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

revoke execute on function public.create_generation_edit(uuid, text, text, text, text, integer, integer, integer,
  integer, text, bigint, text, text, text, text, uuid, uuid, text, jsonb, uuid, text, integer)
  from public, anon, authenticated, service_role;
grant execute on function public.create_generation_edit(uuid, text, text, text, text, integer, integer, integer,
  integer, text, bigint, text, text, text, text, uuid, uuid, text, jsonb, uuid, text, integer)
  to service_role;

-- REDEFINED (additive): the read shape of one generation as 0016 left it (0009's, 0015's webhook and
-- 0016's favorite and share keys), plus `extends`, `last_image_path` and `duration` (marked 0019).
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

-- REDEFINED (additive): 0009's files of generations for retention and delete, plus the uploaded
-- last frame (`last_image_path`, released with the image), and sharing that looks at both columns:
-- uploads are content-addressed, so one object can be one generation's image and another's last
-- image. The lines marked 0019 are the change.
create or replace function public._files_json(p_ids uuid[]) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
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
