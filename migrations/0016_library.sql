-- The library (issue 25): favorites, a filtered and searchable history, share links, the bulk
-- download's list, and retention that keeps favorites.
--
-- Redefined here (additively): _generation_json gains 'favorite' and 'share_id' (the live share link
-- of a kept video, else null). New functions: set_favorite, search_generations, create_share,
-- delete_share, shares_of, release_shares, get_share, add_share_views, download_list, claim_for_retention (and internal
-- helpers prompt_words, _video_kept, _search_generations_sql).

alter table public.generations add column favorite boolean not null default false;

-- Words of a prompt, for search: Postgres' own full-text search (core, no extension: the embedded
-- server and every Supabase project have it), 'simple' configuration (lower-cased words, no
-- language stemming or stop words: prompts come in any language). The owner's id is one more lexeme
-- of the same vector ('U' and the id: upper case, which the 'simple' configuration never makes from
-- text), so one GIN index answers "this user's prompts with these words": GIN intersects the user's
-- posting list with each word's instead of reading every user's matches.
create function public.prompt_words(p_user_id uuid, p_prompt text) returns tsvector
language sql immutable parallel safe security definer set search_path = '' as $$
  select pg_catalog.to_tsvector('simple'::regconfig, p_prompt)
         || pg_catalog.array_to_tsvector(array['U' || p_user_id::text])
$$;

-- One index per filter, each on the live (not deleted) history, in the history's order so that a page
-- is a range scan that stops at the limit (the words index gives the matches; they are then sorted).
create index generations_favorites on public.generations (user_id, created_at desc, id desc)
  where favorite and deleted_at is null;
create index generations_by_status on public.generations (user_id, status, created_at desc, id desc)
  where deleted_at is null;
create index generations_by_kind on public.generations (user_id, kind, created_at desc, id desc)
  where deleted_at is null;
create index generations_prompt_words on public.generations using gin (public.prompt_words(user_id, prompt))
  where deleted_at is null;
-- Retention while KEEP_FAVORITES is on: the stored files of generations that are not favorites, by
-- when they finished (as generations_files_stored, without the favorites an expiry must skip).
create index generations_files_stored_not_favorite on public.generations (completed_at)
  where completed_at is not null and not favorite
    and ((video_path is not null and video_deleted_at is null)
         or (image_path is not null and image_deleted_at is null));

-- A share link: its id is the link (≥ 128 random bits, made by the service), one per generation (the
-- unique key is also the foreign key's index). Revoking deletes the row: the id is dead at once and a
-- new share makes a new id. `views` is added to in batches (add_share_views), not per view. The public
-- page plays a copy of the video stored under the share's own id (shared/shares.py), because the
-- video's own path names its owner (videos/<user id>/<generation id>.mp4).
create table public.shares (
  id text primary key check (id ~ '^[A-Za-z0-9_-]{22,64}$'),
  generation_id uuid not null unique references public.generations (id) on delete cascade,
  views bigint not null default 0 check (views >= 0),
  created_at timestamptz not null default now()
);
alter table public.shares enable row level security;
-- No policy: the service reads and writes through its functions; users never touch the table.
revoke all on public.shares from public, anon, authenticated;
grant select, insert, update, delete on public.shares to service_role;

-- Internal: whether this generation's video can be shown or downloaded (succeeded, kept, not deleted).
create function public._video_kept(g public.generations) returns boolean
language sql stable security definer set search_path = '' as $$
  select g.status = 'succeeded' and g.deleted_at is null and g.video_path is not null
         and g.video_deleted_at is null and not g.video_lost
$$;

-- _generation_json: 0009's, plus 0015's 'webhook_url' and 'webhook_events', plus 'favorite' and 'share_id'
-- (the live link, else null).
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
    'created_at', g.created_at, 'updated_at', g.updated_at, 'completed_at', g.completed_at,
    -- 0016
    'favorite', g.favorite,
    'share_id', case when public._video_kept(g) then
                  (select s.id from public.shares s where s.generation_id = g.id) end,
    'webhook_url', g.webhook_url, 'webhook_events', g.webhook_events);  -- 0015's keys, kept
end
$$;

-- set_favorite: mark or unmark one of the user's generations (idempotent). PT404: not theirs, or deleted.
create function public.set_favorite(p_user_id uuid, p_gen_id uuid, p_favorite boolean) returns jsonb
language plpgsql security definer set search_path = '' as $$
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

