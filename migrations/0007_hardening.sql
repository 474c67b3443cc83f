-- Hardening (issue 11): the API roles lose the ledger's sequence, a sign-up without its bonus shows
-- up in ledger_discrepancies(), and the two foreign keys without an index get one.

-- 1. Sequences. Supabase grants every new sequence in public to anon, authenticated and service_role:
-- with that, any signed-in user could `setval` credit_transactions_id_seq to its maximum, after which
-- every money operation failed and sign-ups silently lost their bonus. The service never needs a
-- sequence directly: rows are written by the money functions, which run as their owner.
revoke all on all sequences in schema public from public, anon, authenticated, service_role;
-- ...and the same for sequences made by later migrations (run by the same owner).
alter default privileges in schema public revoke all on sequences from public, anon, authenticated, service_role;

-- 2. A permanent user without the signup bonus is a discrepancy. handle_new_user never raises (a
-- failing trigger would block sign-ups), so a bonus it could not write was only a warning in the log;
-- now the books say so too. Body of 0001's ledger_discrepancies, plus the missing_signup_bonus rule.
create or replace function public.ledger_discrepancies()
returns table (problem text, user_id uuid, generation_id uuid, detail text)
language sql stable security definer set search_path = '' as $$
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
  -- a permanent (non-anonymous) user whose sign-up bonus was never written
  select 'missing_signup_bonus', p.id, null::uuid, 'a permanent user without a signup_bonus row'
  from public.profiles p
  join auth.users u on u.id = p.id
  where not coalesce(u.is_anonymous, false)
    and not exists (select from public.credit_transactions t
                    where t.user_id = p.id and t.type = 'signup_bonus')
$$;

revoke execute on function public.ledger_discrepancies() from public, anon, authenticated, service_role;
grant execute on function public.ledger_discrepancies() to service_role;

-- 3. Indexes for the foreign keys Supabase's advisor (splinter lint 0001) found without one: deleting
-- a generation (a user's cascade) looks up the retries that point at it and its webhook events.
-- generations.user_id needs none of its own: generations_history (user_id, created_at, id) leads
-- with it and serves the cascade's lookups.
create index generations_retry_of on public.generations (retry_of) where retry_of is not null;
create index webhook_events_generation on public.webhook_events (generation_id);
