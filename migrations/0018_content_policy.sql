-- Issue 27: the content policy's records, the block of repeat offenders, and the provider's safety
-- refusals typed as `content_policy`. No existing function is redefined: the block is a trigger on
-- the generations insert (every create path: both kinds, retry, extend), the typing a trigger on the
-- failure's update (webhook, status poll and sweep all end in _finish_generation).
--
-- Lock order: a refusal touches the user's `create` rate counter, then inserts its refusal row, then
-- the user's moderation_blocks row; a create locks its profile after the block check (which only
-- reads moderation_blocks). No cycle with the create path.

-- One row per refused create (the first refused field). The prompt is kept only when the operator
-- turns MODERATION_STORE_PROMPTS on.
create table public.content_refusals (
  id bigint generated always as identity primary key,
  user_id uuid not null references public.profiles (id) on delete cascade,
  field text not null check (field in ('prompt', 'negative_prompt', 'image')),
  category text not null check (length(category) between 1 and 100),
  source text not null check (source in ('local', 'classifier')),
  prompt text,
  refused_at timestamptz not null default now()
);
create index content_refusals_by_user on public.content_refusals (user_id, refused_at);
create index content_refusals_by_time on public.content_refusals (refused_at);

-- A user whose creates are paused after too many refusals: one row per user, the newest block.
create table public.moderation_blocks (
  user_id uuid primary key references public.profiles (id) on delete cascade,
  blocked_at timestamptz not null,
  blocked_until timestamptz not null check (blocked_until > blocked_at),
  strikes integer not null check (strikes > 0)
);

alter table public.content_refusals enable row level security;
alter table public.moderation_blocks enable row level security;
-- No policies: users never read these through the Data API; the service reads, the functions write.
revoke all on public.content_refusals, public.moderation_blocks from public, anon, authenticated, service_role;
grant select on public.content_refusals, public.moderation_blocks to service_role;


-- When the user's creates are paused, else null. The check the create path makes (the trigger below);
-- issue 26's admin block is a separate check the lead may combine with this one.
create function public.moderation_blocked_until(p_user_id uuid) returns timestamptz
language sql stable security definer set search_path = '' as $$
  select blocked_until from public.moderation_blocks where user_id = p_user_id and blocked_until > now()
$$;

create function public._iso(p_time timestamptz) returns text
language sql immutable security definer set search_path = '' as $$
  select to_char(p_time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

-- Trigger: a paused user's new generation is refused (PT403, hint moderation_block) before the charge;
-- raising rolls the whole create back (generation, charge, rate hits).
create function public._refuse_moderation_blocked() returns trigger
language plpgsql security definer set search_path = '' as $$
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
create trigger generations_moderation_block before insert on public.generations
  for each row execute function public._refuse_moderation_blocked();


-- record_content_refusal: one refused create. Counts one hit of the user's `create` window (a refusal
-- costs a create's place in the per-minute limit), records the refusal, and pauses the user's creates
-- for p_block_seconds when the refusals since the last block began (within 24 h) are more than
-- p_strikes. Returns {"rate", "strikes", "blocked_until"} (blocked_until: null unless paused now).
create function public.record_content_refusal(
  p_user_id uuid, p_field text, p_category text, p_source text, p_prompt text,
  p_rate_limit integer, p_strikes integer, p_block_seconds integer, p_api_key_id uuid default null
) returns jsonb
language plpgsql security definer set search_path = '' as $$
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

-- lift_moderation_block: the operator's unblock after an appeal (README "Content policy"). The
-- refusals stay on record; the next block needs fresh strikes. Returns whether a block was active.
create function public.lift_moderation_block(p_user_id uuid) returns boolean
language plpgsql security definer set search_path = '' as $$
declare
  v_lifted integer;
begin
  update public.moderation_blocks set blocked_until = greatest(blocked_at + interval '1 microsecond', now())
   where user_id = p_user_id and blocked_until > now();
  get diagnostics v_lifted = row_count;
  return v_lifted > 0;
end
$$;


-- The provider's safety checker. Its texts, as Replicate and its models report them (cited in
-- shared/moderation.py's PROVIDER_SAFETY_TEXTS): Replicate's platform filter "The input or output was
-- flagged as sensitive. Please try again with different inputs. (E005)", and cog models' "NSFW
-- content detected. Try running it again, or try a different prompt." / their "safety checker".
create function public.is_provider_safety_refusal(p_error text) returns boolean
language sql immutable security definer set search_path = '' as $$
  select coalesce(p_error ~* '(flagged as sensitive|\(E005\)|\mnsfw content\M|safety checker|flagged by the safety system)', false)
$$;

-- Trigger: a provider failure whose text is a safety refusal ends with error_code content_policy and a
-- sentence a person can read (the provider's words kept after it). Runs inside _finish_generation's
-- update, which refunds the generation once as for any failure.
create function public._type_provider_safety_refusal() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if new.error_code in ('provider_failed', 'provider_aborted') and public.is_provider_safety_refusal(new.error) then
    new.error_code := 'content_policy';
    new.error := 'The video provider''s safety checker refused this video; your credits were refunded. ('
                 || left(new.error, 300) || ')';
  end if;
  return new;
end
$$;
create trigger generations_provider_safety_refusal before update of status on public.generations
  for each row when (new.status = 'failed' and old.status in ('queued', 'processing'))
  execute function public._type_provider_safety_refusal();


-- moderation_metrics: what GET /metrics shows of the policy (indexed; the flagged list is bounded).
--   refusals: all time, by field, category and source; blocked_users: paused now;
--   flagged: the 20 users with the most refusals in the last 24 h, with their block if any.
create function public.moderation_metrics() returns jsonb
language sql stable security definer set search_path = '' as $$
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

revoke execute on function
  public.moderation_blocked_until(uuid),
  public._iso(timestamptz),
  public._refuse_moderation_blocked(),
  public.record_content_refusal(uuid, text, text, text, text, integer, integer, integer, uuid),
  public.lift_moderation_block(uuid),
  public.is_provider_safety_refusal(text),
  public._type_provider_safety_refusal(),
  public.moderation_metrics()
  from public, anon, authenticated, service_role;
grant execute on function
  public.moderation_blocked_until(uuid),
  public.record_content_refusal(uuid, text, text, text, text, integer, integer, integer, uuid),
  public.lift_moderation_block(uuid),
  public.moderation_metrics()
  to service_role;
