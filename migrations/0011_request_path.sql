-- Issue 15: the request path at its floor (docs/benchmarks.md).
--
-- 1. create_generation answers a new generation with what the create path uses (its id, status, cost,
--    the balance left) instead of the whole generation: the caller holds every input it sent. Building
--    the full answer (_generation_json, a security-definer call of its own with ~30 fields and a
--    refund lookup) was the measured gap between the function and the floor of its own writes
--    (0.78x -> 0.84x for one hot user, 0.86x -> 0.93x for 1,000 users). A replayed Idempotency-Key
--    still answers the whole first generation (the replay needs its error code). The charge itself,
--    its checks and its order are unchanged from 0001.
-- 2. get_generation_counted: GET /status in ONE round trip: the caller's request window (0010's
--    hit_request_rate) and get_generation (0002) in one transaction, where the request guard used to
--    make the hit a transaction of its own. A refused hit reads nothing; an unknown id still counts
--    (answered with generation null, which the service turns into its 404), so probing ids is limited
--    like any other call. Lock order: the user's `request` counter row, then the generation (only when
--    get_generation claims a poll), then the API key's row last (0010's _touch_api_key): a create made
--    with the same key takes profile then key, and a webhook or cancel generation then profile, so
--    touching the key before the generation could close a cycle of the three.

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
  return jsonb_build_object('generation_id', v_gen.id, 'status', v_gen.status, 'cost', v_gen.cost,
                            'replayed', false, 'credits_remaining', v_balance);
end
$$;

create function public.get_generation_counted(
  p_user_id uuid, p_gen_id uuid, p_rate_limit integer, p_api_key_id uuid default null
) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_rate jsonb := public._hit_rate(p_user_id, 'request', p_rate_limit);
  v_gen jsonb;
begin
  if (v_rate ->> 'allowed')::boolean
     and exists (select from public.generations where id = p_gen_id and user_id = p_user_id) then
    v_gen := public.get_generation(p_user_id, p_gen_id);
  end if;
  if p_api_key_id is not null then
    perform public._touch_api_key(p_api_key_id);
  end if;
  -- Refused: no 'generation' key (nothing was read); unknown: generation null.
  return case when (v_rate ->> 'allowed')::boolean
              then jsonb_build_object('rate', v_rate, 'generation', v_gen)
              else jsonb_build_object('rate', v_rate) end;
end
$$;

revoke execute on function public.get_generation_counted(uuid, uuid, integer, uuid)
  from public, anon, authenticated, service_role;
grant execute on function public.get_generation_counted(uuid, uuid, integer, uuid) to service_role;
