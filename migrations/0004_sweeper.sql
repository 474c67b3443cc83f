-- The sweeper: nothing stays charged for a video that will never come. Each rule claims a bounded
-- batch with FOR UPDATE SKIP LOCKED and leases it (sweep_claimed_at), so overlapping sweeps work on
-- different generations; whatever they then do goes through the same state machine and refund,
-- which are idempotent, so even a lease that ran out cannot refund twice.

-- Each rule reads a partial index (the queued rule shares the unfinished one): the cost follows the
-- number of candidates, not the size of the table.
create index generations_unfinished_since on public.generations (created_at)
  where status in ('queued', 'processing');
create index generations_processing_quiet on public.generations ((coalesce(last_event_at, created_at)))
  where status = 'processing';

-- claim_for_sweep: up to p_batch generations that match p_rule, leased for p_lease_seconds.
--   queued_timeout: still queued (no job id) p_age_seconds after creation
--   deadline:       unfinished p_age_seconds after creation
--   stuck:          processing with no news from Replicate for p_age_seconds
--   video_copy:     succeeded p_age_seconds ago with the video not yet in our storage
create function public.claim_for_sweep(
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
  else
    raise exception 'unknown sweep rule %', p_rule using errcode = '22023';
  end if;

  if v_ids is null then
    return '[]'::jsonb;
  end if;
  update public.generations set sweep_claimed_at = now() where id = any (v_ids);
  return (select jsonb_agg(public._generation_json(g) order by g.created_at)
          from public.generations g where g.id = any (v_ids));
end
$$;

-- cancel_generation: the user's cancel. Ends an unfinished generation as canceled and refunds it,
-- in one transaction; PT404 for someone else's, PT409 for one that already ended.
create function public.cancel_generation(p_user_id uuid, p_gen_id uuid) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_gen public.generations;
begin
  select * into v_gen from public.generations where id = p_gen_id and user_id = p_user_id for update;
  if not found then
    raise exception 'generation % not found', p_gen_id using errcode = 'PT404';
  end if;
  if v_gen.status not in ('queued', 'processing') then
    raise exception 'this generation already %; only unfinished ones can be canceled', v_gen.status
      using errcode = 'PT409';
  end if;
  v_gen := public._finish_generation(v_gen, 'canceled', 'Canceled at your request.', 'canceled_by_user', null);
  return public._generation_json(v_gen);
end
$$;

revoke execute on function
  public.claim_for_sweep(text, integer, integer, integer),
  public.cancel_generation(uuid, uuid)
  from public, anon, authenticated, service_role;
grant execute on function
  public.claim_for_sweep(text, integer, integer, integer),
  public.cancel_generation(uuid, uuid)
  to service_role;
