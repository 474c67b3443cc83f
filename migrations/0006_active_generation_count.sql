-- The per-user limit on generations in flight, checked in O(1): profiles.active_generations counts a
-- user's queued and processing generations, kept by a trigger on every insert, status change and
-- delete of a generation (whatever path makes it), so it cannot drift; ledger_discrepancies() checks
-- it against a real count. Before this, create_generation counted the rows, which grows with them.

alter table public.profiles
  add column active_generations integer not null default 0 constraint active_never_negative
    check (active_generations >= 0);

update public.profiles p
   set active_generations = (select count(*) from public.generations g
                              where g.user_id = p.id and g.status in ('queued', 'processing'));

create function public._count_active_generations() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  v_was integer := case when tg_op in ('UPDATE', 'DELETE') and old.status in ('queued', 'processing') then 1 else 0 end;
  v_is integer := case when tg_op in ('INSERT', 'UPDATE') and new.status in ('queued', 'processing') then 1 else 0 end;
begin
  if v_is <> v_was then
    update public.profiles set active_generations = active_generations + v_is - v_was
     where id = coalesce(new.user_id, old.user_id);
  end if;
  return null;
end
$$;

create trigger count_active_generations
  after insert or update of status or delete on public.generations
  for each row execute function public._count_active_generations();

create or replace function public.create_generation(
  p_user_id uuid,
  p_kind text,
  p_model text,
  p_resolution text,
  p_prompt text,
  p_cost integer,
  p_max_active integer,
  p_negative_prompt text default null,
  p_seed bigint default null,
  p_aspect_ratio text default null,
  p_image_path text default null,
  p_idempotency_key text default null,
  p_request_hash text default null,
  p_retry_of uuid default null
) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_profile public.profiles;
  v_gen public.generations;
  v_balance integer;
begin
  select * into v_profile from public.profiles where id = p_user_id for update;
  if not found then
    raise exception 'no profile for user %', p_user_id using errcode = 'PT404';
  end if;

  if p_idempotency_key is not null then
    select * into v_gen from public.generations
      where user_id = p_user_id and idempotency_key = p_idempotency_key;
    if found then
      if v_gen.request_hash is distinct from p_request_hash then
        raise exception 'this Idempotency-Key was already used with a different request'
          using errcode = 'PT409', hint = 'idempotency_key_reused';
      end if;
      return public._generation_json(v_gen) || jsonb_build_object(
        'replayed', true,
        'credits_remaining', (select balance_after from public.credit_transactions
                              where generation_id = v_gen.id and type = 'deduction'));
    end if;
  end if;

  if v_profile.active_generations >= p_max_active then
    raise exception 'you already have % generations in progress (the limit is %)',
      v_profile.active_generations, p_max_active
      using errcode = 'PT429',
            detail = json_build_object('active', v_profile.active_generations, 'limit', p_max_active)::text;
  end if;

  if v_profile.credits < p_cost then
    raise exception 'insufficient credits: % required, % available', p_cost, v_profile.credits
      using errcode = 'PT402',
            detail = json_build_object('required', p_cost, 'balance', v_profile.credits)::text;
  end if;

  insert into public.generations (user_id, kind, model, resolution, prompt, negative_prompt, seed,
                                  aspect_ratio, image_path, cost, idempotency_key, request_hash, retry_of)
    values (p_user_id, p_kind, p_model, p_resolution, p_prompt, p_negative_prompt, p_seed,
            p_aspect_ratio, p_image_path, p_cost, p_idempotency_key, p_request_hash, p_retry_of)
    returning * into v_gen;
  v_balance := public._post_ledger_entry(p_user_id, -p_cost, 'deduction', v_gen.id,
                                         'charge for generation ' || v_gen.id);
  return public._generation_json(v_gen)
    || jsonb_build_object('replayed', false, 'credits_remaining', v_balance);
end
$$;

-- The money check also covers the counter.
create or replace function public.ledger_discrepancies()
returns table (problem text, user_id uuid, generation_id uuid, detail text)
language sql stable security definer set search_path = '' as $$
  select 'balance_mismatch', p.id, null::uuid,
         format('credits %s, ledger sum %s', p.credits, coalesce(s.total, 0))
  from public.profiles p
  left join (select t.user_id, sum(t.amount) as total from public.credit_transactions t
             group by t.user_id) s on s.user_id = p.id
  where p.credits <> coalesce(s.total, 0) or p.credits < 0
  union all
  select 'balance_after_mismatch', r.user_id, r.generation_id,
         format('row %s: balance_after %s, running sum %s', r.id, r.balance_after, r.running)
  from (select t.*, sum(t.amount) over (partition by t.user_id order by t.id) as running
        from public.credit_transactions t) r
  where r.balance_after <> r.running
  union all
  select 'charged_or_refunded_twice', min(t.user_id::text)::uuid, t.generation_id,
         format('%s %s rows', count(*), t.type)
  from public.credit_transactions t
  where t.type in ('deduction', 'refund')
  group by t.generation_id, t.type having count(*) > 1
  union all
  select 'bad_refund', t.user_id, t.generation_id,
         format('refund %s, charge %s, status %s', t.amount, -d.amount, g.status)
  from public.credit_transactions t
  join public.generations g on g.id = t.generation_id
  left join public.credit_transactions d on d.generation_id = t.generation_id and d.type = 'deduction'
  where t.type = 'refund' and (d.id is null or d.amount <> -t.amount or g.status = 'succeeded')
  union all
  select 'missing_refund', g.user_id, g.id, format('status %s', g.status)
  from public.generations g
  where g.status in ('failed', 'canceled')
    and exists (select from public.credit_transactions d where d.generation_id = g.id and d.type = 'deduction')
    and not exists (select from public.credit_transactions r where r.generation_id = g.id and r.type = 'refund')
  union all
  select 'active_count_mismatch', p.id, null::uuid,
         format('active_generations %s, counted %s', p.active_generations, coalesce(a.n, 0))
  from public.profiles p
  left join (select g.user_id, count(*) as n from public.generations g
             where g.status in ('queued', 'processing') group by g.user_id) a on a.user_id = p.id
  where p.active_generations <> coalesce(a.n, 0)
$$;

revoke execute on function public._count_active_generations() from public, anon, authenticated, service_role;

-- create_generation no longer counts rows, so this index only cost writes.
drop index public.generations_active;
