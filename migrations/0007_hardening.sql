-- Hardening (issue 11): the API roles lose the ledger's sequence, a sign-up without its bonus shows
-- up in ledger_discrepancies() (0008), and the two foreign keys without an index get one.

-- 1. Sequences. Supabase grants every new sequence in public to anon, authenticated and service_role:
-- with that, any signed-in user could `setval` credit_transactions_id_seq to its maximum, after which
-- every money operation failed and sign-ups silently lost their bonus. The service never needs a
-- sequence directly: rows are written by the money functions, which run as their owner.
revoke all on all sequences in schema public from public, anon, authenticated, service_role;
-- ...and the same for sequences made by later migrations (run by the same owner).
alter default privileges in schema public revoke all on sequences from public, anon, authenticated, service_role;

-- 2. A permanent user without the signup bonus is a discrepancy. handle_new_user never raises (a
-- failing trigger would block sign-ups), so a bonus it could not write was only a warning in the log;
-- now the books say so too: the missing_signup_bonus rule of ledger_discrepancies(), defined once
-- with the purchase rules in 0008_purchases.sql.

-- 3. Indexes for the foreign keys Supabase's advisor (splinter lint 0001) found without one: deleting
-- a generation (a user's cascade) looks up the retries that point at it and its webhook events.
-- generations.user_id needs none of its own: generations_history (user_id, created_at, id) leads
-- with it and serves the cascade's lookups (so does purchases_by_user for purchases.user_id, 0008).
create index generations_retry_of on public.generations (retry_of) where retry_of is not null;
create index webhook_events_generation on public.webhook_events (generation_id);
