-- Speed for a busy user: take the balance lock as late as possible. create_generation used to lock
-- the profile first and hold it while it inserted the generation; now it inserts the generation
-- first and then charges with one guarded UPDATE (balance and limit checked in its WHERE), so the
-- lock covers only that UPDATE, the ledger row and the commit. The rules are unchanged: the UPDATE
-- is atomic, the ledger row is written under the same lock (balance_after stays in order), and a
-- refused charge raises, which rolls the inserted generation back with it.
-- Idempotency without the early lock: the key's unique index decides; a second request with the
-- same key waits for the first to commit (ON CONFLICT) and then replays it.

-- create_generation counts its own generation in the same UPDATE that charges it, so the trigger
-- skips that one insert (a transaction-local flag); every other insert, update or delete is counted
-- by the trigger as before.
create or replace function public._count_active_generations() returns trigger
language plpgsql security definer set search_path = '' as $$
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
  return public._generation_json(v_gen)
    || jsonb_build_object('replayed', false, 'credits_remaining', v_balance);
end
$$;
