-- ledger_discrepancies in plpgsql: 0008's rules and rows, its plan kept, and one rule more.
-- A `language sql` function that is security definer is never inlined and is planned again on every
-- call: for this union of eleven rules that was ~1.8 ms of every call on an empty database (issue 29,
-- where the simulator checks the books after every step; the sweep's metrics snapshot and
-- `wan-api stats` call it too). plpgsql's RETURN QUERY keeps a generic plan per session.
-- The rule added: `refunded_with_video`, a failed or canceled (so refunded) generation whose video we
-- copied (a copy is only ever made of a success). A cancel that accepted a succeeded generation (tried
-- on a scratch branch) refunded a video the user kept, and every other rule held: the charge and its
-- refund matched, and the status said canceled. (Not Replicate's output URL: a failed prediction may
-- carry one, and we never serve it.)

create or replace function public.ledger_discrepancies()
returns table (problem text, user_id uuid, generation_id uuid, detail text)
language plpgsql stable security definer set search_path = '' as $$
#variable_conflict use_column
begin
  return query
  -- balance differs from the sum of the ledger, or is negative
  select 'balance_mismatch', p.id, null::uuid,
         format('credits %s, ledger sum %s', p.credits, coalesce(s.total, 0))
  from public.profiles p
  left join (select t.user_id, sum(t.amount) as total from public.credit_transactions t
             group by t.user_id) s on s.user_id = p.id
  where p.credits <> coalesce(s.total, 0) or p.credits < 0
  union all
  -- a ledger row whose balance_after is not the running sum of the user's ledger
  select 'balance_after_mismatch', r.user_id, r.generation_id,
         format('row %s: balance_after %s, running sum %s', r.id, r.balance_after, r.running)
  from (select t.*, sum(t.amount) over (partition by t.user_id order by t.id) as running
        from public.credit_transactions t) r
  where r.balance_after <> r.running
  union all
  -- charged or refunded more than once
  select 'charged_or_refunded_twice', min(t.user_id::text)::uuid, t.generation_id,
         format('%s %s rows', count(*), t.type)
  from public.credit_transactions t
  where t.type in ('deduction', 'refund')
  group by t.generation_id, t.type having count(*) > 1
  union all
  -- a refund that does not match the charge: without one, of another amount, or of a success
  select 'bad_refund', t.user_id, t.generation_id,
         format('refund %s, charge %s, status %s', t.amount, -d.amount, g.status)
  from public.credit_transactions t
  join public.generations g on g.id = t.generation_id
  left join public.credit_transactions d on d.generation_id = t.generation_id and d.type = 'deduction'
  where t.type = 'refund' and (d.id is null or d.amount <> -t.amount or g.status = 'succeeded')
  union all
  -- a charged generation that failed or was canceled but was not refunded
  select 'missing_refund', g.user_id, g.id, format('status %s', g.status)
  from public.generations g
  where g.status in ('failed', 'canceled')
    and exists (select from public.credit_transactions d where d.generation_id = g.id and d.type = 'deduction')
    and not exists (select from public.credit_transactions r where r.generation_id = g.id and r.type = 'refund')
  union all
  -- the active-generation counter differs from the generations in flight
  select 'active_count_mismatch', p.id, null::uuid,
         format('active_generations %s, counted %s', p.active_generations, coalesce(a.n, 0))
  from public.profiles p
  left join (select g.user_id, count(*) as n from public.generations g
             where g.status in ('queued', 'processing') group by g.user_id) a on a.user_id = p.id
  where p.active_generations <> coalesce(a.n, 0)
  union all
  -- a session credited more than once
  select 'purchase_credited_twice', min(t.user_id::text)::uuid, null::uuid,
         format('session %s: %s purchase rows', t.purchase_session_id, count(*))
  from public.credit_transactions t
  where t.type = 'purchase' and t.purchase_session_id is not null
  group by t.purchase_session_id having count(*) > 1
  union all
  -- a purchase row that is not the purchase's credits, for its user
  select 'bad_purchase_row', t.user_id, null::uuid,
         format('session %s: row of %s for %s, sold %s to %s', p.session_id, t.amount, t.user_id, p.credits, p.user_id)
  from public.credit_transactions t
  join public.purchases p on p.session_id = t.purchase_session_id
  where t.type in ('purchase', 'reversal') and (t.user_id <> p.user_id or (t.type = 'purchase' and t.amount <> p.credits))
  union all
  -- credited (or reversed) without its ledger row, or a ledger row on a purchase not marked credited
  select 'purchase_status_mismatch', p.user_id, null::uuid,
         format('session %s: status %s, purchase row %s', p.session_id, p.status, c.id is not null)
  from public.purchases p
  left join public.credit_transactions c on c.purchase_session_id = p.session_id and c.type = 'purchase'
  where (p.status in ('credited', 'reversed')) <> (c.id is not null)
  union all
  -- taken back more than was credited, or given back more than was taken, or unrecovered out of range
  select 'bad_reversal', p.user_id, null::uuid,
         format('session %s: credits %s, taken back %s, unrecovered %s', p.session_id, p.credits,
                coalesce(-r.total, 0), p.unrecovered_credits)
  from public.purchases p
  left join (select t.purchase_session_id, sum(t.amount) as total from public.credit_transactions t
             where t.type = 'reversal' group by t.purchase_session_id) r on r.purchase_session_id = p.session_id
  where coalesce(-r.total, 0) < 0 or coalesce(-r.total, 0) + p.unrecovered_credits > p.credits
  union all
  -- a permanent (non-anonymous) user whose sign-up bonus was never written (issue 11: the trigger
  -- never raises, so this is where a lost bonus shows)
  select 'missing_signup_bonus', p.id, null::uuid, 'a permanent user without a signup_bonus row'
  from public.profiles p
  join auth.users u on u.id = p.id
  where not coalesce(u.is_anonymous, false)
    and not exists (select from public.credit_transactions t
                    where t.user_id = p.id and t.type = 'signup_bonus')
  union all
  -- a failed or canceled generation (refunded) whose video we copied: the credits back and the video kept
  select 'refunded_with_video', g.user_id, g.id, format('status %s with the copy %s', g.status, g.video_path)
  from public.generations g
  where g.status in ('failed', 'canceled') and g.video_path is not null;
end
$$;
