-- Keeping the video: Replicate deletes outputs an hour after the run, so a succeeded generation's
-- video is copied into our storage; a failed copy is retried (by the sweeper) until it works or
-- Replicate's copy is gone, and then the generation is marked so nobody waits forever.

alter table public.generations
  add column video_copy_attempts integer not null default 0,
  add column video_copy_error text,
  add column video_lost boolean not null default false;

-- The sweeper finds copies still to do without scanning the table.
create index generations_video_pending on public.generations (completed_at)
  where status = 'succeeded' and video_path is null and not video_lost;

create or replace function public._generation_json(g public.generations) returns jsonb
language sql stable security definer set search_path = '' as $$
  select jsonb_build_object(
    'generation_id', g.id, 'user_id', g.user_id, 'kind', g.kind, 'model', g.model,
    'resolution', g.resolution, 'prompt', g.prompt, 'negative_prompt', g.negative_prompt,
    'seed', g.seed, 'aspect_ratio', g.aspect_ratio, 'image_path', g.image_path,
    'status', g.status, 'progress', g.progress, 'replicate_id', g.replicate_id,
    'output_url', g.output_url, 'video_path', g.video_path, 'video_lost', g.video_lost,
    'video_copy_attempts', g.video_copy_attempts, 'error', g.error,
    'error_code', g.error_code, 'cost', g.cost, 'retry_of', g.retry_of,
    'refunded', exists (select from public.credit_transactions t
                        where t.generation_id = g.id and t.type = 'refund'),
    'created_at', g.created_at, 'updated_at', g.updated_at, 'completed_at', g.completed_at)
$$;

-- generation_by_id: any generation, for the service's own jobs (copy, sweep); null when unknown.
create function public.generation_by_id(p_gen_id uuid) returns jsonb
language sql stable security definer set search_path = '' as $$
  select public._generation_json(g) from public.generations g where g.id = p_gen_id
$$;

-- record_video_copy: the copy is in our storage at p_video_path. Only the first copy counts.
create function public.record_video_copy(p_gen_id uuid, p_video_path text) returns jsonb
language sql security definer set search_path = '' as $$
  update public.generations
     set video_path = coalesce(video_path, p_video_path), video_lost = false,
         video_copy_error = null, updated_at = now()
   where id = p_gen_id and status = 'succeeded'
  returning public._generation_json(generations)
$$;

-- record_video_copy_failure: count a failed attempt; p_give_up marks the video lost for good.
create function public.record_video_copy_failure(p_gen_id uuid, p_error text, p_give_up boolean)
returns jsonb
language sql security definer set search_path = '' as $$
  update public.generations
     set video_copy_attempts = video_copy_attempts + 1, video_copy_error = p_error,
         video_lost = p_give_up and video_path is null, updated_at = now()
   where id = p_gen_id and status = 'succeeded'
  returning public._generation_json(generations)
$$;

revoke execute on function
  public.generation_by_id(uuid),
  public.record_video_copy(uuid, text),
  public.record_video_copy_failure(uuid, text, boolean)
  from public, anon, authenticated, service_role;
grant execute on function
  public.generation_by_id(uuid),
  public.record_video_copy(uuid, text),
  public.record_video_copy_failure(uuid, text, boolean)
  to service_role;