-- search_generations: list_generations with filters (each null = not filtered): favorite, status,
-- kind, and q (words of the prompt, all of them, case-insensitive). Only the predicates asked for
-- are in the statement (dynamic SQL with bound values: no text of the caller's is ever spliced in),
-- so the planner sees the partial indexes' own predicates and picks the filter's index.
-- _search_generations_sql is that statement ($1 user, $2 limit, $3/$4 cursor, $5 status, $6 kind,
-- $7 q), apart so that a test can EXPLAIN exactly what runs.
create function public._search_generations_sql(
  p_paged boolean, p_favorite boolean, p_status boolean, p_kind boolean, p_q boolean
) returns text
language plpgsql immutable security definer set search_path = '' as $$
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
$$;

create function public.search_generations(
  p_user_id uuid, p_limit integer, p_before_created_at timestamptz default null, p_before_id uuid default null,
  p_favorite boolean default null, p_status text default null, p_kind text default null, p_q text default null
) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
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

-- create_share: the live link of one of the user's generations, made with p_share_id if it has none
-- ({"share_id", "created", "video_path"}: the caller copies the video for the link when created). PT404: not theirs or deleted; PT409: not succeeded, or its video is no
-- longer kept. The generation is locked first, so a racing delete or a second share waits.
create function public.create_share(p_user_id uuid, p_gen_id uuid, p_share_id text) returns jsonb
language plpgsql security definer set search_path = '' as $$
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

-- delete_share: revoke the link of one of the user's generations (none is fine): {"share_id" (the
-- revoked one, or null)}, for the caller to delete its copy. PT404: not theirs.
create function public.delete_share(p_user_id uuid, p_gen_id uuid) returns jsonb
language plpgsql security definer set search_path = '' as $$
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

-- shares_of / release_shares: the links of generations whose files go (retention, the user's delete),
-- read before their copies are removed from storage, and deleted after (files first, as retention does).
create function public.shares_of(p_gen_ids jsonb) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
begin
  return coalesce((select jsonb_agg(id order by id) from public.shares
                    where generation_id = any (public._uuids(p_gen_ids))), '[]'::jsonb);
end
$$;

create function public.release_shares(p_share_ids jsonb) returns integer
language plpgsql security definer set search_path = '' as $$
declare
  v_deleted integer;
begin
  delete from public.shares where id in (select jsonb_array_elements_text(p_share_ids));
  get diagnostics v_deleted = row_count;
  return v_deleted;
end
$$;

-- get_share: what a public link shows, or null when the link is unknown, revoked, or its generation is
-- deleted or its video no longer kept: checked on every call (two primary-key reads, no write).
-- Never the owner: no user id, email, or other generation.
create function public.get_share(p_share_id text) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
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

-- add_share_views: a batch of counted views, {"<share_id>": n, ...}, added in one statement (a
-- container counts views in memory and flushes them here). Links revoked meanwhile are skipped.
create function public.add_share_views(p_counts jsonb) returns integer
language plpgsql security definer set search_path = '' as $$
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

-- download_list: for each id asked (a JSON array), whether the user's zip may include its video:
-- [{"generation_id", "included", "reason" (null | not_found | not_succeeded | expired), "video_path",
--   "completed_at"}], in the order asked. Another user's id is not_found, as an unknown one is.
create function public.download_list(p_user_id uuid, p_gen_ids jsonb) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
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

-- claim_for_retention: claim_for_sweep's `retention` rule without the favorites (KEEP_FAVORITES):
-- the same lease and the same answer (_files_json), through the index without favorites, so the
-- favorites kept below the cutoff are never read again sweep after sweep.
create function public.claim_for_retention(p_age_seconds integer, p_batch integer, p_lease_seconds integer default 120)
returns jsonb
language plpgsql security definer set search_path = '' as $$
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

revoke execute on function
  public.prompt_words(uuid, text), public._video_kept(public.generations),
  public.set_favorite(uuid, uuid, boolean),
  public.search_generations(uuid, integer, timestamptz, uuid, boolean, text, text, text),
  public._search_generations_sql(boolean, boolean, boolean, boolean, boolean),
  public.create_share(uuid, uuid, text), public.delete_share(uuid, uuid), public.get_share(text),
  public.shares_of(jsonb), public.release_shares(jsonb),
  public.add_share_views(jsonb), public.download_list(uuid, jsonb),
  public.claim_for_retention(integer, integer, integer)
  from public, anon, authenticated;
grant execute on function
  public.prompt_words(uuid, text), public._video_kept(public.generations),
  public.set_favorite(uuid, uuid, boolean),
  public.search_generations(uuid, integer, timestamptz, uuid, boolean, text, text, text),
  public._search_generations_sql(boolean, boolean, boolean, boolean, boolean),
  public.create_share(uuid, uuid, text), public.delete_share(uuid, uuid), public.get_share(text),
  public.shares_of(jsonb), public.release_shares(jsonb),
  public.add_share_views(jsonb), public.download_list(uuid, jsonb),
  public.claim_for_retention(integer, integer, integer)
  to service_role;
