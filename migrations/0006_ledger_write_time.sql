-- Ledger rows carry the time they were written, not their transaction's start.
--
-- `now()` is the start of the transaction: a transaction that began first but waited on the
-- profile's row lock wrote its row later (a higher id) with an earlier created_at, so the
-- newest-first ledger (ordered by id) went backwards in time. Rows of one user are written under that
-- user's profile row lock (public._post_ledger_entry), so with the clock read at the insert, id order
-- and time order agree.
alter table public.credit_transactions alter column created_at set default clock_timestamp();

-- Supabase no longer grants new objects in public to its API roles (since 2026-10-30), and the local
-- stand-in now starts from that default too. Every grant the service relies on is written in the
-- migrations (0001-0005 grant their tables and functions explicitly; the tests now call the database
-- as service_role, so a missing one fails there). The one grant that came from the platform rather
-- than from a migration, the API roles' use of the schema, is written here too.
grant usage on schema public to anon, authenticated, service_role;
