-- Makes a plain Postgres look enough like Supabase for the production migrations to run unchanged.
-- Local stack and tests only: never apply this to a Supabase project (it already has all of it).
-- Safe to run again, and on a server whose roles already exist (roles are server-wide).

do $$
begin
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
end
$$;


create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

create table if not exists auth.users (
  id uuid primary key default gen_random_uuid(),
  email text unique,
  raw_user_meta_data jsonb not null default '{}'::jsonb,
  is_anonymous boolean not null default false,
  created_at timestamptz not null default now()
);
-- Supabase's column for claims only the service key sets (app_metadata in the access token: the
-- admin role of the operator's console). Added for data directories made before it existed.
alter table auth.users add column if not exists raw_app_meta_data jsonb not null default '{}'::jsonb;

-- Supabase's definitions: PostgREST puts the verified JWT's claims in request.jwt.claims.
create or replace function auth.uid() returns uuid
language sql stable as $$
  select nullif(
    coalesce(
      current_setting('request.jwt.claim.sub', true),
      (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
    ), ''
  )::uuid
$$;

create or replace function auth.role() returns text
language sql stable as $$
  select coalesce(
    current_setting('request.jwt.claim.role', true),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

create or replace function auth.jwt() returns jsonb
language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

-- Supabase's default since 2026-10-30: new tables, functions and sequences in public are NOT granted
-- to the API roles automatically, so every grant a migration needs must be written in it. The local
-- database starts from the same default (revoking what an older stand-in granted), so a forgotten
-- grant fails in the tests as it would in production.
grant usage on schema public to anon, authenticated, service_role;
alter default privileges in schema public revoke all on tables from anon, authenticated, service_role;
alter default privileges in schema public revoke all on functions from anon, authenticated, service_role;
alter default privileges in schema public revoke all on sequences from anon, authenticated, service_role;

-- Supabase Storage keeps its buckets in storage.buckets; a minimal stand-in so that the migration
-- creating our bucket runs here too (the local stack stores files in a directory instead).
create schema if not exists storage;
create table if not exists storage.buckets (
  id text primary key,
  name text not null unique,
  public boolean default false,
  file_size_limit bigint,
  allowed_mime_types text[],
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);
