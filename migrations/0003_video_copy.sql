-- Keeping the video: Replicate deletes outputs an hour after the run, so a succeeded generation's
-- video is copied into our storage; a failed copy is retried (by the sweeper) until it works or
-- Replicate's copy is gone, and then the generation is marked so nobody waits forever.

-- The sweeper finds copies still to do without scanning the table.
create index generations_video_pending on public.generations (completed_at)
  where status = 'succeeded' and video_path is null and not video_lost;

-- generation_by_id: any generation, for the service's own jobs (copy, sweep); null when unknown.
create function public.generation_by_id(p_gen_id uuid) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
begin
  return (select public._generation_json(g) from public.generations g where g.id = p_gen_id);
end
$$;

-- record_video_copy: the copy is in our storage at p_video_path. Only the first copy counts.
create function public.record_video_copy(p_gen_id uuid, p_video_path text) returns jsonb
language plpgsql security definer set search_path = '' as $$
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

-- record_video_copy_failure: count a failed attempt; p_give_up marks the video lost for good.
create function public.record_video_copy_failure(p_gen_id uuid, p_error text, p_give_up boolean)
returns jsonb
language plpgsql security definer set search_path = '' as $$
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
